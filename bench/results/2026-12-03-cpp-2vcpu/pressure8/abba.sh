#!/usr/bin/env bash
set -uo pipefail
cd /work/benchtmp
R=/work/ringload-final
$R gen -q --format safetensors --size 8GiB /var/tmp/m8z.safetensors && sync
n=0
for mode in limit max max limit limit max max limit; do
  n=$((n+1))
  lim=1GiB; [[ $mode == max ]] && lim=max
  $R bench /var/tmp/m8z.safetensors -q --strategies mmap-pipelined,uring-direct,auto --memory-limit $lim --repeat 1 --json abba-$n-$mode.json > abba-$n-$mode.txt 2>&1
done
rm -f /var/tmp/m8z.safetensors
echo finished > abba.done
