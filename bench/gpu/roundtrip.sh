#!/usr/bin/env bash
# GPU correctness: every fixture and a generated 4 GiB file loaded into GPU memory by each
# pipelined strategy, copied back device -> host and compared byte for byte with the file
# (`ringload load --sink cuda --verify`). Writes its log under OUT (default bench/results).
# Run on a machine with an NVIDIA GPU:  bash bench/gpu/roundtrip.sh
# Without one it stops at the first load with "no CUDA device" (exit 1).
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${OUT:-bench/results}
fixtures=${RINGLOAD_FIXTURES:-../shared/fixtures}
sink=${SINK:-cuda}
mkdir -p "$out"
log="$out/gpu-roundtrip-$(date -u +%Y%m%d).log"
[[ -x build/tools/ringload/ringload ]] || { meson setup build --buildtype=release >/dev/null; meson compile -C build >/dev/null; }
ringload=build/tools/ringload/ringload
{
  echo "# ringload GPU round trip, $(date -u +%FT%TZ)"
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>/dev/null || echo "no nvidia-smi"
  uname -r
  for f in "$fixtures"/*.safetensors "$fixtures"/*.gguf "$fixtures"/sharded-safetensors-jl/*.safetensors; do
    for strategy in mmap uring-direct auto; do
      printf '%-60s %-14s ' "$(basename "$f")" "$strategy"
      "$ringload" load -q --sink "$sink" --strategy "$strategy" --verify "$f" | grep verified
    done
  done
  big=${BIG:-build/gpu-4GiB.safetensors}
  [[ -f "$big" ]] || "$ringload" gen -q --format safetensors --size 4GiB --dtype BF16 "$big"
  for strategy in mmap mmap-pipelined uring uring-direct uring-dontcache auto; do
    sync; echo 3 >/proc/sys/vm/drop_caches 2>/dev/null || true
    printf '%-60s %-14s ' "$(basename "$big")" "$strategy"
    "$ringload" load -q --sink "$sink" --strategy "$strategy" --verify --json "$big" |
      python3 -c 'import json,sys; r=json.load(sys.stdin); print("verified %d tensors, %.2f GB/s cold" % (r["verified_tensors"], r["gb_per_s"]))'
  done
} 2>&1 | tee "$log"
