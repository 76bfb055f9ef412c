"""Training speed of a lineage baseline in plain PyTorch (eager), to compare with
`lineage bench train` (src/commands/bench_train.rs).

    $HOME/.cache/lineage/torch-venv/bin/python bench/pytorch/train.py --baseline deltanet --json

What a step is, as in lineage's `train` (arch/src/train.rs): forward, masked cross-entropy,
reading the loss back (lineage reads it each step to stop on divergence), backward, gradient
clipping, AdamW at the step's learning rate. Steps alternate the tasks: by default an MQAR step
of 64 tokens (8 supervised positions per sequence: the value after each queried key,
arch/src/tasks/mqar.rs) then a language-modelling step of 96 tokens (every position supervised,
tasks/lm.rs). Tokens are random with a fixed seed (the token values change no cost); the
supervised masks have the tasks' shapes.

The optimiser is lineage's: burn's AdamW (betas 0.9 / 0.999, eps 1e-5 added to sqrt(v_hat),
decoupled weight decay 0.01 on every parameter, bias correction) = torch.optim.AdamW with those
settings. Gradient clipping: burn's `GradientClippingConfig::Norm(1.0)` clips *each parameter
tensor* to norm 1 (burn-optim's module optimiser clips every gradient on its own), not the
global norm; `--clip per-tensor` (default) does the same, `--clip global` is
`torch.nn.utils.clip_grad_norm_`. Learning rate: linear warm-up then cosine to 10% of the peak
(`TrainConfig::learning_rate_at`), peak 3e-3. `lineage bench train` builds its config as
`TrainConfig { steps, ..TrainConfig::exploration(1) }`, which keeps the exploration run's 30
warm-up steps whatever the step count: hence `--warmup-steps 30` by default. The learning rate
changes no cost.

Timing: one untimed warm-up step (`--untimed-steps`), then `--steps` steps timed together with
`time.perf_counter`. tokens/s counts as lineage's `TrainReport::tokens_per_s`: batch x sequence
length of every timed step (padding and unsupervised positions included) over the timed wall
time. Two differences with lineage's timing, both in lineage's disfavour and small: lineage's
`train_ms` starts before the weights are initialised and includes its first (cold) step, and it
generates each batch inside the timed loop; here batches are made before timing.

Eager-mode tricks NOT used: no torch.compile (unless --compile), no CUDA graphs, no fused or
foreach optimiser (torch's AdamW default on CPU is the per-tensor loop), no channels-last or
mixed precision (float32 throughout), no inference-mode or no_grad shortcuts in the step, no
custom autograd functions or hand-written backward, no torch.jit, no thread tuning beyond
torch.set_num_threads.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time

import torch

import models

TASKS = ("mqar", "lm")
MQAR_PAIRS = 8  # tasks/mqar.rs default: 8 queried keys, so 8 supervised positions per sequence
MQAR_VOCAB = 64


class Parser(argparse.ArgumentParser):
    def error(self, message):  # one line, not usage + message
        print(f"error: {message}", file=sys.stderr)
        raise SystemExit(2)


def learning_rate_at(step: int, steps: int, warmup: int, peak: float) -> float:
    """``TrainConfig::learning_rate_at``: linear warm-up, then cosine decay to 10% of the peak."""
    warmup = max(warmup, 1)
    if step < warmup:
        return peak * (step + 1) / warmup
    progress = (step - warmup) / max(steps - warmup, 1)
    cosine = 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))
    return peak * (0.1 + 0.9 * cosine)


def make_optimizer(model: torch.nn.Module, lr: float) -> torch.optim.Optimizer:
    """burn's ``AdamWConfig::new().with_weight_decay(0.01)``: betas 0.9 / 0.999, eps 1e-5."""
    return torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.999), eps=1e-5, weight_decay=0.01)


_TINY = torch.finfo(torch.float32).tiny


