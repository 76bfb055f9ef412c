"""Trains an architecture exported by `lineage export-arch` with a plain PyTorch loop: byte-level
language modelling on a text file, AdamW, warm-up and cosine decay, gradient clipping, held-out
loss at the end. Nothing lineage-specific but the exported ``model.py``.

    lineage export-arch deltanet --pytorch big --d-model 512 --heads 8 --layers 6 --vocab 256
    python examples/train_exported.py big --text assets/corpus/kjv.txt.gz --steps 2000

With those sizes the model has about 25M parameters (ASI-Arch's exploration scale is 20M). Use a
GPU where there is one (``--device cuda``); ``--form`` picks the ``recur`` form (``fast`` is the
quickest here). The text may be gzip-compressed; its last tenth is held out.
"""

from __future__ import annotations

import argparse
import gzip
import importlib.util
import math
import pathlib
import time

import torch


def load_module(export_dir: pathlib.Path):
    spec = importlib.util.spec_from_file_location("exported_model", export_dir / "model.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def read_bytes(path: pathlib.Path) -> torch.Tensor:
    raw = path.read_bytes()
    if raw[:2] == b"\x1f\x8b":
        raw = gzip.decompress(raw)
    return torch.frombuffer(bytearray(raw), dtype=torch.uint8).long()


def batch(data: torch.Tensor, size: int, length: int, generator: torch.Generator):
    starts = torch.randint(0, len(data) - length - 1, (size,), generator=generator)
    rows = torch.stack([data[s : s + length + 1] for s in starts.tolist()])
    return rows[:, :-1], rows[:, 1:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("export", type=pathlib.Path, help="a folder written by `lineage export-arch`")
    parser.add_argument("--text", type=pathlib.Path, required=True, help="UTF-8 text (or .gz) to train on")
    parser.add_argument("--steps", type=int, default=1000)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--length", type=int, default=256)
    parser.add_argument("--lr", type=float, default=1e-3)
    parser.add_argument("--weights", action="store_true", help="start from weights.safetensors (else fresh)")
    parser.add_argument("--form", default="fast")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    torch.manual_seed(args.seed)
    exported = load_module(args.export)
    if args.weights:
        model = exported.load(args.export / "weights.safetensors", form=args.form)
    else:
        model = exported.Model(form=args.form)
    if model.embedding.shape[0] < 256:
        raise SystemExit("byte-level text needs a vocabulary of 256: export with --vocab 256")
    model = model.to(args.device)
    params = sum(p.numel() for p in model.parameters())
    print(f"{params / 1e6:.1f}M parameters on {args.device}, recur form {args.form}")

    data = read_bytes(args.text)
    split = int(len(data) * 0.9)
    train, held_out = data[:split], data[split:]
    generator = torch.Generator().manual_seed(args.seed)
    optimizer = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=0.01)
    warmup = max(1, args.steps // 10)

    def learning_rate(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, args.steps - warmup)
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * progress))

    schedule = torch.optim.lr_scheduler.LambdaLR(optimizer, learning_rate)
    started = time.time()
    for step in range(args.steps):
        tokens, targets = (t.to(args.device) for t in batch(train, args.batch, args.length, generator))
        logits = model(tokens)
        loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        schedule.step()
        if step % max(1, args.steps // 20) == 0 or step == args.steps - 1:
            rate = (step + 1) * args.batch * args.length / (time.time() - started)
            print(f"step {step:>6}  loss {loss.item():.4f}  {rate:,.0f} tokens/s", flush=True)

    model.eval()
    with torch.no_grad():
        losses = []
        for _ in range(8):
            tokens, targets = (t.to(args.device) for t in batch(held_out, args.batch, args.length, generator))
            logits = model(tokens)
            losses.append(torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten()).item())
    print(f"held-out loss {sum(losses) / len(losses):.4f} nats/byte")


if __name__ == "__main__":
    main()
