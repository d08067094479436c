#!/usr/bin/env bash
# llama.cpp as a peer: `ringload gen` GGUF files of every dtype llama rows cover load in llama.cpp
# itself (node-llama-cpp 3.21.1's prebuilt CPU build), llama.cpp agrees with `ringload inspect` on
# the tensor count and the model size, and `ringload bench --peers llama.cpp` adds its rows to the
# JSON as bench/BENCH_JSON.md documents them. Without node, npm or the npm registry those checks are
# skipped with the reason; the refusals without node/npm are checked always.
# Usage: llama_cpp_test.sh RINGLOAD. Ends with "llama: N passed, N failed".
# The peer installs into the user's cache (~/.cache/ringload/peers/llama_cpp) once, as a user's would.
set -u
ringload=$1
work=$(mktemp -d "${TMPDIR:-/var/tmp}/ringload-llama.XXXXXX")
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() {  # check NAME COMMAND...: the command must succeed
  local name=$1
  shift
  if "$@"; then passed=$((passed + 1)); else failed=$((failed + 1)); echo "FAIL: $name" >&2; fi
}

"$ringload" gen -q --format gguf --size 2MiB --dtype F16 "$work/tiny.gguf" || { echo "llama: 0 passed, 1 failed"; exit 1; }

refuses_one_line() {  # WANT PATH_VALUE: one stderr line naming WANT, exit 2, nothing run or written
  local want=$1 path_value=$2 rc
  env PATH="$path_value" XDG_CACHE_HOME="$work/empty-cache" "$ringload" bench -q --peers llama.cpp \
    --strategies read --repeat 1 --evict fadvise --json "$work/refused.json" "$work/tiny.gguf" \
    >"$work/refused.out" 2>"$work/refused.err"
  rc=$?
  [[ $rc -eq 2 ]] || { echo "  exit $rc, want 2" >&2; return 1; }
  [[ $(wc -l <"$work/refused.err") -eq 1 ]] || { echo "  stderr has $(wc -l <"$work/refused.err") lines" >&2; return 1; }
  grep -q "$want is not on PATH" "$work/refused.err" || { cat "$work/refused.err" >&2; return 1; }
  [[ ! -s "$work/refused.out" && ! -e "$work/refused.json" && ! -e "$work/empty-cache" ]] ||
    { echo "  something ran: output, JSON or cache left behind" >&2; return 1; }
}
mkdir -p "$work/node-only"
node_path=$(command -v node || true)
[[ -n "$node_path" ]] && ln -s "$node_path" "$work/node-only/node"
check "bench --peers without node: one line, exit 2, nothing run" refuses_one_line node "$work/no-such-dir"
if [[ -n "$node_path" ]]; then
  check "bench --peers without npm: one line, exit 2, nothing run" refuses_one_line npm "$work/node-only"
fi

# The rest needs node-llama-cpp: installed already, or npm and the registry to install it.
cache=${XDG_CACHE_HOME:-$HOME/.cache}/ringload/peers/llama_cpp
skip=""
if [[ -z "$node_path" ]]; then
  skip="node is not on PATH"
elif [[ ! -d "$cache/node_modules/node-llama-cpp" ]]; then
  if ! command -v npm >/dev/null; then
    skip="npm is not on PATH"
  elif ! timeout 30 npm view node-llama-cpp@3.21.1 version --fetch-retries=0 --fetch-timeout=15000 >/dev/null 2>&1; then
    skip="the npm registry is not reachable"
  fi
fi
if [[ -n "$skip" ]]; then
  echo "llama: skipped the llama.cpp loads and the bench peer rows: $skip"
  echo "llama: $passed passed, $failed failed"
  [[ $failed -eq 0 ]]
  exit
fi

# Installs on first use (npm ci) and shows the bench's peer rows: a tiny model, one run each.
bench_peers_json() {
  "$ringload" bench -q --peers llama.cpp --strategies read,auto --cache both --repeat 1 --sink host \
    --evict fadvise --json "$work/peers.json" --svg "$work/peers.svg" "$work/tiny.gguf" >"$work/peers.txt" 2>"$work/peers.err" ||
    { cat "$work/peers.err" >&2; return 1; }
  python3 - "$work/peers.json" "$work/peers.svg" <<'PY'
import json, sys
doc = json.load(open(sys.argv[1]))
rows = doc["results"]
measured = ["wall_s", "gb_per_s", "time_to_first_tensor_s", "cpu_s_per_gb", "peak_rss", "anon_rss_after",
            "file_resident_pages_after", "file_total_pages", "zram_orig_delta"]
# The memory-pressure figures (bench/BENCH_JSON.md RUN): null where this run measured none.
pressure = ["zram_compr_delta", "zram_mem_used_delta", "swap_bytes", "anon_rss_bytes", "file_resident_pages",
            "oom_killed", "cgroup_peak_bytes", "cgroup_file_bytes_peak", "major_faults"]
run_keys = measured + pressure
names = [(r["strategy"], r["cache"]) for r in rows]
want = [(s, c) for s in ["read", "auto", "llama.cpp:no-mmap", "llama.cpp:direct-io", "llama.cpp:mmap"]
        for c in ["cold", "warm"]]
assert names == want, names
for r in rows[:4]:
    assert "peer" not in r, r["strategy"]
for r in rows[4:]:
    assert list(r) == ["strategy", "peer", "ran_as", "cache", "runs", "median", "min", "max",
                       "fraction_of_ceiling", "x_read", "x_mmap"], list(r)
    assert r["peer"] is True and r["ran_as"] == r["strategy"] and len(r["runs"]) == 1
    for run in r["runs"] + [r["median"], r["min"], r["max"]]:
        assert list(run) == run_keys, list(run)
        assert run["time_to_first_tensor_s"] is None
        assert all(isinstance(run[k], (int, float)) for k in measured if k != "time_to_first_tensor_s")
        assert all(run[k] is None or isinstance(run[k], (int, float)) for k in pressure), run
        assert run["wall_s"] > 0 and run["gb_per_s"] > 0 and run["peak_rss"] > 50e6
        assert run["file_total_pages"] == rows[0]["median"]["file_total_pages"]
    assert r["x_read"] > 0 and r["x_mmap"] is None and r["fraction_of_ceiling"] > 0
mmap_cold = rows[-2]["median"]
assert mmap_cold["file_resident_pages_after"] == mmap_cold["file_total_pages"], "mmap leaves the file cached"
assert open(sys.argv[2]).read().startswith("<svg")
PY
}
check "bench --peers llama.cpp: installs, rows in --json per BENCH_JSON.md, SVG" bench_peers_json

