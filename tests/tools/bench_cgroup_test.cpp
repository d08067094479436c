// RunCgroup and spawn_child, as `ringload bench --memory-limit` uses them: real cgroups under this
// process's own, real children. Needs root (or a writable, delegated cgroup) and a memory
// controller; skipped with the reason otherwise.
#include "bench_cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "bench_spawn.hpp"
#include "io/file.hpp"

namespace ringload::cli::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::uint64_t kMiB = 1ULL << 20;
const char* const kPython = "/usr/bin/python3";

// Real cgroups under this process's own; skipped where that cannot be.
class RunCgroupTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto parent = cgroup_parent_for_runs();
    if (!parent) GTEST_SKIP() << parent.error().to_string();
    if (::access(kPython, X_OK) != 0) GTEST_SKIP() << kPython << " is needed to allocate in the child";
    parent_ = *parent;
  }
  [[nodiscard]] static std::string name(const char* what) {
    return "ringload-test-" + std::to_string(::getpid()) + "-" + what;
  }

  MemoryCgroupPath parent_;
};

struct Exit {
  int code = -1;    // exit status, or -1 when killed
  int signal = 0;   // the killing signal
  std::string out;  // stdout
};

// Runs argv in `cgroup`, stdout captured (it must stay small: the pipe is read after the exit).
Exit run_in(const std::vector<std::string>& argv, const RunCgroup& cgroup) {
  int fds[2];
  EXPECT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd out_read(fds[0]);
  UniqueFd out_write(fds[1]);
  auto null = UniqueFd::open("/dev/null", O_WRONLY);
  EXPECT_TRUE(null);
  auto pid = spawn_child(argv, out_write.get(), null->get(), &cgroup);
  EXPECT_TRUE(pid) << pid.error().to_string();
  Exit e;
  if (!pid) return e;
  out_write = UniqueFd();
  int status = 0;
  while (::waitpid(*pid, &status, 0) < 0 && errno == EINTR) {
  }
  char buffer[4096];
  for (ssize_t n = 0; (n = ::read(out_read.get(), buffer, sizeof buffer)) > 0;)
    e.out.append(buffer, static_cast<std::size_t>(n));
  if (WIFEXITED(status)) e.code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) e.signal = WTERMSIG(status);
  return e;
}

std::string allocate(std::uint64_t bytes) {
  // bytearray * n writes every byte: the pages are really touched.
  return "b = bytearray(b'\\x01') * " + std::to_string(bytes);
}

TEST_F(RunCgroupTest, ChildAllocatingPastTheLimitIsOomKilledAndTheCgroupIsRemoved) {
  fs::path dir;
  {
    auto cgroup = RunCgroup::create(parent_, name("oom"), 64 * kMiB);
    ASSERT_TRUE(cgroup) << cgroup.error().to_string();
    dir = cgroup->path().dir;
    ASSERT_TRUE(fs::is_directory(dir));
    const auto limited = cgroup->stat();
    ASSERT_TRUE(limited) << limited.error().to_string();
    EXPECT_EQ(limited->limit_bytes, std::optional<std::uint64_t>(64 * kMiB));

    const Exit e = run_in({kPython, "-c", allocate(256 * kMiB)}, *cgroup);
    EXPECT_EQ(e.signal, SIGKILL);
    const auto stat = cgroup->stat();
    ASSERT_TRUE(stat) << stat.error().to_string();
    EXPECT_GE(stat->oom_kills, 1U);
    EXPECT_LE(stat->peak_bytes, 64 * kMiB);
    EXPECT_GE(stat->peak_bytes, 32 * kMiB);  // it did get near the limit
  }
  EXPECT_FALSE(fs::exists(dir)) << dir;
}

TEST_F(RunCgroupTest, ChildWithinTheLimitCompletesAndItsPeakIsCharged) {
  auto cgroup = RunCgroup::create(parent_, name("fits"), 256 * kMiB);
  ASSERT_TRUE(cgroup) << cgroup.error().to_string();
  const Exit e = run_in({kPython, "-c", allocate(48 * kMiB)}, *cgroup);
  EXPECT_EQ(e.code, 0);
  const auto stat = cgroup->stat();
  ASSERT_TRUE(stat) << stat.error().to_string();
  EXPECT_EQ(stat->oom_kills, 0U);
  EXPECT_GE(stat->peak_bytes, 48 * kMiB);
  const fs::path dir = cgroup->path().dir;
  ASSERT_TRUE(cgroup->remove());
  EXPECT_FALSE(fs::exists(dir));
  EXPECT_TRUE(cgroup->remove());  // idempotent
}

TEST_F(RunCgroupTest, ChildIsInTheCgroupBeforeItsProgramStarts) {
  auto cgroup = RunCgroup::create(parent_, name("where"), std::nullopt);
  ASSERT_TRUE(cgroup) << cgroup.error().to_string();
  const auto stat = cgroup->stat();
  ASSERT_TRUE(stat);
  EXPECT_FALSE(stat->limit_bytes);  // a measuring cgroup
  const Exit e = run_in({"/bin/cat", "/proc/self/cgroup"}, *cgroup);
  EXPECT_EQ(e.code, 0);
  EXPECT_NE(e.out.find(cgroup->path().name + "\n"), std::string::npos) << e.out;
}

TEST_F(RunCgroupTest, ExecFailureIsAnErrorAndLeavesNoChild) {
  auto cgroup = RunCgroup::create(parent_, name("noexec"), std::nullopt);
  ASSERT_TRUE(cgroup) << cgroup.error().to_string();
  auto pid = spawn_child({"/nonexistent/ringload"}, STDOUT_FILENO, STDERR_FILENO, &*cgroup);
  ASSERT_FALSE(pid);
  EXPECT_EQ(pid.error().kind, ErrorKind::not_found);
  EXPECT_EQ(pid.error().path, "/nonexistent/ringload");
  EXPECT_TRUE(cgroup->remove());  // the child was reaped: nothing keeps the cgroup busy
}

TEST_F(RunCgroupTest, StaleCgroupsOfDeadBenchesAreRemoved) {
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ASSERT_GT(dead, 0);
  ASSERT_EQ(::waitpid(dead, nullptr, 0), dead);
  const fs::path stale = parent_.dir / ("ringload-bench-" + std::to_string(dead) + "-1");
  const fs::path alive = parent_.dir / ("ringload-bench-" + std::to_string(::getpid()) + "-1");
  ASSERT_EQ(::mkdir(stale.c_str(), 0755), 0) << stale;
  ASSERT_EQ(::mkdir(alive.c_str(), 0755), 0) << alive;
  EXPECT_GE(remove_stale_run_cgroups(parent_), 1U);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_TRUE(fs::exists(alive));  // ours: this process runs
  ::rmdir(alive.c_str());
}

TEST(RunCgroup, RejectsNamesThatAreNotOneDirectory) {
  const MemoryCgroupPath parent{CgroupVersion::v1, "/nonexistent", "/"};
  for (const char* name : {"", ".", "..", "a/b"}) {
    const auto made = RunCgroup::create(parent, name, std::nullopt);
    ASSERT_FALSE(made) << name;
    EXPECT_EQ(made.error().kind, ErrorKind::invalid_argument) << name;
  }
}

}  // namespace
}  // namespace ringload::cli::bench