@torch.no_grad()
def clip_per_tensor(parameters, max_norm: float) -> None:
    """burn's ``GradientClipping::clip_by_norm``, applied to each gradient on its own:
    ``grad * min(1, max_norm / (||grad|| + tiny))``."""
    for p in parameters:
        if p.grad is not None:
            p.grad.mul_((max_norm / (p.grad.norm() + _TINY)).clamp(max=1.0))


def make_batch(task: str, batch: int, length: int, vocab: int, generator: torch.Generator):
    """Random tokens of the task's shape, and its supervised mask: MQAR supervises 8 positions
    per sequence, on even offsets after the 16 key-value tokens; LM supervises every position."""
    if task == "lm":
        tokens = torch.randint(0, vocab, (batch, length), generator=generator)
        targets = torch.randint(0, vocab, (batch, length), generator=generator)
        return tokens, targets, torch.ones(batch, length)
    tokens = torch.randint(1, min(MQAR_VOCAB, vocab), (batch, length), generator=generator)
    targets = torch.zeros(batch, length, dtype=torch.long)
    mask = torch.zeros(batch, length)
    start = 2 * MQAR_PAIRS
    slots = (length - start) // 2
    for row in range(batch):
        chosen = torch.randperm(slots, generator=generator)[:MQAR_PAIRS]
        positions = start + 2 * chosen
        mask[row, positions] = 1.0
        targets[row, positions] = torch.randint(MQAR_VOCAB // 2, min(MQAR_VOCAB, vocab), (len(positions),), generator=generator)
    return tokens, targets, mask


def parse_args(argv=None) -> argparse.Namespace:
    p = Parser(description="Training tokens/s of a lineage baseline in eager PyTorch.")
    p.add_argument("--baseline", required=True, help=f"one of {', '.join(models.MIXERS)}")
    p.add_argument("--steps", type=int, default=40, help="timed steps (default 40)")
    p.add_argument("--threads", type=int, default=2, help="torch.set_num_threads (default 2)")
    p.add_argument("--d-model", type=int, default=64)
    p.add_argument("--heads", type=int, default=4)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--vocab", type=int, default=256)
    p.add_argument("--lengths", default="64,96", help="sequence length of each step, in turn (default 64,96)")
    p.add_argument("--tasks", default="mqar,lm", help="task of each step, in turn, for the mask (default mqar,lm)")
    p.add_argument("--lr", type=float, default=3e-3)
    p.add_argument("--warmup-steps", type=int, default=30, help="learning-rate warm-up (lineage's bench: 30)")
    p.add_argument("--untimed-steps", type=int, default=1, help="untimed steps before timing (default 1)")
    p.add_argument("--form", default="fast", help=f"recurrence form: {', '.join(models.FORMS)} (default fast)")
    p.add_argument("--clip", default="per-tensor", choices=["per-tensor", "global"])
    p.add_argument("--compile", action="store_true",
                   help="torch.compile the model (an extra row, not eager); untimed steps cover every shape twice")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", action="store_true", help="print one JSON line")
    args = p.parse_args(argv)
    if args.baseline not in models.MIXERS:
        p.error(f"unknown baseline {args.baseline!r}; choose from {', '.join(models.MIXERS)}")
    if args.form not in models.FORMS:
        p.error(f"unknown form {args.form!r}; choose from {', '.join(models.FORMS)}")
    try:
        args.lengths = [int(x) for x in args.lengths.split(",")]
    except ValueError:
        p.error(f"--lengths must be comma-separated whole numbers, got {args.lengths!r}")
    args.tasks = args.tasks.split(",")
    if any(t not in TASKS for t in args.tasks):
        p.error(f"--tasks must be from {', '.join(TASKS)}, got {','.join(args.tasks)!r}")
    if len(args.tasks) != len(args.lengths):
        p.error(f"--tasks has {len(args.tasks)} entries but --lengths has {len(args.lengths)}")
    for task, length in zip(args.tasks, args.lengths):
        if length < 1 or (task == "mqar" and length < 4 * MQAR_PAIRS):
            p.error(f"a {task} step needs length >= {4 * MQAR_PAIRS if task == 'mqar' else 1}, got {length}")
    for name in ("steps", "threads", "d_model", "heads", "layers", "batch", "vocab"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be at least 1")
    if args.untimed_steps < 0 or args.warmup_steps < 0:
        p.error("--untimed-steps and --warmup-steps must not be negative")
    if args.d_model % args.heads:
        p.error(f"--d-model {args.d_model} is not a multiple of --heads {args.heads}")
    if args.form == "gla-chunk" and models.MIXERS[args.baseline].ERASE:
        p.error(f"the gla-chunk form has no erase, which {args.baseline} needs")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    model = models.LanguageModel(args.baseline, d=args.d_model, heads=args.heads, layers=args.layers,
                                 vocab=args.vocab, form=args.form, seed=args.seed)  # fmt: skip
    params = model.num_params()
    expected = models.lineage_params(args.baseline, args.d_model, args.heads, args.layers, args.vocab)
    if expected is not None and params != expected:
        print(f"error: {args.baseline} has {params} parameters here but {expected} in lineage", file=sys.stderr)
        return 1
    step_fn = torch.compile(model) if args.compile else model
    if args.compile:  # compilation (and the dynamic-shape recompile) happens in untimed steps
        args.untimed_steps = max(args.untimed_steps, 2 * len(args.lengths))
    optimizer = make_optimizer(model, args.lr)
    generator = torch.Generator().manual_seed(args.seed)
    total = args.untimed_steps + args.steps
    kinds = [(args.tasks[i % len(args.tasks)], args.lengths[i % len(args.lengths)]) for i in range(total)]
    batches = [make_batch(task, args.batch, length, args.vocab, generator) for task, length in kinds]

    def step(i: int, lr_step: int) -> float:
        tokens, targets, mask = batches[i]
        loss = models.masked_cross_entropy(step_fn(tokens), targets, mask)
        value = loss.item()
        if not math.isfinite(value):
            raise FloatingPointError(f"the loss is {value} at step {i}")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if args.clip == "global":
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        else:
            clip_per_tensor(model.parameters(), 1.0)
        lr = learning_rate_at(lr_step, args.steps, args.warmup_steps, args.lr)
        for group in optimizer.param_groups:
            group["lr"] = lr
        optimizer.step()
        return value

    try:
        for i in range(args.untimed_steps):
            step(i, 0)
        losses = []
        started = time.perf_counter()
        for s in range(args.steps):
            losses.append(step(args.untimed_steps + s, s))
        seconds = time.perf_counter() - started
    except FloatingPointError as e:
        print(f"error: {args.baseline} diverged: {e}", file=sys.stderr)
        return 1
    tokens = sum(args.batch * length for _, length in kinds[args.untimed_steps :])
    row = {
        "baseline": args.baseline,
        "params": params,
        "tokens_per_s": round(tokens / seconds, 1),
        "step_ms": round(1000 * seconds / args.steps, 2),
        "torch_version": torch.__version__,
        "threads": torch.get_num_threads(),
        "form": model.form + (" +compile" if args.compile else ""),
        "d_model": args.d_model,
        "heads": args.heads,
        "layers": args.layers,
        "batch": args.batch,
        "lengths": args.lengths,
        "steps": args.steps,
        "clip": args.clip,
        "loss_last": round(losses[-1], 4),
    }
    if args.json:
        print(json.dumps(row))
    else:
        print(f"{row['baseline']}: {row['params']:,} params, {row['tokens_per_s']:.0f} tokens/s, "
              f"{row['step_ms']:.1f} ms/step (form {row['form']}, torch {row['torch_version']}, "
              f"{row['threads']} threads, d {args.d_model}, {args.layers} blocks, lengths {args.lengths})")  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
