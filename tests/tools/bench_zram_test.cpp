// ZramSwap, as `ringload bench --zram` uses it: real zram swap turned on and off. Needs root and the
// zram module; skipped with the reason otherwise. Every test compares the device's sysfs attributes
// and /proc/swaps byte for byte before and after.
#include "bench_zram.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "io/mapping.hpp"

namespace ringload::cli::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1ULL << 20;

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Every readable attribute of a zram device, and /proc/swaps.
using State = std::map<std::string, std::string>;
State state_of(const fs::path& sysfs_dir) {
  State state;
  state["/proc/swaps"] = read_text("/proc/swaps");
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(sysfs_dir, ec)) {
    const std::string name = entry.path().filename().string();
    // diskseq (and uevent, which repeats it) count media changes: a sequence number, not state.
    if (!entry.is_regular_file(ec) || name == "diskseq" || name == "uevent") continue;
    if (::access(entry.path().c_str(), R_OK) != 0) continue;
    std::ifstream in(entry.path());
    if (!in) continue;  // write-only attributes (reset, compact, ...)
    std::stringstream buffer;
    buffer << in.rdbuf();
    state[name] = buffer.str();
  }
  return state;
}

bool swaps_list(const fs::path& device) {
  std::istringstream swaps(read_text("/proc/swaps"));
  for (std::string name, rest; swaps >> name && std::getline(swaps, rest);)
    if (name == device.string()) return true;
  return false;
}

class ZramSwapTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (const std::string why = zram_unavailable_reason(); !why.empty()) GTEST_SKIP() << why;
    if (!fs::exists("/sys/block/zram0")) GTEST_SKIP() << "no zram0 (zram loaded with num_devices=0)";
  }
  static bool zram0_unused() { return read_text("/sys/block/zram0/disksize") == "0\n"; }
};

TEST_F(ZramSwapTest, SwapIsOnDuringAndTheDeviceIsAsBeforeAfter) {
  const fs::path used = zram0_unused() ? fs::path("/sys/block/zram0") : fs::path();
  const State before = used.empty() ? State{} : state_of(used);
  const std::string swaps_before = read_text("/proc/swaps");
  {
    auto zram = ZramSwap::create(ZramSwapOptions{.disksize_bytes = 64 * kMiB});
    ASSERT_TRUE(zram) << zram.error().to_string();
    if (!used.empty()) EXPECT_EQ(zram->sysfs_dir(), used);  // an unused zram0 is taken as it is
    EXPECT_TRUE(swaps_list(zram->device())) << read_text("/proc/swaps");
    EXPECT_EQ(read_text(zram->sysfs_dir() / "disksize"), std::to_string(64 * kMiB) + "\n");
    if (read_text(zram->sysfs_dir() / "comp_algorithm").find("lz4") != std::string::npos) {
      EXPECT_EQ(zram->algorithm(), "lz4");
      EXPECT_EQ(selected_algorithm(read_text(zram->sysfs_dir() / "comp_algorithm")), "lz4");
    }
  }
  EXPECT_EQ(read_text("/proc/swaps"), swaps_before);
  if (!used.empty()) EXPECT_EQ(state_of(used), before);
}

TEST_F(ZramSwapTest, ExplicitRestoreIsIdempotentAndReleasesTheLock) {
  if (!zram0_unused()) GTEST_SKIP() << "zram0 is in use here";
  const State before = state_of("/sys/block/zram0");
  auto first = ZramSwap::create(ZramSwapOptions{.disksize_bytes = 32 * kMiB});
  ASSERT_TRUE(first) << first.error().to_string();
  ASSERT_TRUE(first->restore());
  EXPECT_EQ(state_of("/sys/block/zram0"), before);
  EXPECT_TRUE(first->restore());
  // The lock went with the restore: a second setup does not wait for `first` to be destroyed.
  auto second = ZramSwap::create(ZramSwapOptions{.disksize_bytes = 32 * kMiB});
  ASSERT_TRUE(second) << second.error().to_string();
}

