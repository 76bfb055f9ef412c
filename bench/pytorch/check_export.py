"""The benchmark's hand-written models (models.py) against lineage, through `lineage export-arch`:
for every baseline models.py mirrors, the same parameter count and the same logits from the
same weights.

Each baseline is exported by lineage (fresh weights, seed 3, vocabulary 64), and models.py's
model of it is loaded from the export's ``weights.safetensors``: the embedding, the head, the
norms and the MLPs by name, the mixer's projections, convolutions and norms through the node
each came from (the export's ``mixer_nodes`` metadata against models.py's ``LINEAGE_NODES``).
Its learned vectors (``param(...)``) start at fixed values that models.py sets as lineage does.
The check compares the parameter counts, then the logits with the ones lineage computed for the
export's check input, in models.py's recurrence forms.

    $HOME/.cache/lineage/torch-venv/bin/python bench/pytorch/check_export.py [--lineage PATH]

Exits non-zero when a count differs, or when a relative logit difference (max |a - b| / max |b|)
is above 1e-4. PATH is found as in check_lineage.py.
"""

from __future__ import annotations

import argparse
import json
import pathlib
import struct
import subprocess
import sys
import tempfile

import torch

import models
from check_lineage import find_lineage

TOLERANCE = 1e-4
VOCAB = 64


def read(path: pathlib.Path) -> tuple[dict, dict]:
    """The tensors and the metadata of a safetensors file (float32 and int64)."""
    raw = path.read_bytes()
    (length,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + length])
    metadata = header.pop("__metadata__", {})
    data = raw[8 + length :]
    dtypes = {"F32": torch.float32, "I64": torch.int64}
    tensors = {}
    for name, info in header.items():
        start, end = info["data_offsets"]
        tensor = torch.frombuffer(bytearray(data[start:end]), dtype=dtypes[info["dtype"]])
        tensors[name] = tensor.reshape(info["shape"])
    return tensors, metadata


def load(model: models.LanguageModel, tensors: dict, nodes: dict) -> None:
    by_node = {node: name for name, node in nodes.items()}
    with torch.no_grad():
        model.embedding.weight.copy_(tensors["embedding"])
        model.head.weight.copy_(tensors["head"].T)
        model.final_norm.scale.copy_(tensors["final_norm.scale"])
        for i, block in enumerate(model.blocks):
            prefix = f"blocks.{i}"
            block.mixer_norm.scale.copy_(tensors[f"{prefix}.mixer_norm.scale"])
            block.mlp_norm.scale.copy_(tensors[f"{prefix}.mlp_norm.scale"])
            block.mlp.w_in.weight.copy_(tensors[f"{prefix}.mlp_in"].T)
            block.mlp.w_out.weight.copy_(tensors[f"{prefix}.mlp_out"].T)
            for attribute, node in block.mixer.LINEAGE_NODES.items():
                weight = tensors[f"{prefix}.mixer.{by_node[node]}"]
                module = getattr(block.mixer, attribute)
                if isinstance(module, torch.nn.Linear):
                    module.weight.copy_(weight.T)
                elif isinstance(module, models.CausalConv):
                    module.set_taps(weight)
                elif isinstance(module, models.RMSNorm):
                    module.scale.copy_(weight)
                elif isinstance(module, torch.nn.Parameter):
                    module.copy_(weight)
                else:
                    raise TypeError(f"{attribute}: no rule to load a {type(module).__name__}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lineage", type=pathlib.Path, default=None)
    args = parser.parse_args()
    lineage = find_lineage(str(args.lineage) if args.lineage else None)
    if lineage is None:
        print("no lineage binary: build it (cargo build --release) or pass --lineage PATH")
        return 2
    failures = 0
    with tempfile.TemporaryDirectory() as work:
        for baseline in models.MIXERS:
            out = pathlib.Path(work) / baseline
            subprocess.run(
                [str(lineage), "export-arch", baseline, "--pytorch", str(out), "--vocab", str(VOCAB), "--seed", "3"],
                check=True,
                stdout=subprocess.DEVNULL,
            )
            tensors, metadata = read(out / "weights.safetensors")
            recorded, _ = read(out / "check_input.safetensors")
            nodes = {name: int(node) for name, node in json.loads(metadata["mixer_nodes"]).items()}
            exported = sum(t.numel() for t in tensors.values())
            expected = recorded["logits"].double()
            worst = 0.0
            for form in ("stepwise", "lineage"):
                model = models.LanguageModel(baseline, vocab=VOCAB, form=form)
                counted = model.num_params()
                load(model, tensors, nodes)
                with torch.no_grad():
                    logits = model(recorded["tokens"]).double()
                worst = max(worst, ((logits - expected).abs().max() / expected.abs().max()).item())
            ok = exported == counted and worst <= TOLERANCE
            failures += not ok
            print(
                f"{baseline:>17}: parameters {counted} (export {exported}), "
                f"max relative logit difference {worst:.2e} {'ok' if ok else 'FAILED'}"
            )
    print(f"{len(models.MIXERS) - failures} of {len(models.MIXERS)} baselines agree (tolerance {TOLERANCE:.0e})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
