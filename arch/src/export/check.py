"""Checks this export: the PyTorch module in model.py, with the weights in weights.safetensors,
must compute the logits lineage computed for the input in check_input.safetensors.

    python check.py

It runs the module in each form of ``recur``: ``stepwise`` (the naive recurrent form),
``lineage`` (the chunked form where lineage uses one) and, where every decay is positive (and
per channel within ``FACTOR_SPAN``), ``chunked`` and ``fast`` too. It prints, per form, the
largest relative difference ``max |pytorch - lineage| / max |lineage|`` over all logits, and
the same between the naive form and each other one. It exits 1 when one is above TOLERANCE,
0 otherwise. Needs only torch.
"""

import pathlib
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


def main() -> int:
    recorded = model.load_safetensors(HERE / "check_input.safetensors")
    tokens, expected = recorded["tokens"], recorded["logits"].double()
    scale = expected.abs().max().item()
    worst = 0.0
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
        worst = max(worst, difference)
        verdict = "ok" if difference <= TOLERANCE else "TOO FAR"
        print(f"{form:>9}: max relative difference from lineage {difference:.2e} ({verdict})")
    for form in forms[1:]:
        between = (outputs["stepwise"] - outputs[form]).abs().max().item() / scale
        worst = max(worst, between)
        print(f"stepwise against {form}: {between:.2e}")
    print(f"tolerance {TOLERANCE:.0e}: {'passed' if worst <= TOLERANCE else 'FAILED'}")
    return 0 if worst <= TOLERANCE else 1


if __name__ == "__main__":
    sys.exit(main())
