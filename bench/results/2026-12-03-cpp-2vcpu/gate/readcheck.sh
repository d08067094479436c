#!/usr/bin/env bash
# The read baseline alone, before (6eb7730) vs after, 4 GiB cold, interleaved pairs
set -euo pipefail
cd /work/benchtmp
/work/ringload-final gen -q --format safetensors --size 4GiB m4.safetensors && sync
for i in 1 2 3 4 5; do
  for who in old new; do
    exe=/work/ringload-final; [[ $who == old ]] && exe=/work/baseline/ringload-6eb7730
    echo 1 > /proc/sys/vm/drop_caches
    $exe load -q --json --strategy read m4.safetensors | /usr/bin/python3 -c "import json,sys; d=json.load(sys.stdin); print('$who', round(d['gb_per_s'],3), round(d['wall_s'],2), round(d['cpu_user_s']+d['cpu_system_s'],2))"
  done
done
rm -f m4.safetensors
