#!/usr/bin/env bash
# Read once over MPI against every rank reading everything, cold, side by side:
#   A: mpirun -np 4 ringload load --mpi MODEL   (each rank reads 1/4, MPI broadcasts the rest)
#   B: 4 independent `ringload load MODEL` processes started together (each reads everything)
# Both into host sinks (every process ends with every tensor), page cache dropped before each run,
# runs interleaved A B A B ... Prints per-run wall time (outer, process start to last exit) and the
# storage bytes read by all processes together (sum of their /proc/self/io read_bytes deltas), then
# the medians. Needs root (drop_caches) and Open MPI.
# Usage: bench/mpi/read_once.sh RINGLOAD MODEL [RUNS=5] [RANKS=4]
set -euo pipefail
bin=$(realpath "$1")
model=$2
runs=${3:-5}
ranks=${4:-4}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/read-once.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mpirun=(mpirun -np "$ranks" --oversubscribe)
if [[ $(id -u) == 0 ]]; then mpirun+=(--allow-run-as-root); fi

cold() { sync; echo 3 >/proc/sys/vm/drop_caches; }
now() { echo "$EPOCHREALTIME"; }
sum_storage() {  # sum_storage FILE...: storage_bytes_read over JSON reports
  /usr/bin/python3 -c 'import json,sys; print(sum(json.load(open(p))["storage_bytes_read"] for p in sys.argv[1:]))' "$@"
}

echo "machine: $(nproc) vCPUs, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -r); load average: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "model: $model ($("$bin" inspect "$model" | sed -n 2p | sed 's/^ *//'))"
printf '%-4s %-34s %10s %16s\n' run what wall_s storage_bytes
for ((r = 1; r <= runs; r++)); do
  cold
  out="$tmp/a$r"
  t0=$(now)
  "${mpirun[@]}" --output-filename "$out" "$bin" load --mpi --json "$model" >/dev/null
  t1=$(now)
  a_wall=$(awk "BEGIN{print $t1 - $t0}")
  a_bytes=$(sum_storage "$out"/*/rank.*/stdout)
  printf '%-4s %-34s %10.3f %16s\n' "$r" "read once (mpirun -np $ranks --mpi)" "$a_wall" "$a_bytes"
  echo "A $a_wall $a_bytes" >>"$tmp/results"

  cold
  t0=$(now)
  for ((k = 0; k < ranks; k++)); do "$bin" load --json -q "$model" >"$tmp/b$r.$k.json" & done
  wait
  t1=$(now)
  b_wall=$(awk "BEGIN{print $t1 - $t0}")
  b_bytes=$(sum_storage "$tmp"/b"$r".*.json)
  printf '%-4s %-34s %10.3f %16s\n' "$r" "$ranks independent loads" "$b_wall" "$b_bytes"
  echo "B $b_wall $b_bytes" >>"$tmp/results"
done
/usr/bin/python3 - "$tmp/results" "$ranks" <<'PY'
import statistics, sys
rows = [l.split() for l in open(sys.argv[1])]
a = [(float(w), int(b)) for k, w, b in rows if k == "A"]
b = [(float(w), int(b)) for k, w, b in rows if k == "B"]
med = lambda xs: statistics.median(xs)
aw, bw = med([w for w, _ in a]), med([w for w, _ in b])
ab, bb = med([s for _, s in a]), med([s for _, s in b])
print(f"\nmedians over {len(a)} interleaved runs each:")
print(f"  read once over MPI : wall {aw:.3f} s (range {min(w for w,_ in a):.3f}-{max(w for w,_ in a):.3f}), storage {ab/2**30:.3f} GiB")
print(f"  {sys.argv[2]} independent loads: wall {bw:.3f} s (range {min(w for w,_ in b):.3f}-{max(w for w,_ in b):.3f}), storage {bb/2**30:.3f} GiB")
print(f"  ratio (independent / read once): wall {bw/aw:.2f}x, storage {bb/ab:.2f}x")
PY
