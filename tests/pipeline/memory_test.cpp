// What a load leaves behind, measured in a child process so the figures are the load's alone:
// page-cache residency and anonymous RSS after the load, and peak RSS during it.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>

#include "gen/gen.hpp"
#include "io/page_cache.hpp"
#include "ringload/memstat.hpp"
#include "ringload/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

struct ChildFigures {
  int status = -1;  // 0: the load succeeded
  std::uint64_t anon_before = 0;
  std::uint64_t anon_after = 0;
  std::uint64_t rss_before = 0;
  std::uint64_t peak = 0;
  std::uint64_t resident_pages = 0;
  std::uint64_t total_pages = 0;
  std::uint64_t staging_bytes = 0;
};

// Runs one load in a forked child and brings its figures back through a pipe.
ChildFigures load_in_child(const std::filesystem::path& path, const PipelineOptions& options) {
  int fds[2];
  EXPECT_EQ(::pipe(fds), 0);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    ChildFigures f;
    // Reset VmHWM to the current RSS so the peak is this load's (Linux ≥ 4.0).
    std::ofstream("/proc/self/clear_refs") << "5";
    const auto before = process_memory();
    f.anon_before = before ? before->rss_anon_bytes : 0;
    f.rss_before = before ? before->rss_bytes : 0;
    {
      auto model = Model::load(path);
      NullSink sink;
      auto report = model ? load_into(*model, sink, options) : Result<LoadReport>(model.error());
      f.status = report ? 0 : 1;
      if (report) f.staging_bytes = report->staging_bytes;
    }
    const auto after = process_memory();
    f.anon_after = after ? after->rss_anon_bytes : 0;
    f.peak = after ? after->hwm_bytes : 0;
    if (auto r = file_residency(path)) {
      f.resident_pages = r->resident_pages;
      f.total_pages = r->total_pages;
    }
    (void)!::write(fds[1], &f, sizeof f);
    ::_exit(0);
  }
  ::close(fds[1]);
  ChildFigures f;
  EXPECT_EQ(::read(fds[0], &f, sizeof f), static_cast<ssize_t>(sizeof f));
  ::close(fds[0]);
  int wstatus = 0;
  ::waitpid(pid, &wstatus, 0);
  EXPECT_TRUE(WIFEXITED(wstatus)) << "the child died (signal " << WTERMSIG(wstatus) << ")";
  return f;
}

std::filesystem::path generate_synced(const test::TempDir& dir, std::uint64_t bytes,
                                      const std::string& name) {
  gen::GenOptions g;
  g.format = Format::safetensors;
  g.target_bytes = bytes;
  g.dtype = DType::BF16;
  g.seed = 7;
  const auto path = dir.file(name);
  auto report = gen::generate(path, g);
  EXPECT_TRUE(report) << report.error().to_string();
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_EQ(::fsync(fd), 0);  // dirty pages cannot be dropped; start clean
  ::close(fd);
  return path;
}

// Loads every page into the page cache, as a warm start would have them.
void warm(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> buffer(1 << 20);
  while (in.read(buffer.data(), static_cast<std::streamsize>(buffer.size())) || in.gcount() > 0) {
  }
}

class MemoryAfterLoad : public ::testing::TestWithParam<Strategy> {};

TEST_P(MemoryAfterLoad, ReleaseLeavesNoPageCacheAndNoHeap) {
  test::TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "tmpfs keeps file pages in memory by design";
  const auto path = generate_synced(dir, 48ULL << 20, "m.safetensors");
  warm(path);  // the hardest case: every page cached before the load
  PipelineOptions options;
  options.strategy = GetParam();
  options.slot_count = 4;
  options.slot_size = 1ULL << 20;
  const ChildFigures with = load_in_child(path, options);
  ASSERT_EQ(with.status, 0);
  EXPECT_LE(with.resident_pages * 100, with.total_pages)
      << with.resident_pages << " of " << with.total_pages << " pages still cached after a load with release";
  EXPECT_LE(with.anon_after, with.anon_before + (16ULL << 20))
      << "anonymous RSS grew from " << with.anon_before << " to " << with.anon_after;

  // The release is what frees them: without it a cached file stays cached.
  warm(path);
  options.release = false;
  const ChildFigures without = load_in_child(path, options);
  ASSERT_EQ(without.status, 0);
  EXPECT_GE(without.resident_pages * 100, without.total_pages * 90)
      << "without release " << without.resident_pages << " of " << without.total_pages
      << " pages stay cached";
}

INSTANTIATE_TEST_SUITE_P(Strategies, MemoryAfterLoad,
                         ::testing::Values(Strategy::read, Strategy::mmap, Strategy::mmap_pipelined,
                                           Strategy::uring, Strategy::uring_direct, Strategy::uring_dontcache,
                                           Strategy::automatic, Strategy::pread_direct),
                         [](const auto& info) {
                           std::string name(to_string(info.param));
                           for (auto& c : name) c = c == '-' ? '_' : c;
                           return name;
                         });

TEST(MemoryPeak, UringDirectPeakRssStaysWithinTheRingOn2GiB) {
  test::TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "O_DIRECT needs a disk-backed file system";
  const auto path = generate_synced(dir, 2ULL << 30, "big.safetensors");
  PipelineOptions options;
  options.strategy = Strategy::uring_direct;
  const ChildFigures f = load_in_child(path, options);
  ASSERT_EQ(f.status, 0);
  ASSERT_GT(f.staging_bytes, 0U);
  EXPECT_LE(f.peak, f.rss_before + f.staging_bytes + (32ULL << 20))
      << "peak RSS " << f.peak << " vs baseline " << f.rss_before << " + ring " << f.staging_bytes
      << " + 32 MiB";
  std::filesystem::remove(path);
}

}  // namespace
}  // namespace ringload
