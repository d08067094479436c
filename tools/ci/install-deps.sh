#!/usr/bin/env bash
# Installs every Debian package ringload builds, tests and benchmarks with.
# Idempotent: skips apt entirely when everything is already there.
set -euo pipefail

packages=(
  build-essential meson ninja-build pkg-config
  liburing-dev libboost1.81-dev libzstd-dev liblz4-dev libssl-dev
  nlohmann-json3-dev libsimdjson-dev libcli11-dev libfmt-dev
  libgtest-dev libgmock-dev libbenchmark-dev
  clang clang-format clang-tidy libclang-rt-14-dev
  python3-dev pybind11-dev python3-numpy python3-torch python3-pytest
  e2fsprogs xfsprogs btrfs-progs  # mkfs of tests/fs (ext4, xfs, btrfs on loop devices)
  libopenmpi-dev openmpi-bin      # MpiGroup and `ringload load --mpi` (tests/mpi)
)

missing=()
for p in "${packages[@]}"; do
  # Compared, not piped to `grep -q`: grep may exit before dpkg-query is done writing, and under
  # pipefail the SIGPIPE would count an installed package as missing (then apt-get needs a network).
  [[ $(dpkg-query -W -f='${Status}' "$p" 2>/dev/null) == 'install ok installed' ]] || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "install-deps: installing ${missing[*]}"
  sudo_cmd=()
  [[ $(id -u) -eq 0 ]] || sudo_cmd=(sudo)
  export DEBIAN_FRONTEND=noninteractive
  "${sudo_cmd[@]}" apt-get update -qq
  "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
