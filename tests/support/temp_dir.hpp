// A fresh directory per test on a real file system (the build tree, ext4 here), removed after.
// Not /tmp: page-cache and O_DIRECT behaviour must be that of a disk, not tmpfs.
#pragma once

#include <cstddef>
#include <filesystem>
#include <span>
#include <string>

namespace ringload::test {

// Where every TempDir is made: $RINGLOAD_TEST_TMP, else the build tree's tests/tmp.
std::filesystem::path temp_root();

class TempDir {
 public:
  TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  ~TempDir();

  [[nodiscard]] const std::filesystem::path& path() const { return path_; }
  [[nodiscard]] std::filesystem::path file(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// Writes bytes to a file (creating or replacing it) and returns its path; fails the test on error.
std::filesystem::path write_file(const std::filesystem::path& path, std::span<const std::byte> bytes);

// True when the path's file system is tmpfs/ramfs (residency tests skip there).
bool is_memory_fs(const std::filesystem::path& path);

}  // namespace ringload::test
