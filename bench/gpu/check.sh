#!/usr/bin/env bash
# The GPU check, in two halves, because the GPU machine reaches no registry and installs nothing:
#
#   bash bench/gpu/check.sh prepare   # here: a CUDA build with the CUDA runtime and libstdc++
#                                     # linked statically, stripped, plus the fixtures that hold
#                                     # tensors, all under build-gpu/carry (< 64 MiB)
#   bash bench/gpu/check.sh run       # there, from the repository root, with build-gpu/carry
#
# `run` runs every device test, loads every carried fixture and a generated 4 GiB model into the
# CUDA sink and compares each destination with the file byte for byte (--verify), then the GPU
# bench: the pinned host-to-device ceiling and every strategy into the CUDA sink, cold and warm,
# and Python safetensors on CUDA where torch and safetensors are installed. Everything it writes
# goes to OUT (default bench/results/<date>-gpu): at most 8 files, the last lines of stdout a
# summary. It is sized to end within 6 minutes on an H200 machine (SIZE, REPEAT to change).
#
# With the `device` tool:  run(command="bash bench/gpu/check.sh run", carry=["build-gpu/carry"],
# timeout_s=480), then copy the returned files into bench/results/<date>-gpu/ and commit them.
set -euo pipefail
cd "$(dirname "$0")/../.."
carry=build-gpu/carry

