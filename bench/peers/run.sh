#!/usr/bin/env bash
# The GPU benchmark, whenever a GPU is at hand: ringload bench --sink cuda (cold and warm, every
# strategy, with the pinned host-to-device ceiling) and the Python peers on the same file in the
# same session. Results land in OUT (default bench/results/gpu-<date>/).
set -euo pipefail
cd "$(dirname "$0")/../.."
size=${SIZE:-8GiB}
out=${OUT:-bench/results/gpu-$(date -u +%Y%m%d)}
mkdir -p "$out"
[[ -x build/tools/ringload/ringload ]] || { meson setup build --buildtype=release >/dev/null; meson compile -C build >/dev/null; }
ringload=build/tools/ringload/ringload
file=${FILE:-build/gpu-bench-$size.safetensors}
[[ -f "$file" ]] || "$ringload" gen -q --format safetensors --size "$size" --dtype BF16 "$file"
nvidia-smi >"$out/nvidia-smi.txt" 2>&1 || true
"$ringload" bench "$file" --sink cuda --cache both --repeat "${REPEAT:-5}" --json "$out/bench.json" \
  --svg "$out/bench.svg" | tee "$out/bench.txt"
python3 bench/peers/safetensors_cuda.py "$file" --repeat "${REPEAT:-5}" | tee "$out/peers.json"
