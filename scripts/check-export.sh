#!/usr/bin/env bash
# Checks `lineage export-arch` end to end with PyTorch (docs/export.md): every baseline, and every
# candidate of a smoke campaign with its trained weights, is exported and its check.py must
# reproduce lineage's logits in every form of `recur`.
#
#   scripts/check-export.sh [PYTHON]
#
# PYTHON (default: $HOME/.cache/lineage/torch-venv/bin/python) needs torch. LINEAGE_BIN names
# the binary (default: the release build under CARGO_TARGET_DIR, else target/).
set -euo pipefail
cd "$(dirname "$0")/.."
python=${1:-$HOME/.cache/lineage/torch-venv/bin/python}
bin=${LINEAGE_BIN:-${CARGO_TARGET_DIR:-target}/release/lineage}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

checked=0
check() {
  local label=$1
  shift
  "$bin" "$@" --pytorch "$work/$label" >/dev/null
  echo "== $label"
  "$python" "$work/$label/check.py"
  checked=$((checked + 1))
}

for file in arch/baselines/*.arch; do
  name=$(basename "$file" .arch)
  check "$name" export-arch "$name"
done
# Another size and depth than the default, fresh weights.
check deltanet-wide export-arch deltanet --d-model 96 --heads 6 --layers 3 --vocab 64

store="sqlite://$work/smoke.db"
"$bin" --store "$store" run --preset smoke --seed 2 --name smoke >/dev/null
candidates=$("$bin" --store "$store" export smoke --format jsonl |
  "$python" -c 'import json, sys; print(" ".join(r["arch"] for r in map(json.loads, sys.stdin) if r["proposer"] != "baseline" and r["phase"] == "scored"))')
[ -n "$candidates" ] || { echo "the smoke campaign proposed no candidate"; exit 1; }
for arch in $candidates; do
  check "smoke-$arch" --store "$store" export-arch smoke "$arch"
done

# The check fails what it must: a weights file changed by one byte (by its digest, whichever
# weight the byte is in), and logits that are not numbers.
cp -r "$work/deltanet" "$work/flipped"
"$python" - "$work/flipped/weights.safetensors" <<'PY'
import sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
data[-5] ^= 1
open(path, "wb").write(data)
PY
if "$python" "$work/flipped/check.py" >/dev/null; then echo "check.py passed a changed weights file"; exit 1; fi
cp -r "$work/deltanet" "$work/nan"
"$python" - "$work/nan/check_input.safetensors" <<'PY'
import json, struct, sys
path = sys.argv[1]
data = bytearray(open(path, "rb").read())
(length,) = struct.unpack("<Q", data[:8])
start = 8 + length + json.loads(data[8 : 8 + length])["logits"]["data_offsets"][0]
data[start : start + 4] = struct.pack("<f", float("nan"))
open(path, "wb").write(data)
PY
if "$python" "$work/nan/check.py" >/dev/null; then echo "check.py passed logits that are not numbers"; exit 1; fi
echo "check-export: $checked exports checked against lineage; a changed weights file and NaN logits fail"
