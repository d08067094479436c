#!/usr/bin/env bash
# The bench table per file system (issue 14 item 5): `ringload bench` on a generated 256 MiB
# safetensors file, cold, 3 repeats, on ext4, xfs, btrfs, btrfs with compress-force=zstd (each on
# a loop device over a sparse image under /tmp, the loop reading its image with O_DIRECT so a cold
# read is a disk read) and tmpfs (warm only: tmpfs has no cold state). Writes fs-<name>.{txt,json}
# beside this script. Root. Every mount and loop device is torn down on every exit path.
#   bash bench/results/2026-12-03-cpp-2vcpu/fs-bench.sh build/tools/ringload/ringload [names...]
# BENCH_ARGS (e.g. "--strategies uring,uring-direct,auto --repeat 7") replaces "--repeat 3" and
# SUFFIX names the outputs fs-<name><SUFFIX>.{txt,json}: a second, narrower run that checks one.
set -euo pipefail
ringload=$(realpath "$1")
shift
names=("$@")
((${#names[@]})) || names=(ext4 xfs btrfs btrfs-zstd tmpfs)
out=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d /tmp/ringload-fsbench.XXXXXX)
mnt="$work/mnt"
loop=""

tear_down() {
  if mountpoint -q "$mnt" 2>/dev/null; then umount "$mnt" || umount -l "$mnt"; fi
  if [[ -n $loop ]]; then losetup -d "$loop" 2>/dev/null || true; fi
  loop=""
  rm -f "$work/image"
}
trap 'tear_down; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

for name in "${names[@]}"; do
  mkdir -p "$mnt"
  cache=cold
  if [[ $name == tmpfs ]]; then
    mount -t tmpfs -o size=768m tmpfs "$mnt"
    cache=warm
  else
    truncate -s 1G "$work/image"  # xfs needs >= 300 MB; 256 MiB of model and its fill
    case $name in
      ext4) mkfs.ext4 -q -F -E lazy_itable_init=0,lazy_journal_init=0,nodiscard "$work/image" ;;
      xfs) mkfs.xfs -q -f -K "$work/image" ;;
      btrfs | btrfs-zstd) mkfs.btrfs -q -f -K "$work/image" >/dev/null ;;
      *) echo "unknown file system $name" >&2; exit 2 ;;
    esac
    loop=$(losetup --find --show --direct-io=on "$work/image")
    options=()
    [[ $name == btrfs-zstd ]] && options=(-o compress-force=zstd)
    mount "${options[@]}" "$loop" "$mnt"
  fi
  echo "== $name: $(findmnt -n -o FSTYPE,OPTIONS "$mnt") on ${loop:-tmpfs}; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  # bench exits non-zero when a strategy fails (uring-dontcache where RWF_DONTCACHE is missing):
  # its table and notes say which; the other file systems still run.
  "$ringload" bench --gen 256MiB --format safetensors --cache "$cache" ${BENCH_ARGS:---repeat 3} --evict fadvise -q \
    --out-dir "$mnt/bench" --json "$out/fs-$name${SUFFIX:-}.json" | tee "$out/fs-$name${SUFFIX:-}.txt" ||
    echo "note: ringload bench exited non-zero (a strategy failed: see above)" | tee -a "$out/fs-$name${SUFFIX:-}.txt"
  echo "file system: $name ($(findmnt -n -o FSTYPE,OPTIONS "$mnt")) on ${loop:-memory}${loop:+ (loop device, O_DIRECT to its image on /tmp, ext4 on virtio /dev/vda)}" \
    | tee -a "$out/fs-$name${SUFFIX:-}.txt"
  tear_down
done
