// One load in progress, split so that a scheduler can interleave several through one staging
// ring: begin() resolves the strategy, opens its source, plans and prepares; step() moves a
// quantum of bytes (or all of them); finish() builds the report; abandon() cleans up after an
// error or a cancel. Loader::load runs begin → step(all) → finish; AsyncLoader's io thread runs
// steps of concurrent loads in turn. Delivery (delivery.hpp), the chunk bookkeeping
// (chunk_window.hpp), release (release.hpp) and the report (report.hpp) live beside it; this is
// only the schedule. Not part of the public API. Owner: one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "pipeline/chunk_window.hpp"
#include "pipeline/delivery.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/release.hpp"
#include "pipeline/report.hpp"
#include "pipeline/source.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

// Asked between chunks once a step has started `quantum_bytes`: true hands the io thread to
// another load (the step drains its slots and returns). `quantum_used` is false for the checks in
// between, which only a reason to stop early (another load was cancelled) should answer true.
using YieldCheck = std::function<bool(bool quantum_used)>;

class LoadRun {
 public:
  LoadRun(LoadEngine& engine, const Model& model, Sink& sink, PipelineOptions options);
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;
  LoadRun(LoadRun&&) = delete;
  LoadRun& operator=(LoadRun&&) = delete;
  ~LoadRun();

  Result<void> begin();
  // Moves bytes until the load is done (true), or until `yield` asks for the io thread after a
  // quantum (false: every slot is idle again, so another load may use the whole ring).
  Result<bool> step(std::uint64_t quantum_bytes, const YieldCheck& yield);
  Result<LoadReport> finish();
  // After a failed begin/step/finish or a cancel: waits out reads and copies, discards the
  // sink's destinations, releases the file's pages and fires on_finished(&error).
  void abandon(const Error& error) noexcept;

  [[nodiscard]] const PipelineOptions& options() const noexcept { return options_; }
  [[nodiscard]] bool cancelled() const noexcept { return options_.cancel.cancelled(); }

 private:
  Result<void> open_source();
  Result<void> prepare_staging();
  Result<void> start_reads(std::uint64_t quantum_bytes, std::uint64_t& started_bytes);
  Result<void> reap();
  Result<void> deliver_ready();
  Result<void> recycle(bool wait);
  void warn(std::string_view message);
  [[nodiscard]] Error located(Error e) const;

  LoadEngine& engine_;
  const Model& model_;
  Sink& sink_;
  PipelineOptions options_;
  Delivery::Clock::time_point start_ = Delivery::Clock::now();
  CpuTimes cpu_;  // summed over begin, steps and finish: other loads' turns excluded
  LoadReport report_;
  std::unique_ptr<ChunkSource> source_;  // owns the fds it reads through
  StagingRing* ring_ = nullptr;          // the engine's; set when the source fills slots
  std::optional<Plan> plan_;
  std::optional<ChunkWindow> window_;
  std::optional<Delivery> delivery_;
  std::optional<Releaser> releaser_;
  std::vector<TimelineSpan> spans_;
  std::vector<std::size_t> read_span_;  // per chunk: its read span in spans_
  std::vector<ChunkDone> done_;         // reused by reap()
  std::vector<ChunkDone> arrived_;      // per chunk: where its bytes are once read
  bool finished_ = false;               // on_finished has fired
};

// begin → step(all) → finish through `engine`, abandon on failure: what Loader::load and load_into
// run (and tests, on an engine with injected faults or a fake pinner: src/pipeline/testing.hpp).
Result<LoadReport> run_load(LoadEngine& engine, const Model& model, Sink& sink,
                            const PipelineOptions& options);

}  // namespace ringload
