#!/usr/bin/env bash
# The whole check, as CI runs it (README's test command; .ci/run calls exactly this):
#   1. installs the Debian packages it needs;
#   2. builds a release build (g++) and an ASan+UBSan build with the fuzz targets (clang);
#   3. runs the whole suite (GoogleTest + CLI checks + the service example's checks) in both, and
#      the llama.cpp peer checks (tests/tools/llama_cpp_test.sh) and a 4-rank `ringload load --mpi`
#      job (tests/mpi/mpi_test.sh) against the release build;
#   4. installs the release build into a prefix and builds examples/consumer against the installed
#      ringload.pc (not the build tree), then runs it on a fixture;
#   5. runs the Python package's tests (pytest, release build only) and imports the installed copy;
#   6. checks clang-format (dry run, errors) and clang-tidy;
#   7. runs each libFuzzer target for FUZZ_SECONDS (default 60) seeded from the fixtures;
#   and, right after the release build, README's main job (tools/demo.sh) on a 256 MiB model.
# In both builds the suite includes every strategy on ext4, xfs, btrfs and tmpfs (tests/fs: loop
# devices, root; skipped with the reason otherwise) and the soak (tests/soak: 1,000 loads in the
# release build, RINGLOAD_SOAK_LOADS=100 under ASan). Each step prints its time, the end a table.
# Ends with one line "tests: N passed, N failed, N skipped"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
fixtures=${RINGLOAD_FIXTURES:-$root/../shared/fixtures}
fuzz_seconds=${FUZZ_SECONDS:-60}
jobs=$(nproc)
status=0

# Per-step wall times (the whole run must stay well under CI's budget): each step prints the one
# before it, the summary prints them all.
step_name=""
step_started=$SECONDS
step_times=()
end_step() {
  [[ -n $step_name ]] || return 0
  local took=$((SECONDS - step_started))
  printf '=== %s: %d s (total %d s)\n' "$step_name" "$took" "$SECONDS"
  step_times+=("$(printf '%6d s  %s' "$took" "$step_name")")
  step_name=""
}
step() {
  end_step
  printf '\n=== %s\n' "$*"
  step_name=$*
  step_started=$SECONDS
}

step "dependencies"
bash tools/ci/install-deps.sh

step "release build (g++)"
[[ -f build/build.ninja ]] || meson setup build --buildtype=release
meson compile -C build

# README's main job on a small model, right after the build it needs. It once died silently (SIGPIPE
# under pipefail) and nothing noticed: the check is that it ends well and prints its comparison
# table, the header and a row for each of today's seven strategies (new ones may follow them).
step "main job: SIZE=256MiB bash tools/demo.sh"
demo_ok=1
SIZE=256MiB EVICT=fadvise bash tools/demo.sh 2>&1 | tee build/demo.log || demo_ok=0
python3 - build/demo.log "$demo_ok" <<'PY' | tee build/demo-check.log || status=1
import re, sys
text, ran_to_end = open(sys.argv[1], errors="replace").read(), sys.argv[2] == "1"
problems = [] if ran_to_end else ["tools/demo.sh exited non-zero"]
if not re.search(r"^strategy +ran as +seconds +GB/s +x read +x mmap", text, re.M):
    problems.append("no comparison table header")
for name in ["read", "mmap", "mmap-pipelined", "uring", "uring-direct", "uring-dontcache", "auto"]:
    if not re.search(rf"^{re.escape(name)} +\S+ +\d+\.\d+ +\d+\.\d+ ", text, re.M):
        problems.append(f"no table row for {name}")
for p in problems:
    print(f"demo: {p}")
print(f"demo: {0 if problems else 1} passed, {1 if problems else 0} failed")
sys.exit(1 if problems else 0)
PY

step "ASan+UBSan build with fuzz targets (clang)"
[[ -f build-asan/build.ninja ]] || CXX=clang++ meson setup build-asan --buildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true -Dbench=disabled -Dpython=disabled
meson compile -C build-asan

