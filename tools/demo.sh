#!/usr/bin/env bash
# README's main job: set up, build the ringload tool (release), generate a model, inspect it, and
# load it every way ringload can — the `read` and `mmap` baselines and the pipelined strategies —
# cold, side by side, with what each load left behind.
#   SIZE=4GiB FORMAT=gguf DTYPE=Q4_K bash tools/demo.sh
#   EVICT=fadvise: make the cache cold for the model file only (default: drop_caches as well, when
#   root), for shared machines where emptying everyone's page cache is rude.
# No pipeline here may end before its writer: under pipefail, `ringload inspect | head` fails with
# 141 (SIGPIPE) whenever head exits first, and set -e then ends the demo without a word. Output
# goes to files under $WORK_DIR and is shown from there.
set -euo pipefail
cd "$(dirname "$0")/.."
size=${SIZE:-1GiB}
format=${FORMAT:-safetensors}
dtype=${DTYPE:-BF16}
work=${WORK_DIR:-build/demo}
evict_with=${EVICT:-drop-caches}
ringload=build/tools/ringload/ringload
target=tools/ringload/ringload # meson's name for the tool: the library, tests and examples wait

say() { printf '\n== %s\n' "$*"; }
fail() {
  printf 'demo: %s\n' "$*" >&2
  exit 1
}

say "dependencies: Debian packages (apt-get runs only if one is missing)"
bash tools/ci/install-deps.sh

if [[ ! -f build/build.ninja ]]; then
  say "meson setup build --buildtype=release"
  setup_log=$(mktemp)
  meson setup build --buildtype=release >"$setup_log" 2>&1 || {
    cat "$setup_log"
    fail "meson setup failed"
  }
  rm -f "$setup_log"
fi

# The first build compiles the library and the tool from scratch, which takes minutes on a small
# machine and printed nothing before; ninja's own progress lines are sampled instead of shown
# whole, so compiler warnings do not bury the demo.
say "building $ringload (only the tool: the first build compiles ~50 files, a few minutes on 2 cores; later runs take seconds)"
mkdir -p "$work"
build_log="$work/build.log"
started=$SECONDS
meson compile -C build "$target" >"$build_log" 2>&1 &
build_pid=$!
shown="" shown_at=$SECONDS
while kill -0 "$build_pid" 2>/dev/null; do
  sleep 2
  progress=$(awk 'match($0, /^\[[0-9]+\/[0-9]+\]/) { p = substr($0, RSTART, RLENGTH) } END { print p }' \
    "$build_log")
  if [[ -n $progress && $progress != "$shown" ]] && ((SECONDS - shown_at >= 10)); then
    printf '   %s build steps done after %ds\n' "$progress" $((SECONDS - started))
    shown=$progress shown_at=$SECONDS
  fi
done
if ! wait "$build_pid"; then
  tail -n 40 "$build_log"
  fail "the build failed; the whole log is $build_log"
fi
printf '   built in %ds\n' $((SECONDS - started))
model="$work/model.$format"

say "ringload gen: $size $format $dtype"
"$ringload" gen --format "$format" --size "$size" --dtype "$dtype" "$model"

say "ringload inspect (first lines)"
"$ringload" inspect "$model" >"$work/inspect.txt"
head -n 24 "$work/inspect.txt"
inspect_lines=$(wc -l <"$work/inspect.txt")
if ((inspect_lines > 24)); then echo "... $((inspect_lines - 24)) more lines in $work/inspect.txt"; fi

evict() { # cold cache: drop the file's pages (drop_caches needs root; fadvise does not)
  sync
  if [[ $evict_with == drop-caches && -w /proc/sys/vm/drop_caches ]]; then
    { echo 3 >/proc/sys/vm/drop_caches; } 2>/dev/null || true
  fi
  dd if="$model" iflag=nocache count=0 status=none 2>/dev/null || true
}

say "ringload load, cold, each strategy, null sink (reads every byte, keeps none)"
strategies=(read mmap mmap-pipelined uring uring-direct uring-dontcache auto pread-direct)
failed=0
for strategy in "${strategies[@]}"; do
  evict
  printf '   %s\n' "$strategy"
  rm -f "$work/$strategy.json"
  if ! "$ringload" load -q --json --strategy "$strategy" --sink null "$model" >"$work/$strategy.json.part" \
    2>"$work/$strategy.err"; then
    failed=$((failed + 1))
    continue # the table shows the row as failed, with the error
  fi
  mv "$work/$strategy.json.part" "$work/$strategy.json"
  if [[ -s "$work/$strategy.err" ]]; then sed 's/^/     /' "$work/$strategy.err"; fi # warnings
done
echo
python3 - "$work" "${strategies[@]}" <<'PY'
import json, os, sys
work, names = sys.argv[1], sys.argv[2:]
rows = {}
for n in names:
    path = f"{work}/{n}.json"
    rows[n] = json.load(open(path)) if os.path.exists(path) else None
base = {n: r["wall_s"] for n, r in rows.items() if r}
mib = 1 << 20
def ratio(name, r):
    return f'{base[name] / r["wall_s"]:>7.2f}' if name in base else f'{"-":>7}'
print(f'{"strategy":<16} {"ran as":<16} {"seconds":>8} {"GB/s":>6} {"x read":>7} {"x mmap":>7} '
      f'{"1st tensor":>10} {"CPU s/GB":>8} {"peak RSS":>10} {"cached after":>12}')
for n in names:
    r = rows[n]
    if r is None:
        err = open(f"{work}/{n}.err", errors="replace").read().strip().splitlines()
        print(f'{n:<16} FAILED: {err[-1] if err else "no error text"}')
        continue
    cached = 100.0 * r["file_resident_pages_after"] / max(1, r["file_total_pages"])
    print(f'{r["requested"]:<16} {r["strategy"]:<16} {r["wall_s"]:>8.3f} {r["gb_per_s"]:>6.2f} '
          f'{ratio("read", r)} {ratio("mmap", r)} '
          f'{r["time_to_first_tensor_s"] * 1000:>8.1f}ms {r["cpu_s_per_gb"]:>8.3f} '
          f'{r["peak_rss"] / mib:>7.0f} MiB {cached:>11.1f}%')
PY
echo
echo "One run each on a shared machine: for medians over repeated, interleaved runs use the benchmark."
((failed == 0)) || fail "$failed of ${#strategies[@]} strategies failed (rows marked FAILED above)"
