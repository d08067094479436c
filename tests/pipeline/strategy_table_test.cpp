// The strategy table and auto's rule, as DESIGN.md states them: a file at least half cached is
// copied from the page cache (mmap-pipelined); otherwise O_DIRECT where the file system takes it
// (uring-direct); otherwise buffered reads dropped as they land (uring); without io_uring, the same
// rule with the engine there is: O_DIRECT preads (pread-direct), else mmap-pipelined.
#include "pipeline/strategy_table.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <set>
#include <string>
#include <vector>

#include "gen/gen.hpp"
#include "io/page_cache.hpp"
#include "io/uring.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

TEST(AutoRule, HalfCachedOrMoreIsCopiedFromThePageCache) {
  EXPECT_EQ(pick_auto({.resident_pages = 100, .total_pages = 100, .direct_io = true}),
            Strategy::mmap_pipelined);
  EXPECT_EQ(pick_auto({.resident_pages = 50, .total_pages = 100, .direct_io = true}),
            Strategy::mmap_pipelined);
  EXPECT_EQ(pick_auto({.resident_pages = 51, .total_pages = 101, .direct_io = false}),
            Strategy::mmap_pipelined);
}

TEST(AutoRule, LessThanHalfCachedReadsWithODirectWhereTheFileSystemTakesIt) {
  EXPECT_EQ(pick_auto({.resident_pages = 49, .total_pages = 100, .direct_io = true}), Strategy::uring_direct);
  EXPECT_EQ(pick_auto({.resident_pages = 0, .total_pages = 100, .direct_io = true}), Strategy::uring_direct);
}

TEST(AutoRule, WithoutODirectReadsBufferedAndDropsThePages) {
  EXPECT_EQ(pick_auto({.resident_pages = 0, .total_pages = 100, .direct_io = false}), Strategy::uring);
  EXPECT_EQ(pick_auto({.resident_pages = 49, .total_pages = 100, .direct_io = false}), Strategy::uring);
}

TEST(AutoRule, WithoutIoUringReadsWithODirectPreadsWhereTheFileSystemTakesThem) {
  EXPECT_EQ(pick_auto({.uring_available = false, .resident_pages = 0, .total_pages = 100, .direct_io = true}),
            Strategy::pread_direct);
  EXPECT_EQ(
      pick_auto({.uring_available = false, .resident_pages = 49, .total_pages = 100, .direct_io = true}),
      Strategy::pread_direct);
}

TEST(AutoRule, WithoutIoUringOrODirectCopiesFromTheMapping) {
  EXPECT_EQ(
      pick_auto({.uring_available = false, .resident_pages = 0, .total_pages = 100, .direct_io = false}),
      Strategy::mmap_pipelined);
}

TEST(AutoRule, WithoutIoUringACachedFileIsStillCopiedFromThePageCache) {
  EXPECT_EQ(
      pick_auto({.uring_available = false, .resident_pages = 80, .total_pages = 100, .direct_io = true}),
      Strategy::mmap_pipelined);
}

TEST(AutoReason, UringSetupRefusedNamesTheErrnoAndWhatCausesIt) {
  const Error eperm = sys_error(EPERM, "io_uring_setup failed", {});
  const std::string why = uring_unavailable_reason(eperm);
  EXPECT_NE(why.find("EPERM"), std::string::npos) << why;
  EXPECT_NE(why.find("seccomp"), std::string::npos) << why;
  EXPECT_NE(why.find("kernel.io_uring_disabled"), std::string::npos) << why;
  const std::string nosys = uring_unavailable_reason(sys_error(ENOSYS, "io_uring_setup failed", {}));
  EXPECT_NE(nosys.find("ENOSYS"), std::string::npos) << nosys;
}

TEST(AutoRule, AnEmptyFileIsNotCalledCached) {
  EXPECT_EQ(pick_auto({.resident_pages = 0, .total_pages = 0, .direct_io = true}), Strategy::uring_direct);
}

