#include "soak/process_sample.hpp"

#include <malloc.h>

#include <algorithm>
#include <cstdlib>
#include <string_view>

#include <fmt/format.h>

#include "support/process_counts.hpp"

namespace ringload::test {

void fix_malloc_thresholds() {
  // 128 KiB: glibc's default, fixed. Setting it turns the dynamic raise off; the trim threshold
  // is set to its default too, which glibc otherwise raises along with it.
  (void)::mallopt(M_MMAP_THRESHOLD, 128 * 1024);
  (void)::mallopt(M_TRIM_THRESHOLD, 128 * 1024);
}

ProcessSample sample_process(std::uint64_t loads, const std::vector<SoakModel>& models) {
  (void)::malloc_trim(0);
  ProcessSample s;
  s.loads = loads;
  s.fds = open_fds();
  s.mappings = all_mappings();
  s.threads = user_threads();
  s.anon_rss_bytes = anon_rss_bytes();
  s.cached_pages = cached_pages(models, false);
  s.cached_pages_decoded = cached_pages(models, true);
  return s;
}

std::uint64_t soak_loads() {
  const char* env = std::getenv("RINGLOAD_SOAK_LOADS");
  if (env == nullptr || *env == '\0') return 1000;
  char* end = nullptr;
  const auto loads = std::strtoull(env, &end, 10);
  EXPECT_TRUE(*end == '\0' && loads >= 10)
      << "RINGLOAD_SOAK_LOADS=" << env << ": want a count of at least 10";
  return std::max<std::uint64_t>(loads, 10);
}

std::vector<std::uint64_t> sample_points(std::uint64_t total) {
  std::vector<std::uint64_t> points{10, total / 10, total / 2, total};
  std::sort(points.begin(), points.end());
  points.erase(std::unique(points.begin(), points.end()), points.end());
  points.erase(std::remove_if(points.begin(), points.end(), [](std::uint64_t p) { return p < 10; }),
               points.end());
  return points;
}

std::string sample_table(std::span<const ProcessSample> samples) {
  std::string table =
      fmt::format("{:>6} {:>5} {:>9} {:>8} {:>13} {:>17} {:>27}\n", "loads", "fds", "mappings", "threads",
                  "anon RSS MiB", "page cache pages", "compressed APR cached pages");
  for (const auto& s : samples) {
    table += fmt::format("{:>6} {:>5} {:>9} {:>8} {:>13.2f} {:>17} {:>27}\n", s.loads, s.fds, s.mappings,
                         s.threads, static_cast<double>(s.anon_rss_bytes) / (1 << 20), s.cached_pages,
                         s.cached_pages_decoded);
  }
  return table;
}

::testing::AssertionResult flat(std::span<const ProcessSample> samples, const Flatness& tolerance) {
  if (samples.empty()) return ::testing::AssertionFailure() << "no samples";
  const ProcessSample& first = samples.front();
  std::string problems;
  for (const auto& s : samples.subspan(1)) {
    const auto differs = [&](std::string_view what, auto now, auto then, std::string_view allowed) {
      problems +=
          fmt::format("load {}: {} {}, load {}: {}{}\n", s.loads, what, now, first.loads, then, allowed);
    };
    if (s.fds != first.fds) differs("fds", s.fds, first.fds, "");
    if (s.threads != first.threads) differs("threads", s.threads, first.threads, "");
    if (tolerance.check_mappings_and_rss && s.mappings != first.mappings) {
      differs("mappings", s.mappings, first.mappings, "");
    }
    if (tolerance.check_mappings_and_rss &&
        s.anon_rss_bytes > first.anon_rss_bytes + tolerance.anon_rss_bytes) {
      differs("anon RSS bytes", s.anon_rss_bytes, first.anon_rss_bytes,
              fmt::format(" (allowed: {} more)", tolerance.anon_rss_bytes));
    }
    if (s.cached_pages > first.cached_pages + tolerance.cached_pages) {
      differs("cached pages", s.cached_pages, first.cached_pages,
              fmt::format(" (allowed: {} more)", tolerance.cached_pages));
    }
  }
  if (problems.empty()) return ::testing::AssertionSuccess();
  return ::testing::AssertionFailure() << "not flat:\n" << problems;
}

}  // namespace ringload::test