prepare() {
  local fixtures=${RINGLOAD_FIXTURES:-../shared/fixtures}
  echo "== building build-gpu (CUDA runtime static, libstdc++ static): a few minutes on 2 cores"
  [[ -f build-gpu/build.ninja ]] ||
    meson setup build-gpu --buildtype=release -Dprefer_static=true -Dcuda=enabled -Dstatic_cudart=true \
      -Dbench=disabled -Dmpi=disabled -Dcpp_link_args="['-static-libstdc++','-static-libgcc']" >/dev/null
  meson compile -C build-gpu tools/ringload/ringload tests/ringload_tests >/dev/null
  rm -rf "$carry" && mkdir -p "$carry"/{bin,lib,fixtures/sharded-safetensors-jl}
  cp build-gpu/tools/ringload/ringload build-gpu/tests/ringload_tests "$carry/bin/"
  # The NCCL group's device test (one GPU), where this build has NCCL.
  if meson compile -C build-gpu tests/ringload_nccl_tests >/dev/null 2>&1; then
    cp build-gpu/tests/ringload_nccl_tests "$carry/bin/"
  fi
  strip "$carry"/bin/*
  # Whatever is still a shared library beyond glibc (Debian ships libfmt only shared) travels too;
  # not NCCL (hundreds of MiB): the device machine has the toolkit's in /usr/local/cuda.
  ldd "$carry"/bin/* | awk '/=> \// {print $3}' | sort -u |
    grep -v -E '/(libc|libm|libdl|libpthread|librt|ld-linux[^/]*|libnccl)\.so' | xargs -r -I{} cp -L {} "$carry/lib/"
  # The fixtures that hold tensors (the vocabulary-only GGUF files have none).
  local f
  for f in "$fixtures"/*.safetensors "$fixtures"/*.gguf; do
    [[ -f "$f" ]] || continue
    if "$carry/bin/ringload" inspect --json "$f" 2>/dev/null | grep -q '"dtype"'; then cp "$f" "$carry/fixtures/"; fi
  done
  cp "$fixtures"/sharded-safetensors-jl/* "$carry/fixtures/sharded-safetensors-jl/" 2>/dev/null || true
  cp bench/peers/safetensors_cuda.py "$carry/"
  du -sh "$carry"
  echo "carry: $(du -sb "$carry" | cut -f1) bytes (the device tool takes 64 MiB)"
}

run() {
  [[ -x "$carry/bin/ringload" ]] || { echo "no $carry: run 'bash bench/gpu/check.sh prepare' first and carry it"; exit 2; }
  export LD_LIBRARY_PATH="$PWD/$carry/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
  export RINGLOAD_FIXTURES="$PWD/$carry/fixtures"
  local out=${OUT:-bench/results/$(date -u +%F)-gpu}
  local size=${SIZE:-4GiB} repeat=${REPEAT:-3}
  local ringload="$carry/bin/ringload" work=${WORK:-${TMPDIR:-/tmp}/ringload-gpu}
  mkdir -p "$out" "$work/tmp"
  local summary="$out/summary.txt" log="$out/log.txt"
  : >"$summary"
  say() { echo "$*" | tee -a "$summary"; }

  say "# ringload GPU check, $(date -u +%FT%TZ), kernel $(uname -r)"
  say "$(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 | head -n 4)"

  say "== device tests"
  RINGLOAD_TEST_TMP="$work/tmp" timeout 240 "$carry/bin/ringload_tests" --gtest_brief=1 \
    --gtest_filter='*Cuda*:*cuda*' --gtest_output="json:$out/gtest-device.json" >>"$log" 2>&1 || true
  say "$(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$log" | tail -n 3)"
  grep -E '^\[  FAILED  \] ' "$log" | sed 's/^/  /' | tee -a "$summary" || true

  if [[ -x "$carry/bin/ringload_nccl_tests" ]]; then
    say "== NCCL group, one GPU"
    LD_LIBRARY_PATH="$LD_LIBRARY_PATH:/usr/local/cuda/lib64" RINGLOAD_TEST_TMP="$work/tmp" timeout 120 \
      "$carry/bin/ringload_nccl_tests" --gtest_brief=1 --gtest_output="json:$out/gtest-nccl.json" >"$work/nccl.log" 2>&1 || true
    say "$(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$work/nccl.log" | tail -n 3)"
  fi

  say "== whole suite on this machine (environment refusals are skips)"
  RINGLOAD_TEST_TMP="$work/tmp" timeout 240 "$carry/bin/ringload_tests" --gtest_brief=1 >"$work/all.log" 2>&1 || true
  say "$(grep -E '^\[  (PASSED|FAILED|SKIPPED) ' "$work/all.log" | tail -n 3)"
  grep -E '^\[  FAILED  \] ' "$work/all.log" | head -n 20 | sed 's/^/  /' | tee -a "$summary" || true
  cat "$work/all.log" >>"$log"

  say "== round trip: device -> host byte-exact (ringload load --sink cuda --verify)"
  local f s verified failures=0 total=0
  for f in "$RINGLOAD_FIXTURES"/*.safetensors "$RINGLOAD_FIXTURES"/*.gguf "$RINGLOAD_FIXTURES"/sharded-safetensors-jl/*.safetensors; do
    [[ -f "$f" ]] || continue
    for s in mmap uring-direct auto; do
      total=$((total + 1))
      verified=$("$ringload" load -q --sink cuda --strategy "$s" --verify "$f" 2>&1 || true)
      if grep -q '^verified:' <<<"$verified"; then :; else
        failures=$((failures + 1)); say "  FAILED $(basename "$f") $s: $(tail -n 1 <<<"$verified")"
      fi
    done
  done
  local big="$work/model-$size.safetensors"
  [[ -f "$big" ]] || "$ringload" gen -q --format safetensors --size "$size" --dtype BF16 "$big"
  for s in read mmap mmap-pipelined uring uring-direct uring-dontcache auto; do
    total=$((total + 1))
    if verified=$("$ringload" load -q --sink cuda --strategy "$s" --verify --json "$big" 2>&1 |
      python3 -c 'import json,sys; r=json.load(sys.stdin); print("%s: %d tensors verified, %.2f GB/s, pinned %s" % (r["strategy"], r["verified_tensors"], r["gb_per_s"], r["staging_pinned"]))' 2>&1); then
      say "  $size $s -> $verified"
    else
      failures=$((failures + 1)); say "  FAILED $size $s: $verified"
    fi
  done
  say "round trip: $((total - failures)) of $total loads byte-exact"

  say "== bench: pinned H2D ceiling, every strategy into the CUDA sink, cold and warm, $repeat repeats"
  "$ringload" bench "$big" --sink cuda --cache both --repeat "$repeat" --json "$out/bench.json" \
    --svg "$out/bench.svg" --out-dir "$work" -q >"$out/bench.txt" 2>>"$log" || say "  bench failed (see log.txt)"
  tail -n 30 "$out/bench.txt" | tee -a "$summary"

  say "== Python safetensors on CUDA (same file)"
  if python3 -c 'import torch, safetensors; assert torch.cuda.is_available()' 2>>"$log"; then
    timeout 150 python3 "$carry/safetensors_cuda.py" "$big" --repeat "$repeat" >"$out/peers.json" 2>>"$log" ||
      say "  safetensors peer failed (see log.txt)"
    head -c 3000 "$out/peers.json" | tee -a "$summary"; echo
  else
    say "  skipped: torch with CUDA or safetensors missing here"
  fi
  rm -f "$big"
}

case "${1:-}" in
  prepare) prepare ;;
  run) run ;;
  *) echo "usage: bash bench/gpu/check.sh prepare|run" >&2; exit 2 ;;
esac
