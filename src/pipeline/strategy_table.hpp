// Every strategy in one table: its CLI name, what it needs, and the factory of its chunk source.
// Adding a strategy is a Strategy value, one source file and one line here. `auto` has no source
// of its own: it resolves to another row by the measured rule (pick_auto).
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

#include "pipeline/source.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

class LoadEngine;

struct StrategyEntry {
  Strategy strategy;
  std::string_view name;
  std::string_view summary;    // one line for --help
  bool needs_uring;            // fails with the io_uring error where io_uring is unavailable
  bool needs_file;             // reads the file itself: a model already in memory is copied instead
  std::string_view io_engine;  // LoadReport::io_engine: "io_uring", "pread", "mmap", "read"
  SourceFactory open;          // nullptr for auto
};

[[nodiscard]] std::span<const StrategyEntry> strategy_table() noexcept;
[[nodiscard]] const StrategyEntry& strategy_entry(Strategy strategy) noexcept;

// What auto decides on.
struct AutoFacts {
  bool uring_available = true;
  std::uint64_t resident_pages = 0;  // of the file, in the page cache now
  std::uint64_t total_pages = 0;
  bool direct_io = false;  // the file system takes O_DIRECT (statx reports its alignment)
};

// The measured rule (DESIGN.md, bench/results/2026-11-25-cpp-2vcpu): a file at least half cached
// is copied out of the page cache (mmap-pipelined); otherwise O_DIRECT where the file system takes
// it (uring-direct); otherwise buffered reads dropped from the cache as they land (uring).
// Without io_uring (a container's seccomp profile, kernel.io_uring_disabled) the same rule with
// the engine there is: O_DIRECT through pread-direct, and where the file system refuses O_DIRECT,
// mmap-pipelined (its per-tensor release drops the pages as uring's does).
[[nodiscard]] Strategy pick_auto(const AutoFacts& facts) noexcept;

// What a load runs for one file, and why (LoadReport::io_engine_reason).
struct ResolvedStrategy {
  Strategy strategy = Strategy::automatic;
  std::string reason;  // "asked for", or auto's facts
};

// The strategy a load runs: `requested`, or for auto pick_auto over the file's facts; a model
// already in memory (compressed APR, from_bytes) is copied from memory whatever was asked (with a
// warning); an io_uring strategy where io_uring is unavailable is that error.
[[nodiscard]] Result<ResolvedStrategy> resolve_strategy(Strategy requested, const Model& model,
                                                        LoadEngine& engine, const PipelineOptions& options,
                                                        const std::function<void(std::string_view)>& warn);

// Why io_uring cannot be had, in a few words: "io_uring_setup failed: EPERM (seccomp or
// kernel.io_uring_disabled)".
[[nodiscard]] std::string uring_unavailable_reason(const Error& uring_error);

}  // namespace ringload
