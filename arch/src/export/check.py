"""Checks this export: the PyTorch module in model.py, with the weights in weights.safetensors,
must compute the logits lineage computed for the input in check_input.safetensors.

    python check.py

First it checks that weights.safetensors is the file lineage wrote: its SHA-256 against the
digest recorded in check_input.safetensors (any changed byte fails, weights the logits below
would not reach too). Then it runs the module in each form of ``recur``: ``stepwise`` (the naive recurrent form),
``lineage`` (the chunked form where lineage uses one) and, where every decay is positive (and
per channel within ``FACTOR_SPAN``), ``chunked`` and ``fast`` too. It prints, per form, the
largest relative difference ``max |pytorch - lineage| / max |lineage|`` over all logits, and
the same between the naive form and each other one. It exits 1 when the digest differs or a
difference is above TOLERANCE or not a number, 0 otherwise. Needs only torch.
"""

import hashlib
import json
import math
import pathlib
import struct
import sys

import torch

HERE = pathlib.Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import model  # noqa: E402

TOLERANCE = 1e-4
"""Largest accepted relative difference: float32 sums in another order differ by about 1e-6
relative per operation."""


def positive_decays(net, tokens) -> bool:
    """Whether every ``recur`` of the model gets a decay that is absent or positive everywhere,
    and per channel within ``FACTOR_SPAN``: then lineage's chunked form applies too (it works
    with log decays, and factorises per-channel ones)."""
    original, positive = model.recur, [True]

    def watched(q, k, v, heads, decay=None, **kwargs):
        if isinstance(decay, torch.Tensor):
            positive[0] &= bool(decay.min() > 0)
            if decay.shape[-1] != heads:
                positive[0] &= model._factorisable(decay, q.shape[1])
        elif decay is not None:
            positive[0] &= decay > 0
        return original(q, k, v, heads, decay=decay, **kwargs)

    model.recur = watched
    try:
        with torch.no_grad():
            net(tokens)
    finally:
        model.recur = original
    return positive[0]


def metadata(path) -> dict:
    """The ``__metadata__`` of a safetensors file."""
    raw = open(path, "rb").read()
    (length,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8 : 8 + length]).get("__metadata__", {})


def within(difference: float) -> bool:
    """Whether a relative difference is accepted: a number, at most TOLERANCE (NaN is not)."""
    return math.isfinite(difference) and difference <= TOLERANCE


def main() -> int:
    expected_digest = metadata(HERE / "check_input.safetensors").get("weights_sha256")
    digest = hashlib.sha256((HERE / "weights.safetensors").read_bytes()).hexdigest()
    if digest != expected_digest:
        print(f"weights.safetensors has SHA-256 {digest}, but lineage wrote {expected_digest}: FAILED")
        return 1
    print(f"weights.safetensors: SHA-256 {digest}, as written")
    recorded = model.load_safetensors(HERE / "check_input.safetensors")
    tokens, expected = recorded["tokens"], recorded["logits"].double()
    scale = expected.abs().max().item()
    passed = True
    outputs = {}
    forms = ["stepwise", "lineage"]
    if positive_decays(model.load(HERE / "weights.safetensors", form="stepwise"), tokens):
        forms += ["chunked", "fast"]
    for form in forms:
        net = model.load(HERE / "weights.safetensors", form=form).eval()
        with torch.no_grad():
            logits = net(tokens).double()
        if logits.shape != expected.shape:
            print(f"{form}: logits of shape {tuple(logits.shape)}, lineage's are {tuple(expected.shape)}")
            return 1
        difference = (logits - expected).abs().max().item() / scale
        outputs[form] = logits
        passed &= within(difference)
        verdict = "ok" if within(difference) else "TOO FAR"
        print(f"{form:>9}: max relative difference from lineage {difference:.2e} ({verdict})")
    for form in forms[1:]:
        between = (outputs["stepwise"] - outputs[form]).abs().max().item() / scale
        passed &= within(between)
        print(f"stepwise against {form}: {between:.2e}")
    print(f"tolerance {TOLERANCE:.0e}: {'passed' if passed else 'FAILED'}")
    return 0 if passed else 1


if __name__ == "__main__":
    sys.exit(main())
