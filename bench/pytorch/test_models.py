"""Self-test of models.py (plain script, no pytest): exits non-zero on the first failure.

    $HOME/.cache/lineage/torch-venv/bin/python bench/pytorch/test_models.py

- Every chunked form equals lineage's step-by-step form, values and gradients, in float64, over
  every operand shape lineage's own test covers (arch/src/model/recurrence/tests.rs: no decay,
  a number, per head, per channel, near-zero gates, one constant decay; with and without the
  rank-one erase), at lengths below, at and across chunk boundaries (5, 16, 37).
- Every baseline model gives the same logits and parameter gradients in every form.
- Parameter counts equal lineage's, at the exploration size and at d 128 / 4 blocks.
- Bad input is refused.
"""

from __future__ import annotations

import sys

import torch

import models
from models import LanguageModel, masked_cross_entropy, recur

torch.set_num_threads(min(2, torch.get_num_threads()))

B, H, DK, DV = 2, 2, 4, 3
LENGTHS = (5, 16, 37)
KINDS = ("none", "number", "head", "channel", "strong", "constant")
FAILURES: list[str] = []



def check(ok: bool, what: str) -> None:
    print(("ok    " if ok else "FAIL  ") + what)
    if not ok:
        FAILURES.append(what)


def relative_error(a: torch.Tensor, b: torch.Tensor) -> float:
    if not torch.isfinite(a).all():
        return float("inf")
    return ((a - b).norm() / b.norm().clamp_min(1e-30)).item()


def inputs(seed: int, steps: int, kind: str, erase: bool) -> dict:
    """As lineage's recurrence test: q ~ N(0,1), k ~ N(0,1/4), decays as sigmoids of normals,
    erase = beta * along with beta in (0, 2)."""
    g = torch.Generator().manual_seed(seed)

    def randn(*shape):
        return torch.randn(*shape, generator=g, dtype=torch.float64)

    out = {"q": randn(B, steps, H * DK), "k": randn(B, steps, H * DK) / 2, "v": randn(B, steps, H * DV)}
    out["decay"] = {
        "none": None,
        "number": 0.93,
        "head": torch.sigmoid(randn(B, steps, H) + 2.0),
        "channel": torch.sigmoid(randn(B, steps, H * DK) + 1.5),
        # Gates down to ~1e-9: the cumulative product underflows inside a chunk.
        "strong": torch.sigmoid(6.0 * randn(B, steps, H * DK)),
        "constant": torch.sigmoid(randn(1, 1, H) + 2.0),
    }[kind]
    if erase:
        along = randn(B, steps, H * DK) / 2
        out["erase"] = 2 * torch.sigmoid(randn(B, steps, H * DK)) * along
        out["along"] = along
    return out


def run(form: str, data: dict, cotangent: torch.Tensor):
    leaves = {n: t.clone().requires_grad_(True) for n, t in data.items() if isinstance(t, torch.Tensor)}
    args = {n: leaves.get(n, data[n]) for n in data}
    out = recur(args["q"], args["k"], args["v"], H, decay=args["decay"], erase=args.get("erase"),
                along=args.get("along"), form=form)  # fmt: skip
    (out * cotangent).sum().backward()
    return out.detach(), {n: t.grad for n, t in leaves.items()}