TEST(StrategyTable, HasTheStrategiesOfTheCliInOrderWithUniqueNames) {
  // The seven of the first bench tables keep their places; pread-direct follows them.
  const std::vector<std::string> want = {
      "read", "mmap", "mmap-pipelined", "uring", "uring-direct", "uring-dontcache", "auto", "pread-direct"};
  std::vector<std::string> names;
  for (Strategy s : all_strategies()) names.emplace_back(to_string(s));
  EXPECT_EQ(names, want);
  std::set<std::string> unique(names.begin(), names.end());
  EXPECT_EQ(unique.size(), names.size());
  for (const StrategyEntry& e : strategy_table()) {
    EXPECT_EQ(strategy_from_name(e.name), e.strategy) << e.name;
    EXPECT_EQ(e.open == nullptr, e.strategy == Strategy::automatic) << e.name << ": only auto has no source";
    EXPECT_FALSE(e.summary.empty()) << e.name;
    EXPECT_EQ(e.io_engine.empty(), e.strategy == Strategy::automatic)
        << e.name << ": auto's is what it picks";
  }
  EXPECT_EQ(strategy_entry(Strategy::pread_direct).io_engine, "pread");
  EXPECT_FALSE(strategy_entry(Strategy::pread_direct).needs_uring) << "its point is to need none";
  EXPECT_EQ(strategy_entry(Strategy::uring_direct).io_engine, "io_uring");
  EXPECT_EQ(strategy_entry(Strategy::mmap_pipelined).io_engine, "mmap");
  EXPECT_EQ(strategy_entry(Strategy::read).io_engine, "read");
  EXPECT_EQ(strategy_from_name("uring_direct"), std::nullopt);
  EXPECT_EQ(strategy_from_name(""), std::nullopt);
}

// The rule applied to a real file: warm, then evicted.
TEST(AutoOnAFile, WarmRunsMmapPipelinedColdRunsODirect) {
  test::TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "tmpfs has no cold state";
  if (!Uring::create(8)) GTEST_SKIP() << "io_uring unavailable here";
  gen::GenOptions options;
  options.format = Format::safetensors;
  options.target_bytes = 4ULL << 20;
  const auto path = dir.file("m.safetensors");
  ASSERT_TRUE(gen::generate(path, options));
  const Model model = test::load_model(path);
  // Written pages are dirty until written back, and FADV_DONTNEED cannot drop dirty pages.
  ASSERT_EQ(::fsync(model.fd()), 0);

  // Warm: read every byte through the page cache.
  std::vector<std::byte> sink(model.file_size());
  ASSERT_EQ(::pread(model.fd(), sink.data(), sink.size(), 0), static_cast<ssize_t>(sink.size()));
  auto warm_cache = file_residency(model.fd(), model.path());
  ASSERT_TRUE(warm_cache);
  ASSERT_EQ(warm_cache->resident_pages, warm_cache->total_pages);
  NullSink null;
  PipelineOptions auto_options = test::small_ring(Strategy::automatic);
  auto warm = load_into(model, null, auto_options);
  ASSERT_TRUE(warm) << warm.error().to_string();
  EXPECT_EQ(warm->strategy, Strategy::mmap_pipelined);

  // Cold: the release after that load dropped the pages; make sure none are left.
  ASSERT_TRUE(drop_file_cache(model.fd(), 0, 0, model.path()));
  auto cold_cache = file_residency(model.fd(), model.path());
  ASSERT_TRUE(cold_cache);
  ASSERT_EQ(cold_cache->resident_pages, 0U);
  auto cold = load_into(model, null, auto_options);
  ASSERT_TRUE(cold) << cold.error().to_string();
  EXPECT_EQ(cold->strategy, direct_io_alignment(model.fd()) ? Strategy::uring_direct : Strategy::uring);
}

}  // namespace
}  // namespace ringload
