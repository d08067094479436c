#!/usr/bin/env bash
# README's main job: set up, build a release build, generate a model, inspect it, and load it
# every way ringload can (so far the two baselines, `read` and `mmap`), cold, side by side.
#   SIZE=4GiB FORMAT=gguf DTYPE=Q4_K bash tools/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
size=${SIZE:-1GiB}
format=${FORMAT:-safetensors}
dtype=${DTYPE:-BF16}
work=${WORK_DIR:-build/demo}

bash tools/ci/install-deps.sh
[[ -f build/build.ninja ]] || meson setup build --buildtype=release >/dev/null
meson compile -C build >/dev/null
ringload=build/tools/ringload/ringload
mkdir -p "$work"
model="$work/model.$format"

echo "== ringload gen: $size $format $dtype"
"$ringload" gen --format "$format" --size "$size" --dtype "$dtype" "$model"

echo
echo "== ringload inspect (first lines)"
"$ringload" inspect "$model" | head -n 24

evict() {  # cold cache: drop the file's pages (drop_caches needs root; fadvise does not)
  sync
  if [[ -w /proc/sys/vm/drop_caches ]]; then echo 3 >/proc/sys/vm/drop_caches; fi
  dd if="$model" iflag=nocache count=0 status=none 2>/dev/null || true
}

echo
echo "== ringload load, cold, each strategy (host sink)"
printf '%-10s %10s %10s %12s %14s %16s\n' strategy seconds GB/s "peak RSS" "anon after" "cached after"
for strategy in read mmap; do
  evict
  "$ringload" load -q --json --strategy "$strategy" --sink host "$model" >"$work/$strategy.json"
  python3 - "$work/$strategy.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
gib = 1 << 30
pct = 100.0 * r["file_resident_pages_after"] / max(1, r["file_total_pages"])
print(f'{r["strategy"]:<10} {r["wall_s"]:>10.3f} {r["gb_per_s"]:>10.2f} {r["peak_rss"]/gib:>10.2f} G'
      f' {r["anon_rss_after"]/gib:>12.2f} G {pct:>14.1f} %')
PY
done
echo
echo "(the pipelined strategies — mmap-pipelined, uring, uring-direct, uring-dontcache, auto — join this table as they land)"
