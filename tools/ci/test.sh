#!/usr/bin/env bash
# The whole check, as CI runs it (README's test command; .ci/run calls exactly this):
#   1. installs the Debian packages it needs;
#   2. builds a release build (g++) and an ASan+UBSan build with the fuzz targets (clang);
#   3. runs the whole suite (GoogleTest + CLI checks + the service example's checks) in both;
#   4. installs the release build into a prefix and builds examples/consumer against the installed
#      ringload.pc (not the build tree), then runs it on a fixture;
#   5. checks clang-format (dry run, errors) and clang-tidy;
#   6. runs each libFuzzer target for FUZZ_SECONDS (default 60) seeded from the fixtures.
# Ends with one line "tests: N passed, N failed, N skipped"; exits non-zero on any failure.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$(pwd)
fixtures=${RINGLOAD_FIXTURES:-$root/../shared/fixtures}
fuzz_seconds=${FUZZ_SECONDS:-60}
jobs=$(nproc)
status=0

step() { printf '\n=== %s\n' "$*"; }

step "dependencies"
bash tools/ci/install-deps.sh

step "release build (g++)"
[[ -f build/build.ninja ]] || meson setup build --buildtype=release
meson compile -C build

step "ASan+UBSan build with fuzz targets (clang)"
[[ -f build-asan/build.ninja ]] || CXX=clang++ meson setup build-asan --buildtype=debugoptimized \
  -Db_sanitize=address,undefined -Db_lundef=false -Dfuzz=true -Dbench=disabled
meson compile -C build-asan

export RINGLOAD_FIXTURES="$fixtures"
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
cli_counts=()
run_suite() {  # BUILD_DIR
  local dir=$1
  step "tests in $dir"
  RINGLOAD_TEST_TMP="$root/$dir/tests/tmp" "$dir/tests/ringload_tests" \
    --gtest_output="json:$dir/gtest.json" --gtest_brief=1 || status=1
  mkdir -p "$dir/tests/tmp"
  TMPDIR="$root/$dir/tests/tmp" tests/tools/cli_test.sh "$dir/tools/ringload/ringload" "$fixtures" \
    | tee "$dir/cli.log" || status=1
  TMPDIR="$root/$dir/tests/tmp" python3 tests/examples/service_test.py "$dir" "$fixtures" \
    | tee "$dir/service.log" || status=1
}
mkdir -p build/tests/tmp build-asan/tests/tmp
run_suite build
run_suite build-asan

step "install, then build examples/consumer against the installed ringload.pc"
prefix="$root/build/prefix"
rm -rf "$prefix" build/consumer
meson configure build -Dprefix="$prefix" >/dev/null
meson install -C build --quiet >/dev/null
pc_dir=$(dirname "$(find "$prefix" -name ringload.pc | head -n 1)")
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

step "summary"
python3 - build/gtest.json build-asan/gtest.json build/cli.log build-asan/cli.log build/service.log \
  build-asan/service.log build/consumer.log <<'PY' || status=1
import json, re, sys
passed = failed = skipped = 0
for path in sys.argv[1:3]:
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
for path in sys.argv[3:]:
    m = re.search(r"^\w+: (\d+) passed, (\d+) failed$", open(path).read(), re.M)
    if m:
        passed += int(m.group(1)); failed += int(m.group(2))
    else:
        failed += 1
print(f"tests: {passed} passed, {failed} failed, {skipped} skipped")
sys.exit(1 if failed else 0)
PY
exit $status
