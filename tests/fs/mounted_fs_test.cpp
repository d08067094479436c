// The test support that mounts file systems cleans up after itself on every exit path: the
// destructor unmounts and the loop device detaches; a run killed while mounted leaves a mount that
// the next run's remove_stale_mounts() finds by its name and tears down.
#include "support/mounted_fs.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "support/temp_dir.hpp"

namespace ringload {
namespace {

namespace fs = std::filesystem;
using test::FsKind;
using test::MountedFs;

bool is_mount_point(const fs::path& path) {
  std::ifstream in("/proc/self/mountinfo");
  const std::string wanted = " " + path.string() + " ";
  for (std::string line; std::getline(in, line);) {
    if (line.find(wanted) != std::string::npos) return true;
  }
  return false;
}

// The loop device still bound to `image`, or "" when none is.
std::string loop_bound_to(const fs::path& image) {
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator("/sys/block", ec)) {
    std::ifstream in(entry.path() / "loop" / "backing_file");
    std::string backing;
    if (std::getline(in, backing) && backing.rfind(image.string(), 0) == 0) return entry.path().filename();
  }
  return "";
}

TEST(MountedFs, DestructorUnmountsAndDetachesTheLoopDevice) {
  test::TempDir dir;
  fs::path root;
  fs::path image;
  {
    RINGLOAD_MOUNT_OR_SKIP(mounted, FsKind::ext4, dir.path(), test::min_image_bytes(FsKind::ext4));
    root = mounted->root();
    image = dir.path() / (root.stem().string() + ".img");
    ASSERT_TRUE(is_mount_point(root));
    ASSERT_NE(loop_bound_to(image), "") << "the image is not on a loop device";
    EXPECT_TRUE(
        root.filename().string().starts_with(fmt::format("{}{}.", test::kMountNamePrefix, ::getpid())))
        << root << ": a name remove_stale_mounts() cannot trace to this process";
  }
  EXPECT_FALSE(is_mount_point(root));
  EXPECT_EQ(loop_bound_to(image), "") << "AUTOCLEAR should have detached it";
  EXPECT_FALSE(fs::exists(image));
  EXPECT_FALSE(fs::exists(root));
}

TEST(MountedFs, StaleMountsOfAKilledRunAreTornDown) {
  test::TempDir dir;
  if (::geteuid() != 0) GTEST_SKIP() << "mounting needs root";
  int report[2];
  ASSERT_EQ(::pipe(report), 0);
  const pid_t child = ::fork();
  if (child == 0) {
    // Mounts an ext4 loop and a tmpfs, says where, and dies without running a destructor.
    ::close(report[0]);
    auto ext4 = MountedFs::mount(FsKind::ext4, dir.path(), test::min_image_bytes(FsKind::ext4));
    auto tmpfs = MountedFs::mount(FsKind::tmpfs, dir.path(), 1ULL << 20);
    std::string roots = ext4 && tmpfs ? ext4->root().string() + "\n" + tmpfs->root().string() + "\n" : "\n";
    (void)!::write(report[1], roots.data(), roots.size());
    (void)::raise(SIGKILL);
  }
  ::close(report[1]);
  std::string text;
  char buffer[512];
  for (ssize_t n = 0; (n = ::read(report[0], buffer, sizeof buffer)) > 0;)
    text.append(buffer, static_cast<std::size_t>(n));
  ::close(report[0]);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL);
  const auto newline = text.find('\n');
  if (newline == 0) GTEST_SKIP() << "the child could not mount (no loop driver or no privilege)";
  const fs::path ext4_root = text.substr(0, newline);
  const fs::path tmpfs_root = text.substr(newline + 1, text.find('\n', newline + 1) - newline - 1);
  const fs::path image = dir.path() / (ext4_root.stem().string() + ".img");
  ASSERT_TRUE(is_mount_point(ext4_root)) << "a killed run leaves its mount: the case to clean";
  ASSERT_TRUE(is_mount_point(tmpfs_root));
  ASSERT_NE(loop_bound_to(image), "");

  const auto removed = test::remove_stale_mounts(dir.path());
  for (const auto& line : removed) std::printf("%s\n", line.c_str());
  EXPECT_FALSE(is_mount_point(ext4_root));
  EXPECT_FALSE(is_mount_point(tmpfs_root));
  EXPECT_EQ(loop_bound_to(image), "") << "the killed run's loop device is still attached";
  EXPECT_FALSE(fs::exists(image));
  EXPECT_FALSE(fs::exists(ext4_root));
  EXPECT_FALSE(fs::exists(tmpfs_root));
}

TEST(MountedFs, StaleCleanupLeavesALiveProcessesMountsAlone) {
  test::TempDir dir;
  RINGLOAD_MOUNT_OR_SKIP(mounted, FsKind::tmpfs, dir.path(), 1ULL << 20);
  (void)test::remove_stale_mounts(dir.path());
  EXPECT_TRUE(is_mount_point(mounted->root()));
}

}  // namespace
}  // namespace ringload