TEST_F(ZramSwapTest, FailureAtEveryStepOfTheSetupRestoresTheDevice) {
  if (!zram0_unused()) GTEST_SKIP() << "zram0 is in use here";
  const State before = state_of("/sys/block/zram0");
  for (const char* step : {"algorithm", "disksize", "mkswap", "swapon"}) {
    ZramSwapOptions options{.disksize_bytes = 32 * kMiB};
    options.fail_before_step = step;
    const auto zram = ZramSwap::create(options);
    if (std::string(step) == "algorithm" &&
        read_text("/sys/block/zram0/comp_algorithm").find("[lz4]") != std::string::npos) {
      continue;  // lz4 already selected: there is no algorithm step to fail
    }
    ASSERT_FALSE(zram) << step;
    EXPECT_EQ(zram.error().kind, ErrorKind::io) << step;
    EXPECT_NE(zram.error().message.find(step), std::string::npos) << zram.error().message;
    EXPECT_EQ(state_of("/sys/block/zram0"), before) << "after a failure before " << step;
  }
}

// The user's zram0 (configured, holding data) is never touched: a device of our own comes and goes.
TEST_F(ZramSwapTest, ZramInUseIsLeftAloneAndAHotAddedDeviceIsRemoved) {
  if (!zram0_unused()) GTEST_SKIP() << "zram0 is in use here: not reconfiguring it for the test";
  if (!fs::exists("/sys/class/zram-control/hot_add")) GTEST_SKIP() << "no zram hot_add here";
  // Stand in for a user's zram0: configured, with data in it.
  struct UserZram {
    UserZram() {
      std::ofstream("/sys/block/zram0/disksize") << 16 * kMiB;
      const int fd = ::open("/dev/zram0", O_WRONLY | O_CLOEXEC);
      if (fd >= 0) {
        std::vector<char> data(kMiB, 'u');
        (void)!::write(fd, data.data(), data.size());
        ::fsync(fd);
        ::close(fd);
      }
    }
    UserZram(const UserZram&) = delete;
    UserZram& operator=(const UserZram&) = delete;
    ~UserZram() { std::ofstream("/sys/block/zram0/reset") << 1; }
  } user;
  ASSERT_EQ(read_text("/sys/block/zram0/disksize"), std::to_string(16 * kMiB) + "\n");
  const State users = state_of("/sys/block/zram0");
  fs::path ours;
  {
    auto zram = ZramSwap::create(ZramSwapOptions{.disksize_bytes = 32 * kMiB});
    ASSERT_TRUE(zram) << zram.error().to_string();
    EXPECT_TRUE(zram->hot_added());
    ours = zram->sysfs_dir();
    EXPECT_NE(ours, fs::path("/sys/block/zram0"));
    EXPECT_TRUE(swaps_list(zram->device()));
    EXPECT_EQ(state_of("/sys/block/zram0").at("disksize"), users.at("disksize"));
  }
  EXPECT_FALSE(fs::exists(ours)) << ours << " was not hot_removed";
  EXPECT_EQ(state_of("/sys/block/zram0"), users);
}

TEST(ZramSwapHeader, IsWhatMkswapWrites) {
  std::vector<std::byte> page(4096, std::byte{0x55});
  write_swap_header(page, 64 * kMiB);
  std::uint32_t version = 0;
  std::uint32_t last_page = 0;
  std::uint32_t bad_pages = 7;
  std::memcpy(&version, page.data() + 1024, 4);
  std::memcpy(&last_page, page.data() + 1028, 4);
  std::memcpy(&bad_pages, page.data() + 1032, 4);
  EXPECT_EQ(version, 1U);
  EXPECT_EQ(last_page, 64 * kMiB / 4096 - 1);
  EXPECT_EQ(bad_pages, 0U);
  EXPECT_EQ(std::memcmp(page.data() + 4096 - 10, "SWAPSPACE2", 10), 0);
  EXPECT_EQ(page[0], std::byte{0});                                     // the old contents are gone
  EXPECT_EQ(std::memcmp(page.data() + 1052, "ringload-bench", 14), 0);  // the volume label
}

TEST(ZramSwapHeader, SelectedAlgorithmIsTheBracketedOne) {
  EXPECT_EQ(selected_algorithm("lzo-rle lzo [lz4] zstd\n"), "lz4");
  EXPECT_EQ(selected_algorithm("[lzo-rle] lzo lz4\n"), "lzo-rle");
  EXPECT_EQ(selected_algorithm("lzo lz4\n"), "");
}

}  // namespace
}  // namespace ringload::cli::bench
