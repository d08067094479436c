#include "pipeline/strategy_table.hpp"

#include <array>

#include <fmt/format.h>

#include "io/page_cache.hpp"
#include "io/uring.hpp"
#include "pipeline/engine.hpp"

namespace ringload {
namespace {

// clang-format off
constexpr std::array kTable = {
  StrategyEntry{Strategy::read, "read", "baseline: the whole file onto the heap, then copy", false, false, open_read_source},
  StrategyEntry{Strategy::mmap, "mmap", "baseline: copy tensor by tensor out of a mapping, release at the end", false, false, open_mmap_source},
  StrategyEntry{Strategy::mmap_pipelined, "mmap-pipelined", "copy out of the mapping into the ring, release per tensor", false, false, open_mmap_pipelined_source},
  StrategyEntry{Strategy::uring, "uring", "buffered io_uring reads, page cache dropped per tensor", true, true, open_uring_source},
  StrategyEntry{Strategy::uring_direct, "uring-direct", "O_DIRECT io_uring reads: no page cache at all", true, true, open_uring_direct_source},
  StrategyEntry{Strategy::uring_dontcache, "uring-dontcache", "buffered io_uring reads with RWF_DONTCACHE (Linux >= 6.14)", true, true, open_uring_dontcache_source},
  StrategyEntry{Strategy::automatic, "auto", "the measured best for the file's cache state and file system", false, false, nullptr},
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
  if (!facts.uring_available) return Strategy::mmap_pipelined;
  if (facts.total_pages > 0 && facts.resident_pages * 2 >= facts.total_pages) return Strategy::mmap_pipelined;
  return facts.direct_io ? Strategy::uring_direct : Strategy::uring;
}

Result<Strategy> resolve_strategy(Strategy requested, const Model& model, LoadEngine& engine,
                                  const PipelineOptions& options,
                                  const std::function<void(std::string_view)>& warn) {
  const StrategyEntry& entry = strategy_entry(requested);
  if (requested != Strategy::automatic && !entry.needs_file) return requested;
  if (!model.is_mmap()) {
    warn(fmt::format(
        "{}: the model is in memory (compressed APR or from_bytes): copying from memory instead of {}",
        model.path(), entry.name));
    return Strategy::mmap_pipelined;
  }
  const bool uring = engine.uring(options.queue_depth) != nullptr;
  if (entry.needs_uring && !uring) return *engine.uring_unavailable();
  if (requested != Strategy::automatic) return requested;
  if (!uring)
    warn(fmt::format("io_uring unavailable ({}); auto uses mmap-pipelined",
                     engine.uring_unavailable()->message));
  AutoFacts facts{.uring_available = uring, .direct_io = direct_io_alignment(model.fd()).has_value()};
  if (auto cached = file_residency(model.fd(), model.path())) {
    facts.resident_pages = cached->resident_pages;
    facts.total_pages = cached->total_pages;
  }
  return pick_auto(facts);
}

}  // namespace ringload
