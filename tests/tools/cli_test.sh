#!/usr/bin/env bash
# End-to-end checks of the ringload tool: exit codes, the exact `inspect --json` shape, and that a
# bad file gives one stderr line and nothing on stdout. Usage: cli_test.sh RINGLOAD FIXTURES_DIR
set -u
ringload=$1
fixtures=$2
work=$(mktemp -d "${TMPDIR:-/var/tmp}/ringload-cli.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() {  # check NAME COMMAND...: the command must succeed
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}

expect_bad_input() {  # FILE: exit 2, exactly one stderr line naming the file, empty stdout
  local file=$1 rc
  "$ringload" inspect "$file" >"$work/out" 2>"$work/err"
  rc=$?
  [[ $rc -eq 2 ]] || { echo "  $file: exit $rc, want 2" >&2; return 1; }
  [[ ! -s "$work/out" ]] || { echo "  $file: stdout not empty" >&2; return 1; }
  [[ $(wc -l <"$work/err") -eq 1 ]] || { echo "  $file: stderr has $(wc -l <"$work/err") lines" >&2; return 1; }
  grep -qF "$file" "$work/err" || { echo "  $file: stderr does not name the file" >&2; return 1; }
  grep -q "byte [0-9]" "$work/err" || { echo "  $file: stderr names no offset" >&2; return 1; }
}

json_shape_ok() {  # FILE...: inspect --json has exactly the documented keys and sorted tensors
  "$ringload" inspect --json "$@" >"$work/json" || return 1
  python3 - "$work/json" "$#" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
files = doc if int(sys.argv[2]) > 1 else [doc]
if int(sys.argv[2]) > 1 and not isinstance(doc, list):
    sys.exit("several files must give a JSON array")
for f in files:
    assert list(f) == ["path", "format", "file_size", "metadata", "tensors"], list(f)
    assert f["format"] in ("apr", "safetensors", "gguf"), f["format"]
    assert isinstance(f["file_size"], int) and isinstance(f["metadata"], dict)
    offsets = []
    for t in f["tensors"]:
        assert list(t) == ["name", "dtype", "shape", "offset", "size"], list(t)
        assert t["dtype"] == t["dtype"].upper()
        assert all(isinstance(d, int) and d >= 0 for d in t["shape"])
        assert t["offset"] + t["size"] <= f["file_size"]
        offsets.append(t["offset"])
    assert offsets == sorted(offsets), "tensors not sorted by offset"
PY
}

