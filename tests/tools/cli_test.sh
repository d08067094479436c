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
for strategy in read mmap mmap-pipelined uring uring-direct uring-dontcache auto pread-direct; do
  check "load --checksum sha256 equals hashlib ($strategy)" sha_matches_python "$strategy"
done
io_engine_is() {  # STRATEGY ENGINE: load --json names the I/O engine that ran, and why
  "$ringload" load -q --json --strategy "$1" --sink null "$work/g.safetensors" >"$work/engine.json" || return 1
  python3 - "$work/engine.json" "$2" "$1" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["io_engine"] == sys.argv[2], (r["io_engine"], sys.argv[2])
assert r["io_engine_reason"], "no reason"
assert sys.argv[3] == "auto" or r["io_engine_reason"] == "asked for", r["io_engine_reason"]
PY
}
check "load --json io_engine: read" io_engine_is read read
check "load --json io_engine: mmap" io_engine_is mmap-pipelined mmap
check "load --json io_engine: io_uring" io_engine_is uring-direct io_uring
check "load --json io_engine: pread" io_engine_is pread-direct pread
check "load --json io_engine: auto says why" io_engine_is auto "$("$ringload" load -q --json --strategy auto --sink null "$work/g.safetensors" | python3 -c 'import json,sys; print(json.load(sys.stdin)["io_engine"])')"

# Docker's default seccomp profile makes io_uring_setup fail with EPERM: the same filter (raw BPF,
# installed by Python before it execs ringload) and `auto` must load through O_DIRECT preads, say
# so and why, and leave nothing cached; an explicit io_uring strategy fails naming the way out.
under_seccomp() {  # COMMAND...: run with io_uring_setup → EPERM; exit 77 where no filter can be set
  python3 - "$@" <<'PY'
import ctypes, os, platform, struct, sys
arch = {"x86_64": 0xC000003E, "aarch64": 0xC00000B7}.get(platform.machine())
if arch is None:
    sys.exit(77)
NR_IO_URING_SETUP, EPERM = 425, 1  # 425 on every architecture (the unified syscall table)
def stmt(code, k): return struct.pack("HBBI", code, 0, 0, k)
def jump(code, k, jt, jf): return struct.pack("HBBI", code, jt, jf, k)
LD_ABS_W, JEQ_K, RET_K = 0x20, 0x15, 0x06
ALLOW, ERRNO = 0x7FFF0000, 0x00050000
prog = b"".join([stmt(LD_ABS_W, 4), jump(JEQ_K, arch, 1, 0), stmt(RET_K, ALLOW), stmt(LD_ABS_W, 0),
                 jump(JEQ_K, NR_IO_URING_SETUP, 0, 1), stmt(RET_K, ERRNO | EPERM), stmt(RET_K, ALLOW)])
buf = ctypes.create_string_buffer(prog)
fprog = struct.pack("HxxxxxxQ", len(prog) // 8, ctypes.addressof(buf))
fprog_buf = ctypes.create_string_buffer(fprog)
libc = ctypes.CDLL(None, use_errno=True)
libc.prctl.argtypes = [ctypes.c_int] + [ctypes.c_ulong] * 4
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2
if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
   libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.addressof(fprog_buf), 0, 0) != 0:
    sys.exit(77)
os.execv(sys.argv[1], sys.argv[1:])
PY
}
seccomp_auto_ok() {
  local file="$work/sec.safetensors"
  "$ringload" gen -q --format safetensors --size 8MiB "$file" && sync "$file" || return 1
  dd if="$file" iflag=nocache count=0 status=none 2>/dev/null
  under_seccomp "$ringload" load -q --json --strategy auto --sink null "$file" >"$work/sec.json"
  local rc=$?
  [[ $rc -eq 77 ]] && { echo "skip: no seccomp filter here" >&2; return 0; }
  [[ $rc -eq 0 ]] || return 1
  python3 - "$work/sec.json" <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))
