#!/usr/bin/env bash
# Issue "Whole checkpoints", benchmarks: the same bytes as 1 file, 8 and 64 shards (600 tensors),
# and as 8 shards of 20,000 tensors. One variant exists at a time (generated, benched, deleted:
# disk space varies), so variants are compared by their own medians and by the fraction of the
# disk ceiling each bench measured in the same run (a checkpoint's ceiling: its largest shard).
#   bench/checkpoints/shards_and_tensors.sh RINGLOAD OUT_DIR [SIZE] [REPEAT]
# Writes OUT_DIR/ckpt-<variant>.{json,txt} and prints a summary table (also OUT_DIR/ckpt-summary.md).
set -euo pipefail
ringload=$1
out=$2
size=${3:-8GiB}
repeat=${4:-3}
work=${RINGLOAD_BENCH_DIR:-.ringload-bench}/ckpt
mkdir -p "$out" "$work"
trap 'rm -rf "$work"' EXIT

variants=("1file-600:1:600" "8shards-600:8:600" "64shards-600:64:600" "8shards-20000:8:20000")
for v in "${variants[@]}"; do
  IFS=: read -r name shards tensors <<<"$v"
  target="$work/$name"
  rm -rf "$target"
  if [[ $shards -eq 1 ]]; then
    target="$work/$name.safetensors"
    "$ringload" gen -q --format safetensors --size "$size" --tensors "$tensors" "$target"
  else
    "$ringload" gen -q --format safetensors --size "$size" --tensors "$tensors" --shards "$shards" "$target"
  fi
  echo "== $name: $size, $shards file(s), $tensors tensors" >&2
  "$ringload" bench -q --cache cold --repeat "$repeat" --strategies auto,mmap-pipelined,uring-direct \
    --json "$out/ckpt-$name.json" "$target" | tee "$out/ckpt-$name.txt"
  rm -rf "$target"
done

/usr/bin/python3 - "$out" "${variants[@]}" <<'PY' | tee "$out/ckpt-summary.md"
import json, sys
out, variants = sys.argv[1], [v.split(":")[0] for v in sys.argv[2:]]
docs = {v: json.load(open(f"{out}/ckpt-{v}.json")) for v in variants}
def row(doc, strategy):
    return next(r for r in doc["results"] if r["strategy"] == strategy)
def max_read_gap_ms(doc):
    spans = sorted((s for s in doc["timeline"]["spans"] if s["stage"] == "read"), key=lambda s: s["start_s"])
    busy_until, gap = None, 0.0
    for s in spans:
        if busy_until is not None:
            gap = max(gap, s["start_s"] - busy_until)
        busy_until = s["end_s"] if busy_until is None else max(busy_until, s["end_s"])
    return gap * 1e3
base = docs[variants[0]]
print("| variant | files | tensors | disk ceiling GB/s | auto (ran as) GB/s median (min-max) | x 1 file | auto / ceiling | uring-direct GB/s | mmap-pipelined GB/s | longest gap between reads (timeline of the best row) |")
print("|---|---|---|---|---|---|---|---|---|---|")
for v, d in docs.items():
    a = row(d, "auto")
    ratio = a["median"]["gb_per_s"] / row(base, "auto")["median"]["gb_per_s"]
    print(f"| {v} | {len(d['file'].get('files', [d['file']['path']]))} | {d['file']['tensors']} "
          f"| {d['ceilings']['disk_gb_per_s']:.2f} "
          f"| {a['median']['gb_per_s']:.2f} ({a['min']['gb_per_s']:.2f}-{a['max']['gb_per_s']:.2f}) {a['ran_as']} "
          f"| {ratio:.2f} | {a['fraction_of_ceiling']:.2f} "
          f"| {row(d, 'uring-direct')['median']['gb_per_s']:.2f} | {row(d, 'mmap-pipelined')['median']['gb_per_s']:.2f} "
          f"| {max_read_gap_ms(d):.1f} ms |")
PY
