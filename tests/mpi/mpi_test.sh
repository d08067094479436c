#!/usr/bin/env bash
# `ringload load --mpi` as a real 4-rank mpirun job on one machine (oversubscribed, as CI has 2
# cores), on a generated 512 MiB checkpoint of 8 shards:
#   - every rank prints one JSON report with rank and world, and its per-tensor SHA-256 equal a
#     single-process load's;
#   - the ranks' storage_bytes_read add up to the checkpoint once (tensor bytes, plus at most 8 MiB:
#     the headers each rank parses, pages read twice where two ranks' runs meet), not 4 times;
#   - with --slice rules each rank's parts equal its own single-process sliced load;
#   - a read error injected on rank 2, or a cancel on rank 0 (the test-only hook
#     RINGLOAD_TEST_MPI_FAULT=RANK:read|cancel), fails all four ranks within 60 s, each naming it.
# Release build only: Open MPI trips LeakSanitizer. Prints "mpi: N passed, M failed".
# Usage: tests/mpi/mpi_test.sh path/to/ringload
set -uo pipefail
bin=$(realpath "$1")
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ringload-mpi.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
passed=0
failed=0
check() {  # check NAME COMMAND...
  if "${@:2}"; then
    passed=$((passed + 1)); echo "ok: $1"
  else
    failed=$((failed + 1)); echo "FAILED: $1"
  fi
}
if ! command -v mpirun >/dev/null; then
  echo "mpirun not found (install openmpi-bin)"; echo "mpi: 0 passed, 1 failed"; exit 1
fi
if ! "$bin" load --help | grep -q -- --mpi; then
  echo "$bin has no --mpi"; echo "mpi: 0 passed, 1 failed"; exit 1
fi
mpirun=(mpirun -np 4 --oversubscribe)
if [[ $(id -u) == 0 ]]; then mpirun+=(--allow-run-as-root); fi