def test_recurrence_forms() -> None:
    seed = 0
    for erase in (False, True):
        for kind in KINDS:
            forms = ["chunked"] + ([] if erase else ["gla-chunk"])
            for steps in LENGTHS:
                seed += 1
                data = inputs(seed, steps, kind, erase)
                cotangent = torch.randn(B, steps, H * DV, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
                ref, ref_grads = run("stepwise", data, cotangent)
                for form in forms:
                    out, grads = run(form, data, cotangent)
                    worst = max([relative_error(out, ref)] + [relative_error(grads[n], ref_grads[n]) for n in ref_grads])
                    # Per channel both multiply exp(G) by exp(-G): with gates down to 1e-9 that
                    # loses digits (and in float32 overflows, see models.py), which is why lineage
                    # steps such gates (FACTOR_SPAN).
                    tolerance = 1e-6 if kind == "strong" else 1e-9
                    check(worst < tolerance, f"recur {form:9} = stepwise: decay {kind:8} erase {erase!s:5} T {steps:2} (rel. error {worst:.1e})")


def test_dispatch() -> None:
    resolved = {name: (m.resolved_form("lineage"), m.resolved_form("fast")) for name, m in models.MIXERS.items()}
    check(resolved["gla"] == ("chunked", "gla-chunk"), f"gla: lineage chunks, fast uses gla-chunk {resolved['gla']}")
    for name in ("linear_attention", "deltanet", "retnet", "mamba2", "gated_deltanet"):
        check(resolved[name] == ("chunked", "chunked"), f"{name}: lineage and fast both chunk {resolved[name]}")


def test_models_agree_across_forms() -> None:
    tokens = torch.randint(0, 256, (2, 37), generator=torch.Generator().manual_seed(5))
    targets = torch.randint(0, 256, (2, 37), generator=torch.Generator().manual_seed(6))
    mask = (torch.rand(2, 37, generator=torch.Generator().manual_seed(7)) < 0.5).double()
    for name, mixer in models.MIXERS.items():
        forms = ["chunked", "lineage", "fast"] + (["gla-chunk"] if not mixer.ERASE else [])
        reference = LanguageModel(name, d=32, heads=4, layers=2, form="stepwise", seed=1).double()

        def grads_of(model):
            model.zero_grad()
            logits = model(tokens)
            masked_cross_entropy(logits, targets, mask).backward()
            return logits.detach(), {n: p.grad.clone() for n, p in model.named_parameters()}

        ref_logits, ref_grads = grads_of(reference)
        for form in forms:
            model = LanguageModel(name, d=32, heads=4, layers=2, form=form, seed=1).double()
            model.load_state_dict(reference.state_dict())
            logits, grads = grads_of(model)
            worst = max([relative_error(logits, ref_logits)] + [relative_error(grads[n], ref_grads[n]) for n in ref_grads])
            check(worst < 1e-9, f"model {name:16} form {form:9} ({model.form}) = stepwise: logits and grads (rel. error {worst:.1e})")


def test_parameter_counts() -> None:
    for name, expected in models.LINEAGE_PARAMS_EXPLORATION.items():
        count = LanguageModel(name, d=64, heads=4, layers=2, vocab=256).num_params()
        check(count == expected, f"{name}: {count:,} parameters at d 64, 2 blocks (lineage: {expected:,})")
    for name, expected in models.LINEAGE_PARAMS_D128_L4.items():
        count = LanguageModel(name, d=128, heads=4, layers=4, vocab=256).num_params()
        check(count == expected, f"{name}: {count:,} parameters at d 128, 4 blocks (lineage: {expected:,})")


def test_bad_input() -> None:
    for kwargs, what in [
        (dict(baseline="nope"), "an unknown baseline"),
        (dict(baseline="gla", form="fastest"), "an unknown form"),
        (dict(baseline="gla", d=30, heads=4), "a width that is not a multiple of the heads"),
    ]:
        try:
            LanguageModel(**kwargs)
            check(False, f"{what} is refused")
        except ValueError:
            check(True, f"{what} is refused")
    try:
        LanguageModel("deltanet", form="gla-chunk")(torch.zeros(1, 4, dtype=torch.long))
        check(False, "gla-chunk with an erase is refused")
    except ValueError:
        check(True, "gla-chunk with an erase is refused")


def main() -> int:
    test_recurrence_forms()
    test_dispatch()
    test_models_agree_across_forms()
    test_parameter_counts()
    test_bad_input()
    if FAILURES:
        print(f"\n{len(FAILURES)} FAILED", file=sys.stderr)
        return 1
    print("\nall passed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
