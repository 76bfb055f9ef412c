"""End-to-end check that models.py computes what lineage computes, number for number.

Rebuilds, in Python, lineage's exact initial weights (SplitMix64 streams named after the block
and the program node, arch/src/rng.rs and arch/src/model/weights.rs) and its training batches
(MQAR and language modelling in turn, from the seed's "train-data" stream: arch/src/tasks/),
trains a few steps with lineage's optimiser (burn's AdamW, per-tensor norm clipping, warm-up),
and compares the training losses with the ones `lineage arch train NAME --steps N --json`
reports (its "loss_curve"). Step 0 checks the forward pass and the loss; later steps also check
the backward pass, the clipping and the optimiser. (At 8 steps, clipping the global norm
instead of each tensor's moves deltanet's last loss by 2e-2, against 3e-6 for per-tensor.)

    $HOME/.cache/lineage/torch-venv/bin/python bench/pytorch/check_lineage.py [--lineage PATH]
        [--baseline NAME ...] [--form FORM] [--steps N]

PATH defaults to $LINEAGE_BIN, else the newer of target/release/lineage and
$HOME/.cache/lineage/target/release/lineage. Exits non-zero when a loss differs by more than
--tolerance (default 2e-5 nats: float32 rounding, burn's and torch's kernels sum differently).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import pathlib
import subprocess
import sys

import numpy as np
import torch

import models
from train import clip_per_tensor, learning_rate_at, make_optimizer

MASK64 = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
# Learning-rate warm-up of both sides, in steps.
WARMUP_STEPS = 30


class Rng:
    """arch/src/rng.rs: SplitMix64 with named streams, Box-Muller normals."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    @classmethod
    def stream(cls, seed: int, name: str) -> "Rng":
        h = 0xCBF29CE484222325
        for b in name.encode():
            h = ((h ^ b) * 0x0100000001B3) & MASK64
        rng = cls(seed ^ h)
        rng.next_u64()
        return rng

    def next_u64(self) -> int:
        self.state = (self.state + GAMMA) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def uniform(self) -> float:
        return (self.next_u64() >> 11) / float(1 << 53)

    def below(self, n: int) -> int:
        return (self.next_u64() * n) >> 64

    def weighted(self, weights: list[float]) -> int:
        total = 0.0
        for w in weights:  # in order, as Rust's `sum` (Python's `sum` may compensate)
            total += w
        x = self.uniform() * total
        for i, w in enumerate(weights):
            if x < w:
                return i
            x -= w
        return max(i for i, w in enumerate(weights) if w > 0)

    def shuffle(self, items: list) -> None:
        for i in range(len(items) - 1, 0, -1):
            j = self.below(i + 1)
            items[i], items[j] = items[j], items[i]

    def normals(self, n: int) -> np.ndarray:
        """``n`` draws of ``normal()`` at once (2n ``next_u64``), vectorised with numpy."""
        steps = np.arange(1, 2 * n + 1, dtype=np.uint64)
        with np.errstate(over="ignore"):
            z = np.uint64(self.state) + steps * np.uint64(GAMMA)
            z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
            z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
        self.state = (self.state + 2 * n * GAMMA) & MASK64
        u = (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)
        u1, u2 = np.maximum(u[0::2], sys.float_info.min), u[1::2]
        return np.sqrt(-2.0 * np.log(u1)) * np.cos(2 * math.pi * u2)


# ---- weights (arch/src/model/weights.rs) ----------------------------------------------------


def matrix(seed: int, stream: str, rows: int, cols: int, std: float) -> torch.Tensor:
    """``Initialiser::matrix``: ``[rows, cols]`` row-major, N(0, std), f64 rounded to f32."""
    values = Rng.stream(seed, stream).normals(rows * cols) * std
    return torch.from_numpy(values.astype(np.float32)).view(rows, cols)


