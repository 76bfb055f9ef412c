#!/usr/bin/env bash
# The GPU path, proven on a machine with one NVIDIA GPU and nothing installed but its driver:
# installs PyTorch 2.9.0 (the LibTorch version burn's `tch` backend pins) and, if missing, Rust;
# builds lineage with `--features tch`; trains two baselines on the GPU and on the CPU with the
# same seed, at the exploration size and at about 20M parameters (ASI-Arch's exploration
# scale); compares their metrics; prints tokens/s. Exits non-zero if anything disagrees.
#
#   scripts/gpu-check.sh            # from the repository's root; about 5-8 minutes
#   LINEAGE_GPU_BACKENDS="tch cuda" scripts/gpu-check.sh   # and burn's CubeCL CUDA backend,
#                                   # to compare (its build fetches LLVM: a few minutes more)
#   LINEAGE_GPU_BACKENDS=tch-cpu LINEAGE_GPU_LONG_STEPS=2 scripts/gpu-check.sh   # a dry run on
#                                   # LibTorch's CPU device
#   LINEAGE_BIN=path/lineage LINEAGE_TORCH_PYTHON=python3 scripts/gpu-check.sh   # a GPU node
#       # without network: a binary built elsewhere (for `tch`, against the LibTorch of the
#       # PyTorch that LINEAGE_TORCH_PYTHON imports: docs/performance.md, "The GPU path")
#
# Results go to docs/performance.md ("The GPU path"). Nothing in the test suite needs a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=${LINEAGE_TORCH_VENV:-$HOME/.cache/lineage/torch-venv}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/lineage/target}
# The CPU side of each comparison; its held-out losses must agree with the GPU's this closely
# (relative). The two sum in different orders, and training amplifies the last bits.
tolerance=0.02
log() { echo "gpu-check: $*" >&2; }
read -r -a backends <<<"${LINEAGE_GPU_BACKENDS:-tch}"
[ "${#backends[@]}" -gt 0 ] || backends=(tch)
for backend in "${backends[@]}"; do
  case $backend in
    tch | tch-cpu | cuda) ;;
    *) log "LINEAGE_GPU_BACKENDS: unknown backend \"$backend\" (tch, tch-cpu or cuda, separated by spaces)"; exit 1 ;;
  esac
done
if [ -n "${LINEAGE_BIN:-}" ] && ! { [ -f "$LINEAGE_BIN" ] && [ -x "$LINEAGE_BIN" ]; }; then
  log "LINEAGE_BIN=$LINEAGE_BIN is not an executable file"
  exit 1
fi
uses() { [[ " ${backends[*]} " == *" $1"* ]]; } # `uses tch` holds for tch-cpu too
on_gpu() { [[ " ${backends[*]} " =~ \ (tch|cuda)\  ]]; }

if on_gpu; then
  command -v nvidia-smi >/dev/null || { log "no nvidia-smi: this machine has no NVIDIA driver"; exit 1; }
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader >&2
fi

# Python for the comparisons (with venv, for PyTorch's), a C++ compiler for torch-sys and curl
# for rustup where this script builds.
ready=1
command -v python3 >/dev/null || ready=0
if uses tch && [ -z "${LINEAGE_TORCH_PYTHON:-}" ]; then
  python3 -c 'import ensurepip, venv' 2>/dev/null || ready=0
fi
if [ -z "${LINEAGE_BIN:-}" ]; then
  { command -v c++ && command -v curl; } >/dev/null || ready=0
fi
if [ "$ready" = 0 ]; then
  log "installing python3-venv, g++ and curl"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq python3 python3-venv g++ curl pkg-config >/dev/null
fi

if uses tch; then
  python=${LINEAGE_TORCH_PYTHON:-$venv/bin/python}
  # A bare name (python3) is looked up once: the build finds `python3` first on PATH.
  python=$(command -v "$python" || echo "$python")
  if [ -z "${LINEAGE_TORCH_PYTHON:-}" ] &&
    ! "$python" -c 'import torch; assert torch.__version__.startswith("2.9.0")' 2>/dev/null; then
    log "installing torch 2.9.0 into $venv"
    python3 -m venv "$venv"
    "$python" -m pip install --quiet --progress-bar off torch==2.9.0
  fi
  torch_lib=$("$python" -c 'import os, torch; print(os.path.join(os.path.dirname(torch.__file__), "lib"))')
  "$python" -c 'import torch; print("torch", torch.__version__, "CUDA", torch.version.cuda, "available", torch.cuda.is_available())' >&2
  export LD_LIBRARY_PATH="$torch_lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
fi

if [ -n "${LINEAGE_BIN:-}" ]; then
  lineage=$LINEAGE_BIN