"$bin" gen --format safetensors --size 512MiB --shards 8 -q "$tmp/ckpt" || exit 1
# Written back first (dirty pages cannot be dropped), then the reference load leaves the files
# uncached (it releases every page it read): the group's reads below come from storage, where
# /proc/self/io counts them.
sync "$tmp/ckpt"/* || exit 1
"$bin" load --json --checksum sha256 -q "$tmp/ckpt" >"$tmp/single.json" || exit 1

run_group() {  # run_group OUT_DIR [FAULT]: one stdout file per rank under OUT_DIR
  local out=$1 fault=${2:-}
  timeout 60 env ${fault:+RINGLOAD_TEST_MPI_FAULT=$fault} "${mpirun[@]}" --output-filename "$out" \
    "$bin" load --mpi --json --checksum sha256 --mpi-round 64MiB "$tmp/ckpt" >"$out.stdout" 2>"$out.stderr"
}

run_group "$tmp/ok"
check "4 ranks load the checkpoint" test $? -eq 0
check "each rank's digests equal a single-process load; storage bytes add up to one read" \
  /usr/bin/python3 - "$tmp/single.json" "$tmp/ok" <<'PY'
import glob, json, os, sys
single = json.load(open(sys.argv[1]))
want = {t["name"]: t["sha256"] for t in single["tensors"]}
reports = [json.load(open(p)) for p in sorted(glob.glob(os.path.join(sys.argv[2], "*", "rank.*", "stdout")))]
assert len(reports) == 4, f"{len(reports)} reports"
assert sorted(r["rank"] for r in reports) == [0, 1, 2, 3], [r.get("rank") for r in reports]
for r in reports:
    assert r["world"] == 4
    got = {t["name"]: t["sha256"] for t in r["tensors"]}
    assert got == want, f"rank {r['rank']}: {sum(got.get(k) != v for k, v in want.items())} digests differ"
    assert r["bytes_received"] + r["bytes_read"] >= single["bytes"], r
tensor_bytes = single["bytes"]
read = sum(r["storage_bytes_read"] for r in reports)
print(f"storage_bytes_read over 4 ranks: {read} for {tensor_bytes} tensor bytes ({read / tensor_bytes:.4f}x)")
assert tensor_bytes <= read <= tensor_bytes + (8 << 20), read
PY

# Slice rules under --mpi take MPI's rank and world: each rank's parts equal its own single-process
# sliced load, and only unsliced tensors travel.
slices=(--slice '*.o_proj.weight:1' --slice '*_proj.weight:0')
for rank in 0 1 2 3; do
  "$bin" load --json --checksum sha256 -q "${slices[@]}" --rank "$rank" --world 4 "$tmp/ckpt" \
    >"$tmp/sliced-$rank.json" || exit 1
done
timeout 60 "${mpirun[@]}" --output-filename "$tmp/sliced" "$bin" load --mpi --json --checksum sha256 \
  "${slices[@]}" "$tmp/ckpt" >/dev/null 2>"$tmp/sliced.stderr"
check "4 ranks load with slice rules" test $? -eq 0
check "each rank's parts equal its own sliced load; only unsliced tensors travel" \
  /usr/bin/python3 - "$tmp" <<'PY'
import glob, json, os, sys
tmp = sys.argv[1]
for path in glob.glob(os.path.join(tmp, "sliced", "*", "rank.*", "stdout")):
    r = json.load(open(path))
    want = json.load(open(os.path.join(tmp, f"sliced-{r['rank']}.json")))
    got = {t["name"]: (t["size"], t["sha256"]) for t in r["tensors"]}
    exp = {t["name"]: (t["size"], t["sha256"]) for t in want["tensors"]}
    assert got == exp, f"rank {r['rank']}: {sum(got.get(k) != v for k, v in exp.items())} tensors differ"
    unsliced = sum(t["size"] for t in want["tensors"] if not t["name"].endswith("_proj.weight"))
    assert 0 < unsliced and r["bytes_received"] < unsliced, (r["bytes_received"], unsliced)
PY

for fault in 2:read 0:cancel; do
  rank=${fault%%:*}
  start=$SECONDS
  run_group "$tmp/fault-$rank" "$fault"
  rc=$?
  check "$fault: the job fails (rc $rc) within 60 s ($((SECONDS - start)) s)" test "$rc" -ne 0 -a "$rc" -ne 124
  check "$fault: every rank reports the error naming rank $rank" \
    /usr/bin/python3 - "$tmp/fault-$rank" "$rank" <<'PY'
import glob, json, os, sys
paths = sorted(glob.glob(os.path.join(sys.argv[1], "*", "rank.*", "stdout")))
reports = [json.load(open(p)) for p in paths]
assert len(reports) == 4, f"{len(reports)} reports"
for r in reports:
    assert "error" in r, r
    assert f"rank {sys.argv[2]} of 4" in r["error"], r["error"]
PY
done

# A command line no rank can run still gives one JSON report per rank, and the job ends.
timeout 60 "${mpirun[@]}" --output-filename "$tmp/bad" "$bin" load --mpi --json --mpi-round lots "$tmp/ckpt" \
  >/dev/null 2>"$tmp/bad.stderr"
check "a bad --mpi-round fails the job" test $? -ne 0 -a $? -ne 124
check "a bad --mpi-round: every rank reports it as JSON" /usr/bin/python3 - "$tmp/bad" <<'PY'
import glob, json, os, sys
reports = [json.load(open(p)) for p in glob.glob(os.path.join(sys.argv[1], "*", "rank.*", "stdout"))]
assert len(reports) == 4, f"{len(reports)} reports"
for r in reports:
    assert "--mpi-round" in r["error"] and r["error_kind"] == "invalid_argument", r
    assert {"rank", "world", "storage_bytes_read", "bytes_received", "collective_busy_s"} <= r.keys(), r
PY

echo "mpi: $passed passed, $failed failed"
[[ $failed == 0 ]]