def load_lineage_weights(model: models.LanguageModel, seed: int) -> None:
    d, layers, vocab = model.d, model.layers, model.vocab
    with torch.no_grad():
        model.embedding.weight.copy_(matrix(seed, "embedding", vocab, d, 1.0))
        model.head.weight.copy_(matrix(seed, "head", d, vocab, d**-0.5).T)
        for layer, block in enumerate(model.blocks):
            hidden = block.mlp.hidden
            block.mlp.w_in.weight.copy_(matrix(seed, f"block{layer}/mlp_in", d, 2 * hidden, d**-0.5).T)
            std_out = hidden**-0.5 / math.sqrt(2.0 * layers)
            block.mlp.w_out.weight.copy_(matrix(seed, f"block{layer}/mlp_out", hidden, d, std_out).T)
            mixer = block.mixer
            for name, node in mixer.LINEAGE_NODES.items():
                module = getattr(mixer, name)
                stream = f"block{layer}/node{node}"
                if isinstance(module, torch.nn.Linear):
                    fan_in, out = module.in_features, module.out_features
                    module.weight.copy_(matrix(seed, stream, fan_in, out, fan_in**-0.5).T)
                elif isinstance(module, models.CausalConv):
                    width, k = module.conv.weight.shape[0], module.kernel
                    values = Rng.stream(seed, stream).normals(width * k) * (k**-0.5) * 0.5
                    values = values.reshape(width, k)
                    values[:, 0] += 1.0  # tap 0 (i % k == 0): the current token
                    module.set_taps(torch.from_numpy(values.astype(np.float32)))
                # RMSNorm scales (ones) and the `param(... init = range/one)` vectors are
                # deterministic: models.py already sets them as lineage does.


# ---- data (arch/src/tasks/mqar.rs, lm.rs) --------------------------------------------------


