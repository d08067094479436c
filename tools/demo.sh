#!/usr/bin/env bash
# README's main job: set up, build a release build, generate a model, inspect it, and load it
# every way ringload can — the `read` and `mmap` baselines and the pipelined strategies — cold,
# side by side, with what each load left behind.
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
echo "== ringload load, cold, each strategy, null sink (reads every byte, keeps none)"
strategies=(read mmap mmap-pipelined uring uring-direct uring-dontcache auto)
for strategy in "${strategies[@]}"; do
  evict
  "$ringload" load -q --json --strategy "$strategy" --sink null "$model" >"$work/$strategy.json"
done
python3 - "$work" "${strategies[@]}" <<'PY'
import json, sys
work, names = sys.argv[1], sys.argv[2:]
rows = [json.load(open(f"{work}/{n}.json")) for n in names]
base = {r["requested"]: r["wall_s"] for r in rows}
mib = 1 << 20
print(f'{"strategy":<16} {"ran as":<16} {"seconds":>8} {"GB/s":>6} {"x read":>7} {"x mmap":>7} '
      f'{"1st tensor":>10} {"CPU s/GB":>8} {"peak RSS":>10} {"cached after":>12}')
for r in rows:
    cached = 100.0 * r["file_resident_pages_after"] / max(1, r["file_total_pages"])
    print(f'{r["requested"]:<16} {r["strategy"]:<16} {r["wall_s"]:>8.3f} {r["gb_per_s"]:>6.2f} '
          f'{base["read"] / r["wall_s"]:>7.2f} {base["mmap"] / r["wall_s"]:>7.2f} '
          f'{r["time_to_first_tensor_s"] * 1000:>8.1f}ms {r["cpu_s_per_gb"]:>8.3f} '
          f'{r["peak_rss"] / mib:>7.0f} MiB {cached:>11.1f}%')
PY
echo
echo "One run each on a shared machine: for medians over repeated, interleaved runs use the benchmark."