else
  if ! command -v cargo >/dev/null; then
    [ -x "$HOME/.cargo/bin/cargo" ] || {
      log "installing Rust"
      curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal >/dev/null
    }
    export PATH="$HOME/.cargo/bin:$PATH"
  fi
  features=()
  uses tch && features+=(tch)
  uses cuda && features+=(cuda)
  log "building with --features ${features[*]} ($(nproc) cores)"
  if uses tch; then
    # torch-sys builds against the PyTorch of the first `python3` on PATH. tch pins 2.9.0; one
    # chosen with LINEAGE_TORCH_PYTHON is taken as it is (2.11.0 builds, and trains to flex's
    # losses on the CPU: docs/performance.md).
    PATH="$(dirname "$python"):$PATH"
    export PATH LIBTORCH_USE_PYTORCH=1
    [ -z "${LINEAGE_TORCH_PYTHON:-}" ] || export LIBTORCH_BYPASS_VERSION_CHECK=1
  fi
  cargo build --release --features "${features[*]}" --bin lineage
  lineage="$CARGO_TARGET_DIR/release/lineage"
fi

# train BACKEND BASELINE STEPS ARGS… → the run's JSON report on stdout
train() {
  local backend=$1 baseline=$2 steps=$3
  shift 3
  LINEAGE_BACKEND=$backend "$lineage" arch train "$baseline" --steps "$steps" --seed 7 --json "$@" </dev/null
}

failed=0
# name, steps on each backend, extra arguments: the exploration size (the defaults) and ~20M
# parameters (d 512, 5 blocks, 8 heads: 21.3M for deltanet). The CPU trains the large size for
# a few steps only, so every side stops at the same step.
while read -r size steps args; do
  for baseline in deltanet linear_attention; do
    # shellcheck disable=SC2086 # $args is a list of words
    cpu=$(train flex "$baseline" "$steps" $args) || { log "the CPU run of $baseline at $size failed"; exit 1; }
    for backend in "${backends[@]}"; do
      # shellcheck disable=SC2086
      gpu=$(train "$backend" "$baseline" "$steps" $args) || { log "$backend failed on $baseline at $size"; failed=1; continue; }
      GPU="$gpu" CPU="$cpu" BACKEND="$backend" NAME="$baseline at $size" TOLERANCE="$tolerance" python3 - <<'EOF' || failed=1
import json, os
gpu, cpu, backend = json.loads(os.environ["GPU"]), json.loads(os.environ["CPU"]), os.environ["BACKEND"]
tolerance = float(os.environ["TOLERANCE"])
if gpu["backend"].split("+")[0] != backend:
    raise SystemExit(f'FAIL {os.environ["NAME"]}: trained on {gpu["backend"]}, not {backend} (a build without it?)')
worst = 0.0
for g, c in zip(gpu["tasks"], cpu["tasks"]):
    worst = max(worst, abs(g["loss"] - c["loss"]) / max(abs(c["loss"]), 1e-12))
ok = gpu["params"] == cpu["params"] and gpu["steps"] == cpu["steps"] and worst <= tolerance
print(f'{"ok  " if ok else "FAIL"} {backend:8} {os.environ["NAME"]}: {gpu["params"]:,} parameters, {gpu["steps"]} steps; '
      f'{gpu["tokens_per_s"]:,.0f} tokens/s, CPU {cpu["tokens_per_s"]:,.0f} tokens/s '
      f'({gpu["tokens_per_s"] / cpu["tokens_per_s"]:.1f}x); held-out loss differs by {worst:.1e} (limit {tolerance})')
raise SystemExit(0 if ok else 1)
EOF
    done
  done
done <<'SIZES'
exploration 150
20M 5 --d-model 512 --layers 5 --heads 8
SIZES

# Throughput at 20M parameters over a longer run, where start-up no longer counts.
for baseline in deltanet linear_attention; do
  for backend in "${backends[@]}"; do
    train "$backend" "$baseline" "${LINEAGE_GPU_LONG_STEPS:-200}" --d-model 512 --layers 5 --heads 8 |
      python3 -c 'import json, sys; r = json.load(sys.stdin); print("%-8s %s at 20M, %d steps: %s tokens/s, held-out loss %.3f" % (r["backend"], sys.argv[1], r["steps"], format(r["tokens_per_s"], ",.0f"), r["tasks"][-1]["loss"]))' "$baseline" ||
      { log "$backend failed on $baseline at 20M"; failed=1; }
  done
done
if [ "$failed" -eq 0 ]; then log "the GPU path agrees with the CPU"; else log "the GPU path DISAGREES with the CPU"; fi
exit "$failed"
