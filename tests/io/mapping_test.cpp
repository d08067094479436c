// A mapping that cannot be made says why and what to do: ENOMEM, whether from the address-space
// limit or from vm.max_map_count (the usual cause in a process that maps many shards), is
// out_of_memory and names the sysctl. Each case runs in a fresh child process (gtest's threadsafe
// death tests): exhausting a process's mappings or address space is not undone.
#include "io/mapping.hpp"

#include <sys/mman.h>
#include <sys/resource.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <fstream>
#include <string>
#include <vector>

#include "ringload/model.hpp"
#include "support/temp_dir.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define RINGLOAD_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGLOAD_ASAN 1
#endif
#endif

namespace ringload {
namespace {

constexpr std::size_t kPage = 4096;

// Exits 0 when loading `path` fails as out_of_memory naming vm.max_map_count, else 1.
[[noreturn]] void load_and_report(const std::filesystem::path& path) {
  auto model = Model::load(path);
  const bool hinted = !model && model.error().kind == ErrorKind::out_of_memory &&
                      model.error().message.find("vm.max_map_count") != std::string::npos &&
                      model.error().path == path.string();
  ::_exit(hinted ? 0 : 1);
}

// Splits one anonymous region into single-page mappings until the kernel refuses another.
void exhaust_mappings() {
  std::size_t limit = 65530;
  std::ifstream("/proc/sys/vm/max_map_count") >> limit;
  const std::size_t pages = limit * 2 + 16;
  auto* region = static_cast<std::byte*>(::mmap(nullptr, pages * kPage, PROT_READ | PROT_WRITE,
                                                MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0));
  if (region == MAP_FAILED) ::_exit(2);
  std::size_t p = 1;
  while (p < pages && ::mprotect(region + p * kPage, kPage, PROT_NONE) == 0) p += 2;
  if (p >= pages) ::_exit(3);  // never refused: the test cannot tell anything
  // Splitting stops one short of what mmap may still add: take those too.
  while (::mmap(nullptr, kPage, PROT_READ, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0) != MAP_FAILED) {
  }
}

class MappingDeathTest : public ::testing::Test {
 protected:
  void SetUp() override {
#ifdef RINGLOAD_ASAN
    GTEST_SKIP() << "AddressSanitizer needs address space and mappings of its own to run at all";
#endif
    GTEST_FLAG_SET(death_test_style, "threadsafe");
    path_ = test::write_file(dir_.file("m.safetensors"), safetensors_file());
  }

  // A valid one-tensor safetensors file.
  static std::vector<std::byte> safetensors_file() {
    const std::string header = R"({"w":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})";
    std::vector<std::byte> bytes(8 + header.size() + 16);
    const std::uint64_t n = header.size();
    for (int i = 0; i < 8; ++i) bytes[i] = static_cast<std::byte>(n >> (8 * i));
    for (std::size_t i = 0; i < header.size(); ++i) bytes[8 + i] = static_cast<std::byte>(header[i]);
    return bytes;
  }

  test::TempDir dir_;
  std::filesystem::path path_;
};

TEST_F(MappingDeathTest, MaxMapCountExhaustedIsOutOfMemoryNamingTheSysctl) {
  EXPECT_EXIT(
      {
        exhaust_mappings();
        load_and_report(path_);
      },
      ::testing::ExitedWithCode(0), "");
}

TEST_F(MappingDeathTest, AddressSpaceExhaustedIsOutOfMemoryNamingTheSysctl) {
  EXPECT_EXIT(
      {
        // Room for what the process has now and little more: the model's mapping does not fit.
        rlimit limit{};
        ::getrlimit(RLIMIT_AS, &limit);
        std::size_t in_use = 0;
        std::ifstream("/proc/self/statm") >> in_use;
        limit.rlim_cur = in_use * kPage;
        if (::setrlimit(RLIMIT_AS, &limit) != 0) ::_exit(2);
        load_and_report(path_);
      },
      ::testing::ExitedWithCode(0), "");
}

}  // namespace
}  // namespace ringload