assert r["strategy"] == "pread-direct" and r["io_engine"] == "pread", (r["strategy"], r["io_engine"])
assert "EPERM" in r["io_engine_reason"] and "io_uring_setup" in r["io_engine_reason"], r["io_engine_reason"]
assert r["file_resident_pages_after"] == 0, r["file_resident_pages_after"]
PY
}
seccomp_uring_fails() {
  under_seccomp "$ringload" load -q --strategy uring-direct --sink null "$work/g.safetensors" \
    >/dev/null 2>"$work/sec.err"
  local rc=$?
  [[ $rc -eq 77 ]] && return 0
  [[ $rc -ne 0 ]] && grep -q "io_uring_setup failed" "$work/sec.err" && grep -q "pread-direct" "$work/sec.err"
}
check "under seccomp (io_uring_setup EPERM) auto loads through pread-direct, nothing cached" seccomp_auto_ok
check "under seccomp an explicit uring strategy fails naming pread-direct" seccomp_uring_fails
check "load --trace writes Chrome trace JSON" bash -c "
  '$ringload' load -q --strategy uring --trace '$work/trace.json' '$work/g.safetensors' >/dev/null &&
  python3 -c 'import json,sys; e=json.load(open(sys.argv[1]))[\"traceEvents\"]; assert any(x.get(\"ph\")==\"X\" for x in e)' '$work/trace.json'"
check "load of a bad file exits 2" bash -c "'$ringload' load -q '$fixtures/malformed/ollama-test-truncated-6B.gguf' 2>/dev/null; [[ \$? -eq 2 ]]"
check "load --sink cuda without a GPU fails cleanly" bash -c "'$ringload' load -q --sink cuda '$work/g.safetensors' 2>'$work/cuda.err'; rc=\$?; [[ \$rc -eq 0 || \$rc -eq 1 ]] && { [[ \$rc -eq 0 ]] || grep -q no_device '$work/cuda.err'; }"
check "gen rejects an unknown dtype with exit 2" bash -c "'$ringload' gen -q --format gguf --dtype Q9_9 '$work/x.gguf' 2>/dev/null; [[ \$? -eq 2 ]]"

# ringload bench: a quick smoke of the whole command (every strategy once on a 64 MiB file) and its
# JSON contract (bench/BENCH_JSON.md). --evict fadvise: evicting with drop_caches would empty the
# page cache of everything else on a shared CI machine.
bench_contract_ok() {  # JSON SVG: the document has the contract's keys, 8 results, a timeline
  python3 - "$1" "$2" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert list(doc) == ["ringload_bench", "machine", "file", "sink", "repeat", "started_utc", "ceilings",
                     "results", "timeline", "pressure"], list(doc)
assert doc["ringload_bench"] == 1 and doc["sink"] == "null" and doc["repeat"] == 1
assert list(doc["machine"]) == ["cpu", "cores", "memory_bytes", "kernel", "filesystem", "device"]
assert list(doc["file"]) == ["path", "format", "file_size", "tensor_bytes", "tensors"]
assert doc["file"]["format"] == "safetensors" and doc["file"]["tensor_bytes"] > 60 << 20
c = doc["ceilings"]
assert list(c) == ["odirect_qd32_gb_per_s", "mmap_touch_gb_per_s", "disk_gb_per_s", "memcpy_gb_per_s",
                   "fresh_memcpy_gb_per_s", "fresh_fault_cpu_s_per_gb", "pinned_h2d_gb_per_s"], list(c)
assert c["disk_gb_per_s"] == max(c["odirect_qd32_gb_per_s"], c["mmap_touch_gb_per_s"]) > 0
assert c["memcpy_gb_per_s"] > 0
assert (c["fresh_memcpy_gb_per_s"] is None) == (doc["results"][0]["cache"] == "cold"), c  # warm runs only
assert c["fresh_fault_cpu_s_per_gb"] is None, c  # host sink only
run_keys = ["wall_s", "gb_per_s", "time_to_first_tensor_s", "cpu_s_per_gb", "peak_rss", "anon_rss_after",
            "file_resident_pages_after", "file_total_pages", "zram_orig_delta", "zram_compr_delta",
            "zram_mem_used_delta", "swap_bytes", "anon_rss_bytes", "file_resident_pages", "oom_killed",
            "cgroup_peak_bytes", "cgroup_file_bytes_peak", "major_faults"]
no_cgroup = ("cgroup_peak_bytes", "cgroup_file_bytes_peak")  # null without --memory-limit
results = doc["results"]
assert [r["strategy"] for r in results] == ["read", "mmap", "mmap-pipelined", "uring", "uring-direct",
                                            "uring-dontcache", "auto", "pread-direct"], [r["strategy"] for r in results]
for r in results:
    assert list(r) == ["strategy", "ran_as", "cache", "runs", "median", "min", "max", "fraction_of_ceiling",
                       "x_read", "x_mmap"], list(r)
    assert r["cache"] == "cold" and len(r["runs"]) == 1 and r["ran_as"]
    for run in r["runs"] + [r["median"], r["min"], r["max"]]:
        assert list(run) == run_keys, list(run)
        assert run["oom_killed"] is False
        assert all(run[k] is None for k in no_cgroup), run
        assert all(isinstance(v, (int, float)) and not isinstance(v, bool) for k, v in run.items()
                   if k not in no_cgroup + ("oom_killed",)), run
        assert run["file_resident_pages"] <= run["file_total_pages"] and run["swap_bytes"] >= 0
    assert r["median"]["gb_per_s"] > 0 and r["min"]["wall_s"] <= r["median"]["wall_s"] <= r["max"]["wall_s"]
    assert r["fraction_of_ceiling"] > 0 and r["x_read"] > 0 and r["x_mmap"] > 0
assert results[0]["x_read"] == 1.0 and results[1]["x_mmap"] == 1.0
t = doc["timeline"]
assert list(t) == ["strategy", "cache", "spans"] and t["cache"] == "cold" and t["spans"]
for s in t["spans"]:
    assert list(s) == ["stage", "start_s", "end_s", "bytes", "slot"] and s["stage"] in ("read", "copy", "release")
    assert 0 <= s["start_s"] <= s["end_s"]
assert doc["pressure"] == {"memory_limit_bytes": None, "cgroup": None, "cgroup_parent": None, "zram": None,
                           "hold_s": 0}, doc["pressure"]
assert open(sys.argv[2]).read().startswith("<svg")
PY
}
check "bench smoke: 8 strategies, JSON contract, SVG, temp file removed" bash -c "
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
check "bench --help teaches the pressure flags" bash -c "
  '$ringload' bench --help >'$work/bench-help' && grep -q -- '--memory-limit' '$work/bench-help' &&
  grep -q -- '--zram' '$work/bench-help' && grep -q -- '--hold' '$work/bench-help' && grep -q 'restore' '$work/bench-help'"
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
# Memory pressure: ringload bench --memory-limit / --zram / --hold, load --hold, memstat's cgroup
# and --watch. What needs root, a memory cgroup controller or zram runs only where they are.
one_line_exit_2() {  # COMMAND...: exit 2, one stderr line, nothing on stdout
  local rc
  "$@" >"$work/p.out" 2>"$work/p.err"
  rc=$?
  [[ $rc -eq 2 ]] || { echo "  exit $rc, want 2: $(cat "$work/p.err")" >&2; return 1; }
  [[ $(wc -l <"$work/p.err") -eq 1 ]] || { echo "  stderr has $(wc -l <"$work/p.err") lines" >&2; return 1; }
  [[ ! -s "$work/p.out" ]] || { echo "  stdout not empty" >&2; return 1; }
}
check "bench --memory-limit that is not a size exits 2" one_line_exit_2 \
  "$ringload" bench --memory-limit lots "$work/g.safetensors"
