#!/usr/bin/env bash
# The GPU path, proven on a machine with one NVIDIA GPU and nothing installed but its driver:
# installs PyTorch 2.9.0 (the LibTorch version burn's `tch` backend pins) and, if missing, Rust;
# builds lineage with `--features tch`; trains two baselines on the GPU and on the CPU with the
# same seed, at the exploration size and at about 20M parameters (ASI-Arch's exploration
# scale); compares their metrics; prints tokens/s. Exits non-zero if anything disagrees.
#
#   scripts/gpu-check.sh            # from the repository's root; about 5-8 minutes
#   LINEAGE_GPU_BACKEND=tch-cpu LINEAGE_GPU_LONG_STEPS=2 scripts/gpu-check.sh   # a dry run on
#                                   # LibTorch's CPU device
#
# Results go to docs/performance.md ("The GPU path"). Nothing in the test suite needs a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${LINEAGE_TORCH_VENV:-$HOME/.cache/lineage/torch-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lineage/target}
# The CPU side of each comparison; its held-out losses must agree with the GPU's this closely
# (relative). The two sum in different orders, and training amplifies the last bits.
tolerance=0.02
backend=${LINEAGE_GPU_BACKEND:-tch}
log() { echo "gpu-check: $*" >&2; }

if [ "$backend" = tch ]; then
  command -v nvidia-smi >/dev/null || { log "no nvidia-smi: this machine has no NVIDIA driver"; exit 1; }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2
fi

# Python with venv for PyTorch, a C++ compiler for torch-sys, curl for rustup.
if ! { python3 -c 'import ensurepip, venv' && command -v c++ && command -v curl; } >/dev/null 2>&1; then
  log "installing python3-venv, g++ and curl"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq python3 python3-venv g++ curl pkg-config >/dev/null
fi
if ! "$venv/bin/python" -c 'import torch; assert torch.__version__.startswith("2.9.0")' 2>/dev/null; then
  log "installing torch 2.9.0 into $venv"
  python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --progress-bar off torch==2.9.0
fi
torch_lib=$("$venv/bin/python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
"$venv/bin/python" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())' >&2

if ! command -v cargo >/dev/null; then
  [ -x "$HOME/.cargo/bin/cargo" ] || {
    log "installing Rust"
    curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
  }
  export PATH="$HOME/.cargo/bin:$PATH"
fi

log "building with --features tch ($(nproc) cores)"
PATH="$venv/bin:$PATH" LIBTORCH_USE_PYTORCH=1 cargo build --release --features tch --bin lineage
lineage="$CARGO_TARGET_DIR/release/lineage"
export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

# train BACKEND BASELINE STEPS ARGS… → the run's JSON report on stdout
train() {
  local backend=$1 baseline=$2 steps=$3
  shift 3
  LINEAGE_BACKEND=$backend "$lineage" arch train "$baseline" --steps "$steps" --seed 7 --json "$@" </dev/null
}

failed=0
# name, steps on each backend, extra arguments: the exploration size (the defaults) and ~20M
# parameters (d 512, 5 blocks, 8 heads: 21.3M for deltanet). The CPU trains the large size for
# a few steps only, so both sides stop at the same step.
while read -r size steps args; do
  for baseline in deltanet linear_attention; do
    # shellcheck disable=SC2086 # $args is a list of words
    gpu=$(train "$backend" "$baseline" "$steps" $args)
    # shellcheck disable=SC2086
    cpu=$(train flex "$baseline" "$steps" $args)
    GPU="$gpu" CPU="$cpu" NAME="$baseline at $size" TOLERANCE="$tolerance" python3 - <<'EOF' || failed=1
import json, os
gpu, cpu = json.loads(os.environ["GPU"]), json.loads(os.environ["CPU"])
tolerance = float(os.environ["TOLERANCE"])
assert gpu["backend"].startswith("tch") and cpu["backend"].startswith("flex"), (gpu["backend"], cpu["backend"])
worst = 0.0
for g, c in zip(gpu["tasks"], cpu["tasks"]):
    worst = max(worst, abs(g["loss"] - c["loss"]) / max(abs(c["loss"]), 1e-12))
ok = gpu["params"] == cpu["params"] and gpu["steps"] == cpu["steps"] and worst <= tolerance
print(f'{"ok  " if ok else "FAIL"} {os.environ["NAME"]}: {gpu["params"]:,} parameters, {gpu["steps"]} steps; '
      f'GPU {gpu["tokens_per_s"]:,.0f} tokens/s, CPU {cpu["tokens_per_s"]:,.0f} tokens/s '
      f'({gpu["tokens_per_s"] / cpu["tokens_per_s"]:.1f}x); held-out loss differs by {worst:.1e} (limit {tolerance})')
raise SystemExit(0 if ok else 1)
EOF
  done
done <<'SIZES'
exploration 150
20M 5 --d-model 512 --layers 5 --heads 8
SIZES

# GPU throughput at 20M parameters over a longer run, where start-up no longer counts.
for baseline in deltanet linear_attention; do
  train "$backend" "$baseline" "${LINEAGE_GPU_LONG_STEPS:-200}" --d-model 512 --layers 5 --heads 8 |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print("GPU %s at 20M, %d steps: %s tokens/s, held-out loss %.3f" % (sys.argv[1], r["steps"], format(r["tokens_per_s"], ",.0f"), r["tasks"][-1]["loss"]))' "$baseline"
done
if [ "$failed" -eq 0 ]; then log "the GPU path agrees with the CPU"; else log "the GPU path DISAGREES with the CPU"; fi
exit "$failed"
