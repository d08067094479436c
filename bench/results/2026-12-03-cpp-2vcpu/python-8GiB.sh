#!/usr/bin/env bash
# ringload.torch.load_file against `ringload load --sink host` (the same pipeline from C++), 8 GiB,
# cold (drop_caches before each), 4 interleaved pairs; seconds of the load call / the CLI's wall_s
set -uo pipefail
cd /work/benchtmp
while [[ ! -f abba.done ]]; do sleep 5; done
R=/work/ringload-final
B=/work/main/build
$R gen -q --format safetensors --size 8GiB /var/tmp/m8p.safetensors && sync
for i in 1 2 3 4; do
  echo 3 > /proc/sys/vm/drop_caches
  PYTHONPATH=$B/python /usr/bin/python3 -c "
import time, torch, ringload.torch
t = time.perf_counter(); d = ringload.torch.load_file('/var/tmp/m8p.safetensors'); s = time.perf_counter() - t
print('python', round(s, 3), round(sum(v.numel() * v.element_size() for v in d.values()) / s / 1e9, 3))"
  echo 3 > /proc/sys/vm/drop_caches
  $R load -q --json --sink host /var/tmp/m8p.safetensors | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print('cli', round(d['wall_s'],3), round(d['gb_per_s'],3))"
done
rm -f /var/tmp/m8p.safetensors
echo finished >> pybench.out