check "bench --zram that is not a size exits 2" one_line_exit_2 "$ringload" bench --zram 0 "$work/g.safetensors"
check "load --hold 0 --json reports what was held" bash -c "
  '$ringload' load -q --json --hold 0 --strategy mmap --sink null '$work/g.safetensors' | python3 -c 'import json,sys
h = json.load(sys.stdin)[\"hold\"]
assert list(h) == [\"held_s\", \"kept\", \"swap_bytes\", \"anon_rss_bytes\", \"file_resident_pages\", \"file_total_pages\",
                   \"zram_device\", \"zram_initialised\", \"zram_orig_data_size\", \"zram_compr_data_size\",
                   \"zram_mem_used_total\"], list(h)
assert h[\"kept\"] == \"mapping\" and h[\"file_total_pages\"] > 0 and h[\"file_resident_pages\"] == 0'"
check "load --hold keeps read's heap copy" bash -c "
  '$ringload' load -q --json --hold 0.1 --strategy read --sink null '$work/g.safetensors' | python3 -c 'import json,sys
r = json.load(sys.stdin); h = r[\"hold\"]
assert h[\"kept\"] == \"heap copy\" and h[\"anon_rss_bytes\"] >= 3 << 20, h   # the 3 MiB file, on the heap
assert r[\"bytes_read\"] > 3 << 20 and r[\"file_total_pages\"] > 0 and r[\"file_resident_pages_after\"] == 0, r'"
check "memstat shows the memory cgroup" bash -c "'$ringload' memstat --json | python3 -c 'import json,sys
d = json.load(sys.stdin); c = d[\"cgroup\"]
assert c is None or (c[\"version\"] in (\"v1\", \"v2\") and c[\"current\"] > 0), c'"
watch_until_interrupted() {  # memstat --watch --json: a JSON line per sample; SIGINT ends it with exit 0
  "$ringload" memstat --watch 50 --json "$work/g.safetensors" >"$work/watch.jsonl" &
  local pid=$! rc
  sleep 0.5
  kill -INT $pid
  wait $pid
  rc=$?
  [[ $rc -eq 0 ]] || { echo "  exit $rc after SIGINT" >&2; return 1; }
  python3 - "$work/watch.jsonl" <<'PY'
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
assert len(lines) >= 3, len(lines)
assert all("t_s" in l and "cgroup" in l and l["files"][0]["total_pages"] > 0 for l in lines)
assert [l["t_s"] for l in lines] == sorted(l["t_s"] for l in lines)
PY
}
check "memstat --watch --json samples until SIGINT" watch_until_interrupted
check "memstat --watch of a process that does not exist exits 1" bash -c "
  '$ringload' memstat --pid 2147483647 --watch 10 >/dev/null 2>&1; [[ \$? -eq 1 ]]"

as_nobody() {  # COMMAND...: run unprivileged (setpriv, else runuser); 77 when neither can
  if command -v setpriv >/dev/null && setpriv --reuid=65534 --regid=65534 --clear-groups true 2>/dev/null; then
    setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
  elif command -v runuser >/dev/null && runuser -u nobody -- true 2>/dev/null; then
    runuser -u nobody -- "$@"
  else
    return 77
  fi
}
if [[ $(id -u) -eq 0 ]] && as_nobody "$ringload" --version >/dev/null 2>&1; then
  # Before anything runs: no --gen file is made (--out-dir stays absent).
  check "bench --zram without root: one line, exit 2, nothing run" bash -c "
    $(declare -f one_line_exit_2 as_nobody); work='$work'
    one_line_exit_2 as_nobody '$ringload' bench --zram 1GiB --gen 64MiB --format gguf --out-dir /tmp/ringload-nobody-$$ &&
    [[ ! -e /tmp/ringload-nobody-$$ ]] && grep -q root '$work/p.err'"
  check "bench --memory-limit without root: one line, exit 2" bash -c "
    $(declare -f one_line_exit_2 as_nobody); work='$work'
    one_line_exit_2 as_nobody '$ringload' bench --memory-limit 1GiB --gen 64MiB --format gguf --out-dir /tmp/ringload-nobody-$$ &&
    [[ ! -e /tmp/ringload-nobody-$$ ]]"
elif [[ $(id -u) -ne 0 ]]; then
  check "bench --zram without root: one line, exit 2" one_line_exit_2 "$ringload" bench --zram 1GiB "$work/g.safetensors"
else
  echo "skip: no way to run as an unprivileged user here (setpriv/runuser): --zram/--memory-limit without root unchecked"
fi

# Run cgroups are made under the bench's own cgroup as ringload-bench-<pid>-<n>.
own_cgroup_dir=$("$ringload" memstat --json | python3 -c 'import json,sys; c = json.load(sys.stdin)["cgroup"]; print(c["dir"] if c else "")')
no_run_cgroups_left() { ! ls -d "$own_cgroup_dir"/ringload-bench-* >/dev/null 2>&1; }
zram_state() { cat /proc/swaps; for d in /sys/block/zram*; do echo "$d $(cat "$d/disksize") $(cat "$d/comp_algorithm")"; done; }
if [[ $(id -u) -ne 0 || -z "$own_cgroup_dir" ]]; then
  echo "skip: cgroup and zram runs need root and a memory cgroup controller"
else
  "$ringload" gen -q --format safetensors --size 512MiB --tensors 16 "$work/m512.safetensors"
  # The issue's cgroup check: read (the whole file on the heap, no swap) cannot fit a limit smaller
  # than the model; uring-direct needs its ring and little else. 256 MiB: ring (128 MiB) + 64 MiB fits.
  cgroup_run_ok() {
    "$ringload" bench -q --strategies read,uring-direct --repeat 1 --evict fadvise --memory-limit 256MiB \
      --json "$work/cg.json" "$work/m512.safetensors" >"$work/cg.txt" 2>&1 || { cat "$work/cg.txt" >&2; return 1; }
    grep -q 'OOM-killed 1/1' "$work/cg.txt" || { echo "  table shows no OOM kill" >&2; return 1; }
    no_run_cgroups_left || { echo "  run cgroups left in $own_cgroup_dir" >&2; return 1; }
    python3 - "$work/cg.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
p = doc["pressure"]
assert p["memory_limit_bytes"] == 256 << 20 and p["cgroup"] in ("v1", "v2") and p["zram"] is None, p
read, direct = doc["results"]
assert read["strategy"] == "read" and read["runs"][0]["oom_killed"] is True, read["runs"]
assert read["runs"][0]["gb_per_s"] is None and read["runs"][0]["cgroup_peak_bytes"] > 0
run = direct["runs"][0]
assert direct["strategy"] == "uring-direct" and run["oom_killed"] is False and run["gb_per_s"] > 0, run
assert run["cgroup_peak_bytes"] <= (128 + 64) << 20, run["cgroup_peak_bytes"] / 2**20
assert run["cgroup_file_bytes_peak"] is not None and run["major_faults"] >= 0
PY
  }
  check "bench --memory-limit: read OOM-killed, uring-direct within ring + 64 MiB, cgroups removed" cgroup_run_ok

  if [[ ! -e /sys/block/zram0 && ! -e /sys/class/zram-control/hot_add ]]; then
    echo "skip: zram runs need the zram module (modprobe zram)"
  else
    # The issue's zram check, with a 192 MiB limit where it says 128 MiB: io_uring pins its 128 MiB
    # ring (registered buffers), which cannot be swapped, so a 128 MiB limit OOM-kills the uring
    # strategies before anything is held. 384 MiB of model keeps read's heap well above the limit.
    "$ringload" gen -q --format safetensors --size 384MiB --tensors 16 "$work/m384.safetensors"
    zram_run_ok() {
      local before
      before=$(zram_state)
      "$ringload" bench -q --strategies read,mmap-pipelined,uring-direct --repeat 1 --evict fadvise \
        --memory-limit 192MiB --zram 512MiB --hold 2 --json "$work/zr.json" --svg "$work/zr.svg" \
        "$work/m384.safetensors" >"$work/zr.txt" 2>&1 || { cat "$work/zr.txt" >&2; return 1; }
      [[ "$(zram_state)" == "$before" ]] || { echo "  zram/swap not restored:" >&2; zram_state >&2; return 1; }
      no_run_cgroups_left || { echo "  run cgroups left" >&2; return 1; }
      grep -q 'Memory pressure' "$work/zr.svg" || { echo "  SVG has no memory-pressure panel" >&2; return 1; }
      python3 - "$work/zr.json" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
assert doc["pressure"]["zram"]["disksize"] == 512 << 20 and doc["pressure"]["hold_s"] == 2, doc["pressure"]
mib = 1 << 20
for r in doc["results"]:
    run = r["runs"][0]
    assert run["oom_killed"] is False, (r["strategy"], run)
    if r["strategy"] == "read":
        assert run["swap_bytes"] >= 64 * mib and run["zram_orig_delta"] >= 64 * mib, run
    else:
        assert run["swap_bytes"] <= 4 * mib and run["zram_orig_delta"] <= 4 * mib, (r["strategy"], run)
PY
    }
    check "bench --zram --hold: read's heap copy ends in zram, pipelined leave <= 4 MiB; zram restored" zram_run_ok
    zram_interrupted_ok() {
      local before pid rc i
      before=$(zram_state)
      "$ringload" bench -q --strategies read --repeat 3 --evict fadvise --memory-limit max --zram 256MiB \
        --hold 30 "$work/m384.safetensors" >"$work/zi.txt" 2>&1 &
      pid=$!
      for i in $(seq 100); do grep -q zram /proc/swaps && break; sleep 0.1; done
      sleep 2  # into the first child's load or hold
      kill -INT $pid
      wait $pid
      rc=$?
      [[ $rc -eq 130 ]] || { echo "  exit $rc after SIGINT, want 130" >&2; cat "$work/zi.txt" >&2; return 1; }
      [[ "$(zram_state)" == "$before" ]] || { echo "  zram/swap not restored:" >&2; zram_state >&2; return 1; }
      no_run_cgroups_left || { echo "  run cgroups left" >&2; return 1; }
    }
    check "bench --zram interrupted by SIGINT mid-run: swap, zram and cgroups restored" zram_interrupted_ok
  fi
fi

# Whole checkpoints: gen --shards writes them, inspect takes any path of one (a directory, an index,
# any GGUF split) and prints one object per file in checkpoint order; a damaged set is one stderr
# line naming the files and the tensor at fault, exit 2, nothing on stdout.
ckpt_json_ok() {  # PATH N: inspect --json PATH is an array of N per-file objects of today's schema, in shard order
  "$ringload" inspect --json "$1" >"$work/ckpt.json" || return 1
  python3 - "$work/ckpt.json" "$2" <<'PY'
import json, os, re, sys
doc, n = json.load(open(sys.argv[1])), int(sys.argv[2])
assert isinstance(doc, list) and len(doc) == n, (type(doc), len(doc))
for k, f in enumerate(doc, 1):
    assert list(f) == ["path", "format", "file_size", "metadata", "tensors"], list(f)
    assert re.fullmatch(r"model-%05d-of-%05d\.(safetensors|gguf)" % (k, n), os.path.basename(f["path"])), f["path"]
    for t in f["tensors"]:
        assert list(t) == ["name", "dtype", "shape", "offset", "size"], list(t)
        assert t["offset"] + t["size"] <= f["file_size"]
    offsets = [t["offset"] for t in f["tensors"]]
    assert offsets == sorted(offsets) and offsets, f["path"]
PY
}
same_tensors_as_single() {  # SINGLE PATH: every tensor's bytes in the set equal the single file's (read by offset)
  "$ringload" inspect --json "$1" >"$work/one.json" && "$ringload" inspect --json "$2" >"$work/set.json" || return 1
  python3 - "$work/one.json" "$work/set.json" <<'PY'
import hashlib, json, sys
def tensors(files):
    out = {}
    for f in files:
        data = open(f["path"], "rb").read()
        for t in f["tensors"]:
            assert t["name"] not in out, t["name"]
            out[t["name"]] = (t["dtype"], t["shape"], hashlib.sha256(data[t["offset"]:t["offset"] + t["size"]]).hexdigest())
    return out
one, whole = tensors([json.load(open(sys.argv[1]))]), tensors(json.load(open(sys.argv[2])))
assert one == whole, f"{len(one)} vs {len(whole)} tensors; {sum(one.get(k) != v for k, v in whole.items())} differ"
PY
}
expect_damaged() {  # PATH TEXT...: exit 2, nothing on stdout, one stderr line naming every TEXT
  local path=$1 rc text
  shift
  "$ringload" inspect --json "$path" >"$work/out" 2>"$work/err"
  rc=$?
  [[ $rc -eq 2 ]] || { echo "  $path: exit $rc, want 2" >&2; return 1; }
  [[ ! -s "$work/out" ]] || { echo "  $path: stdout not empty" >&2; return 1; }
  [[ $(wc -l <"$work/err") -eq 1 ]] || { echo "  $path: stderr has $(wc -l <"$work/err") lines" >&2; return 1; }
  for text in "$@"; do
    grep -qF -- "$text" "$work/err" || { echo "  $path: stderr does not name $text: $(cat "$work/err")" >&2; return 1; }
  done
}
fresh_set() {  # FORMAT DIR [SHARDS]: a small checkpoint of 24 tensors
  rm -rf "$2" && "$ringload" gen -q --format "$1" --size 2MiB --tensors 24 --dtype F16 --shards "${3:-3}" "$2"
}
shard() { printf '%s/model-%05d-of-%05d.%s' "$1" "$2" "$3" "$4"; }

fresh_set safetensors "$work/hf"
"$ringload" gen -q --format safetensors --size 2MiB --tensors 24 --dtype F16 "$work/hf-one.safetensors"
check "gen --shards: 3 shards and an index" bash -c "[[ \$(ls '$work/hf' | wc -l) -eq 4 && -f '$work/hf/model.safetensors.index.json' ]]"
check "inspect --json of an HF directory: 3 objects in shard order" ckpt_json_ok "$work/hf" 3
check "inspect --json of its index: the same" ckpt_json_ok "$work/hf/model.safetensors.index.json" 3
check "gen --shards safetensors: each tensor's bytes equal the single file's" same_tensors_as_single \
  "$work/hf-one.safetensors" "$work/hf"
check "index: metadata.total_size is the tensor bytes, weight_map sorted and naming each tensor's shard" python3 - \
  "$work/hf/model.safetensors.index.json" "$work/set.json" <<'PY'
import json, os, sys
index, files = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert index["metadata"]["total_size"] == sum(t["size"] for f in files for t in f["tensors"])
keys = list(index["weight_map"])
assert keys == sorted(keys, key=lambda k: k.encode()), "weight_map not sorted"
assert index["weight_map"] == {t["name"]: os.path.basename(f["path"]) for f in files for t in f["tensors"]}
PY
check "inspect table of a checkpoint: layout, files, then each file" bash -c "
  '$ringload' inspect '$work/hf' >'$work/table.txt' && grep -q 'checkpoint (index): 3 files, 24 tensors' '$work/table.txt' &&
  [[ \$(grep -c '^  total: ' '$work/table.txt') -eq 3 ]]"

fresh_set gguf "$work/split"
"$ringload" gen -q --format gguf --size 2MiB --tensors 24 --dtype F16 "$work/split-one.gguf"
for k in 1 2 3; do
  check "inspect --json of GGUF split $k: the whole set" ckpt_json_ok "$(shard "$work/split" $k 3 gguf)" 3
done
check "gen --shards gguf: each tensor's bytes equal the single file's" same_tensors_as_single \
  "$work/split-one.gguf" "$work/split"
check "GGUF splits: split.no 0-based, split.count, split.tensors.count; model keys in the first only" python3 - \
  "$work/set.json" <<'PY'
import json, sys
files = json.load(open(sys.argv[1]))
total = sum(len(f["tensors"]) for f in files)
for k, f in enumerate(files):
    m = f["metadata"]
    assert (m["split.no"], m["split.count"], m["split.tensors.count"]) == (k, 3, total), m
    assert ("general.architecture" in m) == (k == 0), (k, sorted(m))
PY

mkdir -p "$work/onefile" && cp "$work/hf-one.safetensors" "$work/onefile/"
check "inspect --json of a directory of one model file: one object" bash -c \
  "'$ringload' inspect --json '$work/onefile' | python3 -c 'import json,sys; assert isinstance(json.load(sys.stdin), dict)'"

rm "$(shard "$work/hf" 2 3 safetensors)"
check "damaged set: a missing shard is named" expect_damaged "$work/hf" "$(shard "$work/hf" 2 3 safetensors)" missing_shard
fresh_set safetensors "$work/hf"
python3 - "$work/hf/model.safetensors.index.json" "$(shard "$work/hf" 3 3 safetensors)" >"$work/moved" <<'PY'
import json, os, sys
index = json.load(open(sys.argv[1]))
name = next(n for n, s in index["weight_map"].items() if s == os.path.basename(sys.argv[2]))
index["weight_map"][name] = "model-00001-of-00003.safetensors"
json.dump(index, open(sys.argv[1], "w"))
print(name)
PY
check "damaged set: a tensor the index maps to a shard that does not hold it" expect_damaged "$work/hf" \
  "tensor '$(cat "$work/moved")'" model-00001-of-00003.safetensors model-00003-of-00003.safetensors misplaced_tensor
fresh_set safetensors "$work/hf"
python3 - "$work/hf/model.safetensors.index.json" >"$work/dropped" <<'PY'
import json, sys
index = json.load(open(sys.argv[1]))
name = sorted(index["weight_map"])[0]
shard = index["weight_map"].pop(name)
json.dump(index, open(sys.argv[1], "w"))
print(name, shard)
PY
read -r dropped_name dropped_shard <"$work/dropped"
check "damaged set: a tensor in a shard the index does not list" expect_damaged "$work/hf" \
  "tensor '$dropped_name'" "$dropped_shard" unlisted_tensor
printf '{"metadata": {"total_size": 1}, "weight_map": ' >"$work/hf/model.safetensors.index.json"
check "damaged set: an index that is not JSON" expect_damaged "$work/hf" model.safetensors.index.json malformed_index
mkdir -p "$work/dup"
"$ringload" gen -q --format safetensors --size 1MiB --tensors 4 "$work/dup/a.safetensors"
"$ringload" gen -q --format safetensors --size 1MiB --tensors 4 --seed 1 "$work/dup/b.safetensors"
check "damaged set: one tensor name in two files" expect_damaged "$work/dup" "$work/dup/a.safetensors" \
  "$work/dup/b.safetensors" "tensor '" duplicate_name
rm "$(shard "$work/split" 2 3 gguf)"
check "damaged set: a missing GGUF split is named" expect_damaged "$(shard "$work/split" 3 3 gguf)" \
  "$(shard "$work/split" 2 3 gguf)" missing_shard
fresh_set gguf "$work/split"
cp "$work/hf-one.safetensors" "$work/split/x.safetensors"
fresh_set gguf "$work/split2" 2
cp "$work/split2"/*.gguf "$work/split/"
check "a directory with two GGUF split sets is ambiguous, both named" expect_damaged "$work/split" \
  model-00001-of-00002.gguf model-00001-of-00003.gguf ambiguous_checkpoint
check "gen --shards refuses APR with exit 2" bash -c \
  "'$ringload' gen -q --format apr --shards 2 '$work/apr-set' 2>/dev/null; [[ \$? -eq 2 && ! -e '$work/apr-set' ]]"
check "gen --help teaches --shards" bash -c "'$ringload' gen --help | grep -q -- '--shards N'"
check "inspect --help teaches checkpoints" bash -c "'$ringload' inspect --help | grep -q 'index.json'"

# bench of a checkpoint: the file object describes the whole set, every strategy loads all of it
fresh_set safetensors "$work/hf"
check "bench of a checkpoint: file object summed over the set, every run loads every byte" python3 - \
  "$ringload" "$work/hf" "$work" <<'PY'
import glob, json, os, subprocess, sys
ringload, ckpt, work = sys.argv[1:]
out = os.path.join(work, "ckpt-bench.json")
subprocess.run([ringload, "bench", "-q", "--evict", "fadvise", "--repeat", "1", "--strategies",
                "mmap-pipelined,uring-direct,read", "--json", out, ckpt], check=True, stdout=subprocess.DEVNULL)
doc = json.load(open(out))
shards = sorted(glob.glob(os.path.join(ckpt, "model-*.safetensors")))
f = doc["file"]
assert f["files"] == shards, f
assert f["file_size"] == sum(os.path.getsize(s) for s in shards), f
assert f["tensors"] == 24, f
for r in doc["results"]:
    assert "failure" not in r or not r["failure"], r
    assert len(r["runs"]) == 1, r
    # The hold figures count the whole set's pages, not one file's.
    assert r["runs"][0]["file_total_pages"] >= len(shards), r["runs"][0]
PY

# Per-rank slices: each rank's part (numpy.array_split along the dim, contiguous) is what --checksum
# hashes, cut here from the file by plain row copying; --verify checks it too.
slice_parts_ok() {  # WORLD MODE(outer|inner): every rank's digests equal the parts of every tensor
  python3 - "$ringload" "$work/g.safetensors" "$1" "$2" <<'PY'
import hashlib, json, struct, subprocess, sys
ringload, path, world, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
data = open(path, "rb").read()
n = struct.unpack("<Q", data[:8])[0]
header = {k: v for k, v in json.loads(data[8:8 + n]).items() if k != "__metadata__"}
size = {"BF16": 2, "F16": 2, "F32": 4}
dims = {k: (0 if mode == "outer" else len(v["shape"]) - 1) for k, v in header.items()}
rules = ["*:0"] if mode == "outer" else [f"{k}:{d}" for k, d in dims.items()]
for rank in range(world):
    args = [ringload, "load", "-q", "--json", "--verify", "--checksum", "sha256", "--strategy", "uring-direct"]
    for r in rules:
        args += ["--slice", r]
    out = subprocess.run(args + ["--rank", str(rank), "--world", str(world), path], check=True,
                         capture_output=True, text=True).stdout
    got = {t["name"]: (t["sha256"], t["size"]) for t in json.loads(out)["tensors"]}
    for name, v in header.items():
        shape, d, es = v["shape"], dims[name], size[v["dtype"]]
        base = 8 + n + v["data_offsets"][0]
        rows = shape[d]
        outer = 1
        for x in shape[:d]:
            outer *= x
        inner = es
        for x in shape[d + 1:]:
            inner *= x
        counts = [rows // world + (1 if k < rows % world else 0) for k in range(world)]
        a = sum(counts[:rank])
        part = b"".join(data[base + (o * rows + r) * inner:base + (o * rows + r + 1) * inner]
                        for o in range(outer) for r in range(a, a + counts[rank]))
        assert got[name] == (hashlib.sha256(part).hexdigest(), len(part)), (name, rank, world)
PY
}
check "load --slice '*:0' --rank R --world 3 --verify: each rank's digests are its parts" slice_parts_ok 3 outer
check "load --slice NAME:last --rank R --world 2 --verify: strided parts, each rank's digests" slice_parts_ok 2 inner
for bad in "x" "*:" "*:-1" "*:1.5" ":0" "*:99999999999"; do
  check "load --slice '$bad' exits 2" bash -c "'$ringload' load -q --slice '$bad' '$work/g.safetensors' 2>/dev/null; [[ \$? -eq 2 ]]"
done
check "load --rank without --slice exits 2" bash -c "'$ringload' load -q --rank 1 --world 2 '$work/g.safetensors' 2>/dev/null; [[ \$? -eq 2 ]]"
check "load --slice with a missing dim exits 2" bash -c "'$ringload' load -q --slice '*:7' --world 2 '$work/g.safetensors' 2>/dev/null; [[ \$? -eq 2 ]]"
check "load --slice with --shard exits 2" bash -c "'$ringload' load -q --slice '*:0' --world 2 --shard 0/2 '$work/g.safetensors' 2>/dev/null; [[ \$? -eq 2 ]]"

echo "cli: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
