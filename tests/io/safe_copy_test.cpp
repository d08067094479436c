// Copies out of a mapping that survive the file shrinking underneath (SIGBUS becomes `truncated`
// at the faulting byte), and a SIGBUS that is not ours reaching whatever handler was there before
// ours, as if ours were not installed. Each chaining case runs in a child process: it ends in a
// signal.
#include "io/safe_copy.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <csignal>
#include <cstring>
#include <vector>

#include "support/temp_dir.hpp"

namespace ringload {
namespace {

constexpr std::size_t kPage = 4096;

// A 4-page file mapped whole, then cut to 1 page: pages 1..3 of the mapping now raise SIGBUS.
struct ShrunkMapping {
  test::TempDir dir;
  std::byte* map = nullptr;
  std::size_t size = 4 * kPage;

  ShrunkMapping() {
    const std::vector<std::byte> bytes(size, std::byte{0x5a});
    const auto path = test::write_file(dir.file("shrinks.bin"), bytes);
    const int fd = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
    EXPECT_GE(fd, 0);
    void* m = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
    EXPECT_NE(m, MAP_FAILED);
    map = static_cast<std::byte*>(m);
    EXPECT_EQ(::ftruncate(fd, kPage), 0);
    ::close(fd);
  }
  ShrunkMapping(const ShrunkMapping&) = delete;
  ShrunkMapping& operator=(const ShrunkMapping&) = delete;
  ~ShrunkMapping() { ::munmap(map, size); }
};

TEST(SafeCopy, ACopyPastTheNewEndIsTruncatedAtTheFirstLostByte) {
  ShrunkMapping m;
  std::vector<std::byte> out(m.size);
  auto copied = copy_from_mapping(out, std::span<const std::byte>(m.map, m.size));
  ASSERT_FALSE(copied);
  EXPECT_EQ(copied.error().kind, ErrorKind::truncated);
  EXPECT_EQ(copied.error().offset, kPage);
  EXPECT_EQ(out[kPage - 1], std::byte{0x5a}) << "the bytes before the cut were copied";
}

// Installs `install_previous`'s handler for SIGBUS, lets ringload install its guard on top (one
// guarded copy of the intact page), then touches a lost page outside any guarded copy. Runs in a
// fresh process (gtest's threadsafe death tests re-execute the binary), so ringload's handler is
// installed after the other one, as in a process that set its own before loading a model.
void touch_outside_the_guard(const ShrunkMapping& m, void (*install_previous)()) {
  install_previous();
  std::vector<std::byte> out(kPage);
  if (!copy_from_mapping(out, std::span<const std::byte>(m.map, kPage))) ::_exit(3);
  volatile std::byte lost = m.map[2 * kPage];  // SIGBUS, not in a guarded range
  (void)lost;
  ::_exit(4);  // only if nothing ended the process
}

class SafeCopyDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(SafeCopyDeathTest, ASigbusOutsideTheGuardReachesAnEarlierSiginfoHandler) {
  ShrunkMapping m;
  EXPECT_EXIT(touch_outside_the_guard(m,
                                      [] {
                                        struct sigaction action {};
                                        action.sa_sigaction = [](int signo, siginfo_t* info, void*) {
                                          ::_exit(signo == SIGBUS && info != nullptr ? 42 : 43);
                                        };
                                        action.sa_flags = SA_SIGINFO;
                                        sigemptyset(&action.sa_mask);
                                        ::sigaction(SIGBUS, &action, nullptr);
                                      }),
              ::testing::ExitedWithCode(42), "");
}

TEST_F(SafeCopyDeathTest, ASigbusOutsideTheGuardReachesAnEarlierPlainHandler) {
  ShrunkMapping m;
  EXPECT_EXIT(touch_outside_the_guard(
                  m, [] { ::signal(SIGBUS, [](int signo) { ::_exit(signo == SIGBUS ? 41 : 43); }); }),
              ::testing::ExitedWithCode(41), "");
}

TEST_F(SafeCopyDeathTest, ASigbusOutsideTheGuardWithNoEarlierHandlerKillsAsUsual) {
  ShrunkMapping m;
  EXPECT_EXIT(touch_outside_the_guard(m, [] { ::signal(SIGBUS, SIG_DFL); }),
              ::testing::KilledBySignal(SIGBUS), "");
}

}  // namespace
}  // namespace ringload