export RINGLOAD_FIXTURES="$fixtures"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
cli_counts=()
run_suite() {  # BUILD_DIR SOAK_LOADS
  local dir=$1
  step "tests in $dir"
  RINGLOAD_TEST_TMP="$root/$dir/tests/tmp" "$dir/tests/ringload_tests" \
    --gtest_output="json:$dir/gtest.json" --gtest_brief=1 || status=1
  mkdir -p "$dir/tests/tmp"
  step "file systems in $dir (ext4, xfs, btrfs, tmpfs on loop devices)"
  RINGLOAD_TEST_TMP="$root/$dir/tests/tmp" "$dir/tests/ringload_fs_tests" \
    --gtest_output="json:$dir/gtest-fs.json" --gtest_brief=1 || status=1
  step "soak in $dir ($2 loads one at a time, then $2 through one AsyncLoader, 8 at a time)"
  RINGLOAD_SOAK_LOADS=$2 RINGLOAD_TEST_TMP="$root/$dir/tests/tmp" "$dir/tests/ringload_soak_tests" \
    --gtest_output="json:$dir/gtest-soak.json" --gtest_brief=1 || status=1
  step "CLI and service checks in $dir"
  TMPDIR="$root/$dir/tests/tmp" tests/tools/cli_test.sh "$dir/tools/ringload/ringload" "$fixtures" \
    | tee "$dir/cli.log" || status=1
  TMPDIR="$root/$dir/tests/tmp" python3 tests/examples/service_test.py "$dir" "$fixtures" \
    | tee "$dir/service.log" || status=1
}
mkdir -p build/tests/tmp build-asan/tests/tmp
run_suite build 1000
run_suite build-asan 100

# Read once over MPI: a real 4-rank mpirun job on CI's 2 cores (oversubscribed). Release build
# only: Open MPI trips LeakSanitizer.
step "MPI: 4 ranks of ringload load --mpi (release build)"
TMPDIR="$root/build/tests/tmp" tests/mpi/mpi_test.sh build/tools/ringload/ringload | tee build/mpi.log || status=1

# llama.cpp's own loader beside ours: gen models load in it, bench --peers rows. Installs
# node-llama-cpp with npm into the user's cache on first use; skipped (with the reason) without
# node, npm or the registry. Node.js comes from the machine, never from apt (Debian's npm conflicts).
step "llama.cpp peer (node-llama-cpp)"
TMPDIR="$root/build/tests/tmp" tests/tools/llama_cpp_test.sh build/tools/ringload/ringload \
  | tee build/llama.log || status=1

step "install, then build examples/consumer against the installed ringload.pc"
prefix="$root/build/prefix"
rm -rf "$prefix" build/consumer
meson configure build -Dprefix="$prefix" >/dev/null
meson install -C build --quiet >/dev/null
pc_dir=$(dirname "$(find "$prefix" -name ringload.pc -print -quit)")  # not `| head`: SIGPIPE
consumer_log=build/consumer.log
# Only the prefix is visible to the consumer: its pkg-config path, no -I into the source tree.
if PKG_CONFIG_PATH="$pc_dir" meson setup build/consumer examples/consumer >"$consumer_log" 2>&1 &&
   meson compile -C build/consumer >>"$consumer_log" 2>&1; then
  if [[ -f "$fixtures/ollama-llama-2-tiny-random.gguf" ]]; then
    consumer_model="$fixtures/ollama-llama-2-tiny-random.gguf"
  else
    consumer_model=build/consumer/model.safetensors
    build/tools/ringload/ringload gen -q --format safetensors --size 4MiB "$consumer_model"
  fi
  if build/consumer/consumer "$consumer_model" | tee -a "$consumer_log"; then
    echo "consumer: 1 passed, 0 failed" | tee -a "$consumer_log"
  else
    echo "consumer: 0 passed, 1 failed" | tee -a "$consumer_log"; status=1
  fi
else
  tail -40 "$consumer_log"
  echo "consumer: 0 passed, 1 failed" | tee -a "$consumer_log"; status=1
fi

# `ringload bench --peers` of the installed binary reads its scripts from <prefix>/share (found
# beside bin/ringload: tests/tools/bench_peers_test.cpp).
if cmp -s bench/peers/llama_cpp/package-lock.json "$prefix/share/ringload/peers/llama_cpp/package-lock.json" &&
   cmp -s bench/peers/llama_cpp/load.mjs "$prefix/share/ringload/peers/llama_cpp/load.mjs"; then
  echo "installed peers: $prefix/share/ringload/peers/llama_cpp"
