#include "support/temp_dir.hpp"

#include <sys/vfs.h>
#include <unistd.h>

#include <atomic>
#include <fstream>

#include <gtest/gtest.h>

#ifndef RINGLOAD_TEST_TMP_DIR
#define RINGLOAD_TEST_TMP_DIR "/var/tmp"
#endif

namespace ringload::test {

std::filesystem::path temp_root() {
  const char* env = std::getenv("RINGLOAD_TEST_TMP");
  return env != nullptr ? env : RINGLOAD_TEST_TMP_DIR;
}

TempDir::TempDir() {
  static std::atomic<int> counter{0};
  const std::filesystem::path root = temp_root();
  const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
  std::string leaf = info != nullptr ? std::string(info->test_suite_name()) + "." + info->name() : "test";
  // Parameterised names contain '/', which would nest directories the destructor leaves behind.
  for (auto& c : leaf) c = c == '/' ? '_' : c;
  path_ = root / (leaf + "." + std::to_string(::getpid()) + "." + std::to_string(counter++));
  std::filesystem::create_directories(path_);
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path write_file(const std::filesystem::path& path, std::span<const std::byte> bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  out.close();
  EXPECT_TRUE(out.good()) << "cannot write " << path;
  return path;
}

bool is_memory_fs(const std::filesystem::path& path) {
  struct statfs st {};
  if (::statfs(path.c_str(), &st) != 0) return false;
  constexpr long kTmpfsMagic = 0x01021994;
  constexpr long kRamfsMagic = 0x858458f6;
  return st.f_type == kTmpfsMagic || st.f_type == kRamfsMagic;
}

}  // namespace ringload::test