if [[ -d "$fixtures" ]]; then
  check "json shape (safetensors)" json_shape_ok "$fixtures/hadamards.safetensors"
  check "json shape (several files)" json_shape_ok "$fixtures/ollama-llama-2-tiny-random.gguf" \
    "$fixtures/jl-model-alldtypes.safetensors"
  check "human table" bash -c "'$ringload' inspect '$fixtures/burn-mnist.safetensors' | grep -q 'norm1.num_batches_tracked'"
  for bad in "$fixtures"/malformed/*.gguf "$fixtures"/malformed/*.apr; do
    check "bad input: $(basename "$bad")" expect_bad_input "$bad"
  done
  check "one bad file among good ones: nothing on stdout" bash -c \
    "! '$ringload' inspect --json '$fixtures/hadamards.safetensors' '$fixtures/malformed/ollama-test-truncated-6B.gguf' >'$work/mixed' 2>/dev/null && [[ ! -s '$work/mixed' ]]"
  check "memstat json" bash -c "'$ringload' memstat --json '$fixtures/hadamards.safetensors' | python3 -c 'import json,sys; d=json.load(sys.stdin); assert d[\"files\"][0][\"total_pages\"] > 0 and \"zram\" in d'"
else
  echo "fixtures not found at $fixtures: skipping fixture checks"
fi

printf 'not a model at all, just text\n' >"$work/text.bin"
check "bad input: text file" expect_bad_input "$work/text.bin"
check "missing file exits 2" bash -c "'$ringload' inspect '$work/absent.gguf' 2>/dev/null; [[ \$? -eq 2 ]]"
check "help teaches" bash -c "'$ringload' --help | grep -q 'ringload gen'"
for sub in inspect gen load memstat; do
  check "$sub --help" bash -c "'$ringload' $sub --help | grep -q Usage"
done

for fmt in safetensors gguf apr; do
  check "gen + inspect + load ($fmt)" bash -c "
    '$ringload' gen -q --format $fmt --size 2MiB --tensors 12 --dtype F16 '$work/g.$fmt' &&
    '$ringload' inspect --json '$work/g.$fmt' | python3 -c 'import json,sys; assert len(json.load(sys.stdin)[\"tensors\"]) == 12' &&
    '$ringload' load -q --strategy read '$work/g.$fmt' >/dev/null &&
    '$ringload' load -q --strategy mmap --sink null --json '$work/g.$fmt' | python3 -c 'import json,sys; assert json.load(sys.stdin)[\"bytes\"] > 0'"
done
sha_matches_python() {  # STRATEGY: --checksum sha256 digests equal hashlib over the file's ranges
  "$ringload" load -q --json --checksum sha256 --strategy "$1" --sink null --slot-size 256KiB --slots 4 \
    "$work/g.safetensors" >"$work/sha.json" || return 1
  python3 - "$work/g.safetensors" "$work/sha.json" <<'PY'
import hashlib, json, struct, sys
data = open(sys.argv[1], "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = json.loads(data[8:8 + n])
want = {k: hashlib.sha256(data[8 + n + v["data_offsets"][0]:8 + n + v["data_offsets"][1]]).hexdigest()
        for k, v in header.items() if k != "__metadata__"}
report = json.load(open(sys.argv[2]))
got = {t["name"]: t["sha256"] for t in report["tensors"]}
assert got == want, f"{sum(got.get(k) != v for k, v in want.items())} tensors differ"
PY
}
"$ringload" gen -q --format safetensors --size 3MiB --tensors 40 --dtype BF16 "$work/g.safetensors"
for strategy in read mmap mmap-pipelined uring uring-direct uring-dontcache auto; do
  check "load --checksum sha256 equals hashlib ($strategy)" sha_matches_python "$strategy"
done
check "load --trace writes Chrome trace JSON" bash -c "
  '$ringload' load -q --strategy uring --trace '$work/trace.json' '$work/g.safetensors' >/dev/null &&
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))[\"traceEvents\"]; assert any(x.get(\"ph\")==\"X\" for x in e)' '$work/trace.json'"
check "load of a bad file exits 2" bash -c "'$ringload' load -q '$fixtures/malformed/ollama-test-truncated-6B.gguf' 2>/dev/null; [[ \$? -eq 2 ]]"
check "load --sink cuda without a GPU fails cleanly" bash -c "'$ringload' load -q --sink cuda '$work/g.safetensors' 2>'$work/cuda.err'; rc=\$?; [[ \$rc -eq 0 || \$rc -eq 1 ]] && { [[ \$rc -eq 0 ]] || grep -q no_device '$work/cuda.err'; }"
check "gen rejects an unknown dtype with exit 2" bash -c "'$ringload' gen -q --format gguf --dtype Q9_9 '$work/x.gguf' 2>/dev/null; [[ \$? -eq 2 ]]"

# ringload bench: a quick smoke of the whole command (every strategy once on a 64 MiB file) and its
# JSON contract (bench/BENCH_JSON.md). --evict fadvise: evicting with drop_caches would empty the
# page cache of everything else on a shared CI machine.
bench_contract_ok() {  # JSON SVG: the document has the contract's keys, 7 results, a timeline
  python3 - "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert list(doc) == ["ringload_bench", "machine", "file", "sink", "repeat", "started_utc", "ceilings",
                     "results", "timeline"], list(doc)
assert doc["ringload_bench"] == 1 and doc["sink"] == "null" and doc["repeat"] == 1
assert list(doc["machine"]) == ["cpu", "cores", "memory_bytes", "kernel", "filesystem", "device"]
assert list(doc["file"]) == ["path", "format", "file_size", "tensor_bytes", "tensors"]
assert doc["file"]["format"] == "safetensors" and doc["file"]["tensor_bytes"] > 60 << 20
c = doc["ceilings"]
assert list(c) == ["odirect_qd32_gb_per_s", "mmap_touch_gb_per_s", "disk_gb_per_s", "memcpy_gb_per_s",
                   "pinned_h2d_gb_per_s"], list(c)
assert c["disk_gb_per_s"] == max(c["odirect_qd32_gb_per_s"], c["mmap_touch_gb_per_s"]) > 0
assert c["memcpy_gb_per_s"] > 0
run_keys = ["wall_s", "gb_per_s", "time_to_first_tensor_s", "cpu_s_per_gb", "peak_rss", "anon_rss_after",
            "file_resident_pages_after", "file_total_pages", "zram_orig_delta"]
results = doc["results"]
assert [r["strategy"] for r in results] == ["read", "mmap", "mmap-pipelined", "uring", "uring-direct",
                                            "uring-dontcache", "auto"], [r["strategy"] for r in results]
for r in results:
    assert list(r) == ["strategy", "ran_as", "cache", "runs", "median", "min", "max", "fraction_of_ceiling",
                       "x_read", "x_mmap"], list(r)
    assert r["cache"] == "cold" and len(r["runs"]) == 1 and r["ran_as"]
    for run in r["runs"] + [r["median"], r["min"], r["max"]]:
        assert list(run) == run_keys, list(run)
        assert all(isinstance(v, (int, float)) for v in run.values())
    assert r["median"]["gb_per_s"] > 0 and r["min"]["wall_s"] <= r["median"]["wall_s"] <= r["max"]["wall_s"]
    assert r["fraction_of_ceiling"] > 0 and r["x_read"] > 0 and r["x_mmap"] > 0
assert results[0]["x_read"] == 1.0 and results[1]["x_mmap"] == 1.0
t = doc["timeline"]
assert list(t) == ["strategy", "cache", "spans"] and t["cache"] == "cold" and t["spans"]
for s in t["spans"]:
    assert list(s) == ["stage", "start_s", "end_s", "bytes", "slot"] and s["stage"] in ("read", "copy", "release")
    assert 0 <= s["start_s"] <= s["end_s"]
assert open(sys.argv[2]).read().startswith("<svg")
PY
}
check "bench smoke: 7 strategies, JSON contract, SVG, temp file removed" bash -c "
  '$ringload' bench -q --gen 64MiB --format safetensors --repeat 1 --evict fadvise \
    --out-dir '$work/benchdir' --json '$work/bench.json' --svg '$work/bench.svg' >'$work/bench.txt' &&
  [[ ! -e '$work/benchdir' ]] && grep -q 'uring-direct' '$work/bench.txt'"
check "bench JSON follows bench/BENCH_JSON.md" bench_contract_ok "$work/bench.json" "$work/bench.svg"
check "bench --cache both, chosen strategies, --json -" bash -c "
  '$ringload' bench -q --strategies mmap,read --cache both --repeat 2 --evict fadvise --json - \
    '$work/g.safetensors' 2>/dev/null | python3 -c 'import json,sys; d=json.load(sys.stdin); r=d[\"results\"]
assert [(x[\"strategy\"], x[\"cache\"]) for x in r] == [(\"mmap\",\"cold\"),(\"mmap\",\"warm\"),(\"read\",\"cold\"),(\"read\",\"warm\")]
assert all(len(x[\"runs\"]) == 2 for x in r) and r[0][\"x_read\"] > 0'"
check "bench --help teaches" bash -c "'$ringload' bench --help | grep -q 'ringload bench --gen'"
check "bench with FILE and --gen exits 2" bash -c "'$ringload' bench --gen 1MiB --format gguf '$work/g.safetensors' 2>/dev/null; [[ \$? -eq 2 ]]"
check "bench with an unknown strategy exits 2" bash -c "'$ringload' bench --strategies read,fast '$work/g.safetensors' 2>/dev/null; [[ \$? -eq 2 ]]"
check "bench of a bad file exits 2" bash -c "'$ringload' bench -q '$work/text.bin' 2>/dev/null; [[ \$? -eq 2 ]]"

# Error text is valid UTF-8 even where the file's bytes or its path are not: the JSON parser's
# message quotes the bytes around a bad one, and a path is whatever bytes the file system holds.
utf8_error_line() {  # FILE NAMED: exit 2, empty stdout, one stderr line, valid UTF-8, naming NAMED
  "$ringload" inspect "$1" >"$work/out" 2>"$work/err"
  local rc=$?
  [[ $rc -eq 2 ]] || { echo "  $1: exit $rc, want 2" >&2; return 1; }
  [[ ! -s "$work/out" && $(wc -l <"$work/err") -eq 1 ]] || { echo "  $1: not one stderr line" >&2; return 1; }
  python3 -c '
import sys
try:
    open(sys.argv[1], "rb").read().decode("utf-8")
except UnicodeDecodeError as e:
    sys.exit(f"  stderr is not UTF-8: {e}")' "$work/err" || return 1
  grep -qF -- "$2" "$work/err" || { echo "  stderr does not name $2" >&2; return 1; }
}
"$ringload" gen -q --format apr --size 64KiB --tensors 3 "$work/meta.apr"
python3 - "$work/meta.apr" <<'PY'
import struct, sys
data = bytearray(open(sys.argv[1], "rb").read())
offset, size = struct.unpack_from("<QI", data, 12)  # APR_V2.md: metadata_offset, metadata_size
value = data.index(b'":"', offset, offset + size) + 3  # the first string value's first byte
data[value] = 0xE7  # a lead byte followed by ASCII: ill-formed
open(sys.argv[1], "wb").write(data)
PY
check "bad input: APR metadata with byte 0xE7, error line is UTF-8" utf8_error_line "$work/meta.apr" '\xE7'
cp "$work/text.bin" "$work/bad"$'\xe7'"name.gguf"
check "bad input: path not UTF-8, error line is UTF-8" utf8_error_line "$work/bad"$'\xe7'"name.gguf" 'bad\xE7name.gguf'

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