# Each dtype llama rows cover: llama.cpp loads it, and agrees with ringload inspect.
loads_and_agrees() {  # DTYPE MODE
  local dtype=$1 mode=$2 model="$work/$1.gguf"
  [[ -f "$model" ]] || "$ringload" gen -q --format gguf --size 3MiB --dtype "$dtype" --seed 7 "$model" || return 1
  node "$cache/load.mjs" "$model" "$mode" >"$work/$dtype-$mode.json" 2>"$work/$dtype-$mode.err" ||
    { cat "$work/$dtype-$mode.err" >&2; return 1; }
  "$ringload" inspect --json "$model" >"$work/$dtype.inspect.json" || return 1
  python3 - "$work/$dtype-$mode.json" "$work/$dtype.inspect.json" "$dtype" <<'PY'
import json, sys
peer = json.load(open(sys.argv[1]))
ours = json.load(open(sys.argv[2]))
tensors = ours["tensors"]
assert peer["tensor_count"] == len(tensors), (peer["tensor_count"], len(tensors))
assert peer["model_size"] == sum(t["size"] for t in tensors), (peer["model_size"], sum(t["size"] for t in tensors))
assert peer["architecture"] == "llama"
assert peer["embedding_length"] == ours["metadata"]["llama.embedding_length"]
assert peer["vocabulary_type"] == "spm" and peer["newline_token"] == 13
assert peer["tokenizer_round_trip"] is True, "llama.cpp's tokenizer round-trips text through our vocabulary"
assert sys.argv[3].replace("_", "") in peer["description"].replace("_", "").upper(), peer["description"]
PY
}
for dtype in F16 BF16 F32 Q8_0 Q4_K; do
  check "llama.cpp loads a gen $dtype model and agrees with inspect" loads_and_agrees "$dtype" no-mmap
done
check "llama.cpp loads with direct-io" loads_and_agrees Q8_0 direct-io
check "llama.cpp loads with mmap" loads_and_agrees BF16 mmap

# A model ringload loads but llama.cpp refuses (--arch none: tensors its llama loader does not
# know): the peer's rows say why, the bench still succeeds.
failing_peer_is_a_row() {
  "$ringload" gen -q --format gguf --size 2MiB --tensors 20 --dtype F16 "$work/plain.gguf" || return 1
  "$ringload" bench -q --peers llama.cpp --strategies read --repeat 1 --evict fadvise \
    --json "$work/plain.json" "$work/plain.gguf" >/dev/null 2>&1 || { echo "  the bench failed" >&2; return 1; }
  python3 -c '
import json, sys
rows = json.load(sys.stdin)["results"]
assert [r["strategy"] for r in rows] == ["read", "llama.cpp:no-mmap", "llama.cpp:direct-io", "llama.cpp:mmap"]
for r in rows[1:]:
    assert r["peer"] is True and r["runs"] == [] and r["median"] is None and r["failure"], r
' <"$work/plain.json"
}
check "a failing peer is a row saying why, not a failed bench" failing_peer_is_a_row

# A GGUF split set from gen --shards: llama.cpp loads it from its first split (as it requires),
# every split's tensors counted, and our inspect of the set agrees.
split_set_loads() {  # MODE
  local dir="$work/split" mode=$1
  [[ -d "$dir" ]] || "$ringload" gen -q --format gguf --size 6MiB --dtype Q8_0 --shards 3 "$dir" || return 1
  node "$cache/load.mjs" "$dir/model-00001-of-00003.gguf" "$mode" >"$work/split-$mode.json" 2>"$work/split-$mode.err" ||
    { cat "$work/split-$mode.err" >&2; return 1; }
  "$ringload" inspect --json "$dir" >"$work/split.inspect.json" || return 1
  python3 - "$work/split-$mode.json" "$work/split.inspect.json" <<'PY'
import json, sys
peer, files = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
assert len(files) == 3
assert peer["model_size"] == sum(t["size"] for f in files for t in f["tensors"]), peer["model_size"]
assert peer["architecture"] == "llama" and peer["tokenizer_round_trip"] is True
PY
}
check "llama.cpp loads a gen --shards split set from its first split (no-mmap)" split_set_loads no-mmap
check "llama.cpp loads a gen --shards split set from its first split (mmap)" split_set_loads mmap

echo "llama: $passed passed, $failed failed"
[[ $failed -eq 0 ]]
