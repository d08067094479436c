#!/usr/bin/env bash
# issue 10 gate: cold 8 GiB, every strategy, old (6eb7730, before the redesign) vs new, interleaved
set -euo pipefail
cd /work/benchtmp
/work/ringload-new gen -q --format safetensors --size 8GiB m8.safetensors
sync
for round in 1 2; do
  for who in old new; do
    exe=/work/ringload-new; [[ $who == old ]] && exe=/work/baseline/ringload-6eb7730
    $exe bench -q --cache cold --repeat 3 --json gate-$round-$who.json m8.safetensors > gate-$round-$who.txt 2>&1 || echo "bench $who rc=$?" >> gate.log
    echo "$(date +%T) round $round $who done" >> gate.log
  done
done
rm -f m8.safetensors
echo finished >> gate.log
