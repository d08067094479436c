#!/usr/bin/env bash
set -uo pipefail
cd /work/benchtmp
while [[ ! -f issue14.done ]]; do sleep 5; done
R=/work/ringload-final
$R bench -q --gen 64MiB --format safetensors --cache cold --repeat 9 --out-dir /work/benchtmp/g --json small2-64MiB.json > small2-64MiB.txt 2>&1
$R gen -q --format safetensors --size 8GiB /var/tmp/m8z.safetensors && sync
$R bench /var/tmp/m8z.safetensors -q --strategies read,mmap,mmap-pipelined,uring-direct,auto --memory-limit 4GiB --zram 8GiB --hold 20 --repeat 3 --json pressure8-zram.json --svg pressure8-zram.svg > pressure8-zram.txt 2>&1
$R bench /var/tmp/m8z.safetensors -q --strategies read,mmap,mmap-pipelined,uring-direct,auto --memory-limit 1GiB --repeat 3 --json pressure8-limit-1GiB.json --svg pressure8-limit-1GiB.svg > pressure8-limit-1GiB.txt 2>&1
$R bench /var/tmp/m8z.safetensors -q --strategies mmap-pipelined,uring-direct,auto --memory-limit max --repeat 3 --json pressure8-unlimited.json > pressure8-unlimited.txt 2>&1
rm -f /var/tmp/m8z.safetensors
echo finished > zram.done