else
  echo "installed peers: FAILED: $prefix/share/ringload/peers/llama_cpp lacks the peer scripts"
  status=1
fi
# The groups' headers compile from the prefix through their own .pc files; ringload.pc names no
# MPI or NCCL. A group whose toolkit this machine lacks is not installed, and says so.
for group in mpi nccl; do
  if [[ ! -f "$pc_dir/ringload-$group.pc" ]]; then
    echo "installed ringload-$group: not built here (its toolkit was not found)"
  elif echo "#include <ringload/${group}_group.hpp>" |
       c++ -std=c++20 -fsyntax-only $(PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags "ringload-$group") -x c++ -; then
    echo "installed ringload-$group: header compiles via ringload-$group.pc"
  else
    echo "installed ringload-$group: FAILED"; status=1
  fi
done
if PKG_CONFIG_PATH="$pc_dir" pkg-config --cflags --libs ringload | grep -Eiq 'mpi|nccl'; then
  echo "ringload.pc: FAILED: names MPI or NCCL"; status=1
fi

# The Python package, in the release build only: an ASan-built extension needs libasan preloaded
# into /usr/bin/python3 and leak suppressions for CPython and torch, noise that hides more than
# it finds; the C++ it calls is covered by the sanitizer suite above.
step "python: pytest tests/python (release build), then import the installed package"
python_log=build/python.log
: >"$python_log"
if [[ -f build/python/ringload/__init__.py ]]; then
  PYTHONDONTWRITEBYTECODE=1 RINGLOAD_BUILD="$root/build" RINGLOAD_TEST_TMP="$root/build/tests/tmp" \
    /usr/bin/python3 -m pytest -q -p no:cacheprovider --junitxml=build/pytest.xml tests/python \
    | tee -a "$python_log" || status=1
  installed=$(find "$prefix" -path '*/ringload/__init__.py' -print -quit)
  if [[ -n "$installed" ]] && (cd / && PYTHONPATH=$(dirname "$(dirname "$installed")") /usr/bin/python3 -c \
       'import ringload, sys; assert ringload.__file__.startswith(sys.argv[1]); print("installed:", ringload.__file__)' \
       "$prefix") | tee -a "$python_log"; then
    installed_ok=1
  else
    echo "python: the installed package ($prefix) does not import"; installed_ok=0
  fi
  /usr/bin/python3 - build/pytest.xml "$installed_ok" <<'PY' | tee -a "$python_log" || status=1
import sys, xml.etree.ElementTree as ET
try:
    suites = ET.parse(sys.argv[1]).getroot()
except (OSError, ET.ParseError):
    print("python: 0 passed, 1 failed"); sys.exit(1)
suites = [suites] if suites.tag == "testsuite" else list(suites)
total = sum(int(s.get("tests", 0)) for s in suites)
failed = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
skipped = sum(int(s.get("skipped", 0)) for s in suites)
installed = sys.argv[2] == "1"
# Skipped tests (no fixtures folder) are neither; the import of the installed copy counts as one.
print(f"python: {total - failed - skipped + installed} passed, {failed + (not installed)} failed")
sys.exit(1 if failed or not installed else 0)
PY
else
  echo "python: the package was not built (python3-dev and pybind11-dev missing?)" | tee -a "$python_log"
  echo "python: 0 passed, 1 failed" | tee -a "$python_log"; status=1
fi

step "clang-format"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp' '*.cu' '*.cuh')
if clang-format --dry-run --Werror "${sources[@]}"; then
  echo "clang-format: clean (${#sources[@]} files)"
else
  status=1
fi

step "clang-tidy"
mapfile -t tidy_sources < <(git ls-files 'src/*.cpp' 'tools/*.cpp' 'examples/service/*.cpp')
if printf '%s\n' "${tidy_sources[@]}" | xargs -P "$jobs" -n 4 clang-tidy -p build-asan --quiet \
     2> >(grep -v -E '^[0-9]+ warnings? generated' >&2); then
  echo "clang-tidy: clean (${#tidy_sources[@]} files)"
else
  status=1
