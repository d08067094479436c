#include "pipeline/strategy_table.hpp"

#include <array>
#include <cerrno>
#include <cstring>

#include <fmt/format.h>

#include "io/page_cache.hpp"
#include "io/uring.hpp"
#include "pipeline/engine.hpp"

namespace ringload {
namespace {

// clang-format off
constexpr std::array kTable = {
  StrategyEntry{Strategy::read, "read", "baseline: the whole file onto the heap, then copy", false, false, "read", open_read_source},
  StrategyEntry{Strategy::mmap, "mmap", "baseline: copy tensor by tensor out of a mapping, release at the end", false, false, "mmap", open_mmap_source},
  StrategyEntry{Strategy::mmap_pipelined, "mmap-pipelined", "copy out of the mapping into the ring, release per tensor", false, false, "mmap", open_mmap_pipelined_source},
  StrategyEntry{Strategy::uring, "uring", "buffered io_uring reads, page cache dropped per tensor", true, true, "io_uring", open_uring_source},
  StrategyEntry{Strategy::uring_direct, "uring-direct", "O_DIRECT io_uring reads: no page cache at all", true, true, "io_uring", open_uring_direct_source},
  StrategyEntry{Strategy::uring_dontcache, "uring-dontcache", "buffered io_uring reads with RWF_DONTCACHE (Linux >= 6.14)", true, true, "io_uring", open_uring_dontcache_source},
  StrategyEntry{Strategy::automatic, "auto", "the measured best for the file's cache state and file system", false, false, "", nullptr},
  StrategyEntry{Strategy::pread_direct, "pread-direct", "O_DIRECT pread from a few threads: no io_uring, no page cache", false, true, "pread", open_pread_direct_source},
};
// clang-format on

constexpr std::array<Strategy, kTable.size()> kStrategies = [] {
  std::array<Strategy, kTable.size()> all{};
  for (std::size_t i = 0; i < kTable.size(); ++i) all[i] = kTable[i].strategy;
  return all;
}();

}  // namespace

std::span<const StrategyEntry> strategy_table() noexcept { return kTable; }

const StrategyEntry& strategy_entry(Strategy strategy) noexcept {
  for (const StrategyEntry& e : kTable) {
    if (e.strategy == strategy) return e;
  }
  return kTable.back();  // unreachable: every enumerator has a row
}

std::string_view to_string(Strategy strategy) noexcept { return strategy_entry(strategy).name; }

std::optional<Strategy> strategy_from_name(std::string_view name) noexcept {
  for (const StrategyEntry& e : kTable) {
    if (e.name == name) return e.strategy;
  }
  return std::nullopt;
}

std::span<const Strategy> all_strategies() noexcept { return kStrategies; }

Strategy pick_auto(const AutoFacts& facts) noexcept {
  if (facts.total_pages > 0 && facts.resident_pages * 2 >= facts.total_pages) return Strategy::mmap_pipelined;
  if (!facts.uring_available) return facts.direct_io ? Strategy::pread_direct : Strategy::mmap_pipelined;
  return facts.direct_io ? Strategy::uring_direct : Strategy::uring;
}

std::string uring_unavailable_reason(const Error& uring_error) {
  const int err = uring_error.os_errno;
  if (err == 0) return uring_error.message;
  const char* name = ::strerrorname_np(err);
  const std::string code = name != nullptr ? name : fmt::format("errno {}", err);
  std::string why = std::strerror(err);
  if (err == EPERM) why = "seccomp or kernel.io_uring_disabled";
  if (err == ENOSYS) why = "a kernel built without io_uring";
  return fmt::format("io_uring_setup failed: {} ({})", code, why);
}

namespace {

// Auto's facts in words, for LoadReport::io_engine_reason.
std::string auto_reason(const AutoFacts& facts, Strategy picked, const std::optional<Error>& uring_error,
                        const PipelineOptions& options) {
  if (picked == Strategy::mmap_pipelined && facts.total_pages > 0 &&
      facts.resident_pages * 2 >= facts.total_pages) {
    return fmt::format("auto: {} of the file's {} pages are in the page cache: copied from there",
                       facts.resident_pages, facts.total_pages);
  }
  const std::string no_direct =
      "the file system takes no O_DIRECT (statx names no alignment, a 4 KiB read failed)";
  if (!facts.uring_available) {
    const std::string uring = uring_error ? uring_unavailable_reason(*uring_error) : "io_uring unavailable";
    if (picked == Strategy::pread_direct) {
      return fmt::format("{}; O_DIRECT preads from {} threads instead (pread-direct)", uring,
                         pread_direct_threads());
    }
    return fmt::format("{}; {}: copied out of a mapping instead (mmap-pipelined)", uring, no_direct);
  }
  const std::string cached = fmt::format("auto: {} of the file's {} pages cached (under half)",
                                         facts.resident_pages, facts.total_pages);
  return facts.direct_io ? fmt::format("{}; io_uring and O_DIRECT are available", cached)
                         : fmt::format("{}; {}", cached, no_direct);
}

}  // namespace

Result<ResolvedStrategy> resolve_strategy(Strategy requested, const Model& model, LoadEngine& engine,
                                          const PipelineOptions& options,
                                          const std::function<void(std::string_view)>& warn) {
  const StrategyEntry& entry = strategy_entry(requested);
  if (requested != Strategy::automatic && !entry.needs_file) return ResolvedStrategy{requested, "asked for"};
  if (!model.is_mmap()) {
    warn(fmt::format(
        "{}: the model is in memory (compressed APR or from_bytes): copying from memory instead of {}",
        model.path(), entry.name));
    return ResolvedStrategy{Strategy::mmap_pipelined,
                            "the model is in memory (compressed APR or from_bytes): copied from there"};
  }
  // pread-direct needs no io_uring: asking for it must not even try to set one up.
  const bool uring =
      (entry.needs_uring || requested == Strategy::automatic) && engine.uring(options.queue_depth) != nullptr;
  if (entry.needs_uring && !uring) return *engine.uring_unavailable();
  if (requested != Strategy::automatic) return ResolvedStrategy{requested, "asked for"};
  AutoFacts facts{.uring_available = uring, .direct_io = direct_io_alignment(model.fd()).has_value()};
  if (auto cached = file_residency(model.fd(), model.path())) {
    facts.resident_pages = cached->resident_pages;
    facts.total_pages = cached->total_pages;
  }
  const Strategy picked = pick_auto(facts);
  if (!uring) {
    warn(fmt::format("io_uring unavailable ({}); auto uses {}",
                     uring_unavailable_reason(*engine.uring_unavailable()), to_string(picked)));
  }
  return ResolvedStrategy{picked, auto_reason(facts, picked, engine.uring_unavailable(), options)};
}

}  // namespace ringload
