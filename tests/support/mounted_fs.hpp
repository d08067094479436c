// A file system of a chosen kind, mounted for one test on a loop device whose image lives in the
// test's own temp dir (tmpfs: no image). Needs root and the loop driver; where either is missing
// mount() says why, and the test skips with that reason.
//
// Everything is torn down on every exit path: the destructor unmounts, the loop device is attached
// with LO_FLAGS_AUTOCLEAR (the kernel detaches it once the mount and our descriptor are gone, even
// if this process is killed before it could unmount) and the image is removed. A run killed while
// mounted leaves a mount behind; every name made here starts with "ringload-fs.<pid>." so that
// remove_stale_mounts() can find what a dead process left and tear it down.
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "io/file.hpp"
#include "ringload/error.hpp"

namespace ringload::test {

enum class FsKind : std::uint8_t { ext4, xfs, btrfs, btrfs_zstd, tmpfs };

inline constexpr FsKind kAllFsKinds[] = {FsKind::ext4, FsKind::xfs, FsKind::btrfs, FsKind::btrfs_zstd,
                                         FsKind::tmpfs};

[[nodiscard]] std::string_view fs_name(FsKind kind) noexcept;  // "btrfs-zstd", ...
// The smallest image mkfs accepts for the kind, rounded up (xfs: 300 MB; btrfs: ~110 MiB).
[[nodiscard]] std::uint64_t min_image_bytes(FsKind kind) noexcept;

// The prefix of every image, mount point and loop device name this file makes.
inline constexpr std::string_view kMountNamePrefix = "ringload-fs.";

class MountedFs {
 public:
  // Makes an image of `image_bytes` (sparse; at least min_image_bytes) in `dir`, formats it,
  // attaches it to a free loop device and mounts it at dir/ringload-fs.<pid>.<kind>.mnt (tmpfs:
  // mounted there with that size, no image). Failing for want of a privilege, a driver or a
  // mkfs program: ErrorKind::unsupported_feature or permission_denied, the message says which
  // (a test skips); anything else is a failure.
  static Result<MountedFs> mount(FsKind kind, const std::filesystem::path& dir, std::uint64_t image_bytes);

  MountedFs(MountedFs&& other) noexcept;
  MountedFs& operator=(MountedFs&&) = delete;
  MountedFs(const MountedFs&) = delete;
  MountedFs& operator=(const MountedFs&) = delete;
  ~MountedFs();

  [[nodiscard]] FsKind kind() const noexcept { return kind_; }
  [[nodiscard]] const std::filesystem::path& root() const noexcept { return mount_point_; }
  [[nodiscard]] const std::string& device() const noexcept { return device_; }  // "/dev/loop3", "tmpfs"
  // The loop device reads its image with O_DIRECT (so a cold read on this file system is a disk
  // read, not a hit in the image's own page cache on the file system below).
  [[nodiscard]] bool loop_direct_io() const noexcept { return loop_direct_io_; }
  [[nodiscard]] const std::string& mount_options() const noexcept { return options_; }

 private:
  MountedFs() = default;
  void tear_down() noexcept;

  FsKind kind_ = FsKind::ext4;
  std::filesystem::path image_;
  std::filesystem::path mount_point_;
  std::string device_;
  std::string options_;
  UniqueFd loop_;  // held until unmounted: with AUTOCLEAR, closing the last opener detaches
  bool mounted_ = false;
  bool loop_direct_io_ = false;
};

// A mount() failure that means "not here" (no root, no loop driver, no mkfs): the test skips.
[[nodiscard]] bool mount_refused_here(const Error& error) noexcept;

// Tears down what a killed run left: mounts whose mount point is named ringload-fs.<pid>.* for a
// pid that no longer runs (lazily unmounted; AUTOCLEAR then detaches their loop device), loop
// devices still attached to such images, and such images, logs and mount points anywhere in
// `scan_root` or one directory below it. Returns one line per thing removed; a live process's
// mounts are never touched.
std::vector<std::string> remove_stale_mounts(const std::filesystem::path& scan_root);

// Runs `argv` (argv[0] looked up in PATH, and in /sbin and /usr/sbin) with stdout and stderr
// going to `log`. The exit status, or an error: the program is missing (not_found) or could not
// be started.
Result<int> run_program(const std::vector<std::string>& argv, const std::filesystem::path& log);

}  // namespace ringload::test

// Mounts a `fs_kind` file system of `image_bytes` in `dir` into `var` (a Result<MountedFs>), or
// skips the test with the reason this machine cannot.
#define RINGLOAD_MOUNT_OR_SKIP(var, fs_kind, dir, image_bytes)                    \
  auto var = ::ringload::test::MountedFs::mount((fs_kind), (dir), (image_bytes)); \
  if (!(var) && ::ringload::test::mount_refused_here((var).error())) {            \
    GTEST_SKIP() << "cannot mount " << ::ringload::test::fs_name(fs_kind)         \
                 << " here: " << (var).error().to_string();                       \
  }                                                                               \
  ASSERT_TRUE(var) << (var).error().to_string()