def mqar_batch(rng: Rng, batch: int, vocab=64, length=64, pairs=8, alpha=0.01):
    tokens = [[0] * length for _ in range(batch)]
    targets = [[0] * length for _ in range(batch)]
    mask = [[0.0] * length for _ in range(batch)]
    for row in range(batch):
        keys, values = list(range(1, vocab // 2)), list(range(vocab // 2, vocab))
        rng.shuffle(keys)
        rng.shuffle(values)
        region = []
        for i in range(pairs):
            region += [keys[i], values[i]]
        for t, token in enumerate(region):
            tokens[row][t] = token
        start = len(region)
        slots = (length - start) // 2
        weights = [float(i) ** (alpha - 1.0) for i in range(1, slots + 1)]
        order = list(range(pairs))
        rng.shuffle(order)
        for pair in order:
            slot = rng.weighted(weights)
            weights[slot] = 0.0
            t = start + 2 * slot
            tokens[row][t], targets[row][t], mask[row][t] = keys[pair], values[pair], 1.0
            tokens[row][t + 1] = values[pair]
    return torch.tensor(tokens), torch.tensor(targets), torch.tensor(mask)


NOUNS = [("cat", "cats"), ("dog", "dogs"), ("child", "children"), ("teacher", "teachers"),
         ("river", "rivers"), ("machine", "machines"), ("garden", "gardens"),
         ("student", "students"), ("bird", "birds"), ("city", "cities")]  # fmt: skip
VERBS = [("sees", "see"), ("likes", "like"), ("follows", "follow"), ("finds", "find"),
         ("helps", "help"), ("watches", "watch"), ("knows", "know"), ("remembers", "remember")]  # fmt: skip
ADJECTIVES = ["old", "small", "quiet", "bright", "green", "clever", "tired", "distant"]
LM_SEQ_LEN, LM_BYTES = 96, 256 * 1024


def lm_corpus(seed: int = 0) -> bytes:
    """``LanguageModel::generated(seed)``: the grammar's text."""
    rng = Rng.stream(seed, "lm-corpus")
    out: list[str] = []
    size = 0

    def noun_phrase() -> bool:
        plural = rng.below(2) == 1
        choice = rng.below(2)
        words = ["the " if choice == 0 else ("some " if plural else "a ")]
        for _ in range(rng.below(3)):
            words.append(ADJECTIVES[rng.below(len(ADJECTIVES))] + " ")
        singular, plural_form = NOUNS[rng.below(len(NOUNS))]
        words.append(plural_form if plural else singular)
        out.extend(words)
        return plural

    while size < LM_BYTES:
        mark = len(out)
        plural = noun_phrase()
        if rng.below(2) == 0:
            out.append(" that ")
            inner = noun_phrase()
            s, p = VERBS[rng.below(len(VERBS))]
            out.append(" " + (p if inner else s))
        s, p = VERBS[rng.below(len(VERBS))]
        out.append(" " + (p if plural else s) + " ")
        noun_phrase()
        out.append(". ")
        size += sum(len(w) for w in out[mark:])
    return "".join(out).encode()


def lm_batch(rng: Rng, text: bytes, batch: int):
    split_at = int(len(text) * (1.0 - 0.1))
    lo, hi = 0, split_at
    tokens, targets = [], []
    for _ in range(batch):
        start = lo + rng.below(hi - lo - LM_SEQ_LEN - 1)
        tokens.append(list(text[start : start + LM_SEQ_LEN]))
        targets.append(list(text[start + 1 : start + LM_SEQ_LEN + 1]))
    return torch.tensor(tokens), torch.tensor(targets), torch.ones(batch, LM_SEQ_LEN)


# ---- the comparison ---------------------------------------------------------------------------


def find_lineage(given: str | None) -> str | None:
    """``given``, else $LINEAGE_BIN, else the newer of the two usual release builds."""
    for candidate in [given, os.environ.get("LINEAGE_BIN")]:
        if candidate:
            return candidate if pathlib.Path(candidate).is_file() else None
    root = pathlib.Path(__file__).resolve().parents[2]
    builds = [root / "target/release/lineage", pathlib.Path.home() / ".cache/lineage/target/release/lineage"]
    builds = [b for b in builds if b.is_file()]
    return str(max(builds, key=lambda b: b.stat().st_mtime)) if builds else None


def lineage_losses(binary: str, baseline: str, seed: int, steps: int) -> list[float]:
    out = subprocess.run([binary, "arch", "train", baseline, "--steps", str(steps), "--seed", str(seed),
                          "--warmup-steps", str(WARMUP_STEPS), "--json"],
                         capture_output=True, text=True, check=True)  # fmt: skip
    return [loss for _, loss in json.loads(out.stdout)["loss_curve"]]


def torch_losses(baseline: str, form: str, seed: int, batches) -> list[float]:
    model = models.LanguageModel(baseline, d=64, heads=4, layers=2, vocab=256, form=form)
    load_lineage_weights(model, seed)
    # Both warm up over 30 steps (`lineage arch train --warmup-steps 30`): the few steps compared
    # stay at small learning rates, where two correct implementations still agree to 1e-5.
    optimizer = make_optimizer(model, 3e-3)
    losses = []
    for step, (tokens, targets, mask) in enumerate(batches):
        loss = models.masked_cross_entropy(model(tokens), targets, mask)
        losses.append(loss.item())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        clip_per_tensor(model.parameters(), 1.0)
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(step, steps=len(batches), warmup=WARMUP_STEPS, peak=3e-3)
        optimizer.step()
    return losses


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lineage", help="the lineage binary")
    parser.add_argument("--baseline", action="append", choices=list(models.MIXERS))
    parser.add_argument("--form", default="fast", choices=models.FORMS)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--steps", type=int, default=8, help="training steps compared (2-20; default 8)")
    parser.add_argument("--tolerance", type=float, default=2e-5)
    args = parser.parse_args()
    torch.set_num_threads(2)
    binary = find_lineage(args.lineage)
    if binary is None:
        print("error: no lineage binary found (build it, or pass --lineage PATH)", file=sys.stderr)
        return 2
    print(f"lineage binary: {binary}")
    if not 2 <= args.steps <= 20:
        print("error: --steps must be 2 to 20 (lineage's loss curve keeps 20 points)", file=sys.stderr)
        return 2
    data, text = Rng.stream(args.seed, "train-data"), lm_corpus(0)
    # Round-robin over lineage's default tasks [mqar, lm], one batch of 16 per step.
    batches = [mqar_batch(data, 16) if step % 2 == 0 else lm_batch(data, text, 16) for step in range(args.steps)]
    failed = 0
    for baseline in args.baseline or list(models.MIXERS):
        expected = lineage_losses(binary, baseline, args.seed, args.steps)
        got = torch_losses(baseline, args.form, args.seed, batches)
        worst = max(abs(a - b) for a, b in zip(got, expected))
        ok = worst <= args.tolerance
        failed += not ok
        form = models.MIXERS[baseline].resolved_form(args.form)
        print(f"{'ok  ' if ok else 'FAIL'} {baseline:16} form {form:9} losses of steps 0..{args.steps - 1}: "
              f"torch {got[0]:.6f} .. {got[-1]:.6f}, lineage {expected[0]:.6f} .. {expected[-1]:.6f} "
              f"(max diff {worst:.1e})")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
