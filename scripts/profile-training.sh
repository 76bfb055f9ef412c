#!/usr/bin/env bash
# Where one training step's time goes, by class of operation: samples a training run of one
# baseline at the exploration size with `perf` (one compute thread, so nothing waits on another)
# and sums the samples' own time by what the function does. docs/performance.md, "Where a
# training step's time goes", was made with it.
#
#   scripts/profile-training.sh [BASELINE] [STEPS] [LINEAGE]
#
# Needs `perf` (Debian: linux-perf) and python3; LINEAGE defaults to the release build.
set -euo pipefail

baseline=${1:-deltanet}
steps=${2:-40}
lineage=${3:-${CARGO_TARGET_DIR:-target}/release/lineage}
data=$(mktemp)
trap 'rm -f "$data"' EXIT

RAYON_NUM_THREADS=1 perf record --quiet -F 999 -o "$data" \
    "$lineage" arch train "$baseline" --steps "$steps" --json > /dev/null
perf report -i "$data" --no-children -n --sort dso,symbol --stdio 2> /dev/null | STEPS=$steps python3 -c '
import os, re, sys

# First match wins; the patterns are the functions of burn-flex, gemm, glibc and the kernel
# that a training step spends its time in.
CLASSES = [
    ("matrix multiplies", r"gemm|matmul"),
    ("exp, sigmoid and other maths", r"expf|exp_lanes|exp_inplace|sigmoid|unary_op|__ieee754|log1p|logf|\bfma\b|powf|tanh"),
    ("elementwise arithmetic", r"zip_|binary_op|scalar_op|mask_|clamp|cmp_"),
    ("copies and layout", r"copy_2d|copy_contiguous|memmove|memcpy|slice|cat_|permute|gather|expand|repeat|narrow"),
    ("reductions and scans", r"reduce|sum_dim|mean|cumsum|cumulative|softmax"),
    ("allocation and page faults", r"malloc|free|memset|calloc|page|mmap|munmap|unlink_chunk|brk|zap_|mm_|alloc"),
    ("autodiff bookkeeping", r"burn_autodiff|LocalKey|Arc|drop_in_place|hashbrown|RefCell|GraphLocator|spin|clone"),
]
totals = {name: 0 for name, _ in CLASSES}
totals["other"] = 0
for line in sys.stdin:
    m = re.match(r"\s+[0-9.]+%\s+([0-9]+)\s+(\S+)\s+\[[.k]\]\s+(.*)", line)
    if not m:
        continue
    samples, symbol = int(m.group(1)), m.group(3)
    for name, pattern in CLASSES:
        if re.search(pattern, symbol):
            totals[name] += samples
            break
    else:
        totals["other"] += samples
everything, steps = sum(totals.values()), int(os.environ["STEPS"])
# 999 samples a second of CPU time; a step is the whole run over its steps (with the
# initialisation and the held-out evaluation, a few steps of time).
print("| class of operation | ms per step | share |")
print("| --- | ---: | ---: |")
for name, samples in sorted(totals.items(), key=lambda kv: -kv[1]):
    print(f"| {name} | {samples / 999 * 1000 / steps:.1f} | {100 * samples / everything:.1f}% |")
print(f"| all | {everything / 999 * 1000 / steps:.1f} | 100% |")
'