fi
# The Python extension is built in the release build only: its compile commands are there.
mapfile -t tidy_python < <(git ls-files 'python/src/*.cpp')
if [[ -f build/python/ringload/__init__.py ]]; then
  if printf '%s\n' "${tidy_python[@]}" | xargs -P "$jobs" -n 4 clang-tidy -p build --quiet \
       2> >(grep -v -E '^[0-9]+ warnings? generated' >&2); then
    echo "clang-tidy: clean (${#tidy_python[@]} files of python/src)"
  else
    status=1
  fi
fi

step "fuzzing (${fuzz_seconds}s per target)"
corpus=build-asan/fuzz-corpus
rm -rf "$corpus" && mkdir -p "$corpus"/{apr_v2,gguf,json,safetensors}
if [[ -d "$fixtures" ]]; then
  # Small seeds only: libFuzzer mutates faster on short inputs; the large vocab files add nothing
  # the small ones do not.
  find "$fixtures" -name '*.gguf' -size -2M -exec cp {} "$corpus/gguf/" \;
  find "$fixtures" -name '*.safetensors' -size -2M -exec cp {} "$corpus/safetensors/" \;
  find "$fixtures" -name '*.apr' -exec cp {} "$corpus/apr_v2/" \;
fi
for dtype in F32 APR_Q4 APR_Q8 Q4_K; do  # no APR v2 fixture exists: seed with generated ones
  build/tools/ringload/ringload gen -q --format apr --size 16KiB --tensors 5 --dtype "$dtype" \
    "$corpus/apr_v2/gen-$dtype.apr"
done
for codec in lz4 zstd; do
  build/tools/ringload/ringload gen -q --format apr --size 16KiB --tensors 5 --compress "$codec" \
    "$corpus/apr_v2/gen-$codec.apr"
done
# The JSON reader's seeds: the safetensors headers, and bench documents (bigger, other shapes).
for f in "$corpus"/safetensors/*; do
  python3 -c 'import struct, sys; d = open(sys.argv[1], "rb").read(); n = struct.unpack("<Q", d[:8])[0]
open(sys.argv[2], "wb").write(d[8:8 + n])' "$f" "$corpus/json/$(basename "$f").json" || true
done
find bench/results -name '*.json' -size -256k -exec cp {} "$corpus/json/" \;
for target in apr_v2 gguf json safetensors; do
  if build-asan/tests/fuzz/${target}_fuzz "$corpus/$target" -max_total_time="$fuzz_seconds" \
       -max_len=262144 -rss_limit_mb=4096 -print_final_stats=1 >"build-asan/fuzz-$target.log" 2>&1; then
    echo "fuzz $target: $(grep -E 'stat::number_of_executed_units' "build-asan/fuzz-$target.log" | awk '{print $2}') runs, no crash"
  else
    echo "fuzz $target: FAILED"; tail -40 "build-asan/fuzz-$target.log"; status=1
  fi
done

end_step
printf '\n=== summary\n'
python3 - build/gtest.json build-asan/gtest.json build/gtest-fs.json build-asan/gtest-fs.json \
  build/gtest-soak.json build-asan/gtest-soak.json build/cli.log build-asan/cli.log build/service.log \
  build-asan/service.log build/consumer.log build/demo-check.log build/llama.log build/python.log build/mpi.log <<'PY' || status=1
import json, re, sys
passed = failed = skipped = 0
reports = [p for p in sys.argv[1:] if p.endswith(".json")]
for path in reports:
    try:
        doc = json.load(open(path))
    except (OSError, ValueError):
        failed += 1
        print(f"{path}: no test report (the test binary crashed?)")
        continue
    for suite in doc.get("testsuites", []):
        for t in suite.get("testsuite", []):
            if t.get("result") == "SKIPPED" or t.get("status") == "NOTRUN":
                skipped += 1
            elif t.get("failures"):
                failed += 1
            else:
                passed += 1
for path in sys.argv[1 + len(reports):]:
    m = re.search(r"^\w+: (\d+) passed, (\d+) failed$", open(path).read(), re.M)
    if m:
        passed += int(m.group(1)); failed += int(m.group(2))
    else:
        failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
printf '\nstep times:\n'
printf '%s\n' "${step_times[@]}"
printf '%6d s  in all\n' "$SECONDS"
exit $status
