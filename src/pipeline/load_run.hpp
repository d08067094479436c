// One load in progress, split so that a scheduler can interleave several through one staging
// ring: begin() selects the tensors and opens the first file; step() moves a quantum of bytes (or
// all of them), opening each next file of a checkpoint when the ring has room for its first
// chunks (no drain between files) and closing each file once its last chunk is delivered;
// finish() builds the report; abandon() cleans up after an error or a cancel. Loader::load runs
// begin → step(all) → finish; AsyncLoader's io thread runs steps of concurrent loads in turn.
// Delivery (delivery.hpp), chunk bookkeeping (chunk_window.hpp), release (release.hpp) and the
// report (report.hpp) live beside it. Not part of the public API. Owner: one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <vector>

#include "pipeline/chunk_window.hpp"
#include "pipeline/delivery.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/file_images.hpp"
#include "pipeline/load_files.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/pread_pool.hpp"
#include "pipeline/release.hpp"
#include "pipeline/report.hpp"
#include "pipeline/source.hpp"
#include "pipeline/uring_reader.hpp"
#include "ringload/memstat.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

// Asked between chunks once a step has started `quantum_bytes`: true hands the io thread to
// another load (the step drains its slots and returns). `quantum_used` is false for the checks in
// between, which only a reason to stop early (another load was cancelled) should answer true.
using YieldCheck = std::function<bool(bool quantum_used)>;

class LoadRun {
 public:
  LoadRun(LoadEngine& engine, const Model& model, Sink& sink, PipelineOptions options);
  LoadRun(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink, PipelineOptions options);
  LoadRun(const LoadRun&) = delete;
  LoadRun& operator=(const LoadRun&) = delete;
  LoadRun(LoadRun&&) = delete;
  LoadRun& operator=(LoadRun&&) = delete;
  ~LoadRun();

  // A file none of whose tensors this load takes is not opened (so neither read nor released)
  // instead of opened and released. For a collective load's rounds: releasing such a file drops
  // header pages the rank reading it is about to use, and it reads them again; the collective load
  // releases every file itself once all its rounds are done. Before begin().
  void leave_unread_files_alone() noexcept { leave_unread_files_alone_ = true; }

  Result<void> begin();
  // Moves bytes until the load is done (true), or until `yield` asks for the io thread after a
  // quantum (false: every slot is idle again, so another load may use the whole ring).
  Result<bool> step(std::uint64_t quantum_bytes, const YieldCheck& yield);
  Result<LoadReport> finish();
  // After a failed begin/step/finish or a cancel: waits out reads and copies, discards the
  // sink's destinations, releases the files' pages and fires on_finished(&error).
  void abandon(const Error& error) noexcept;

  [[nodiscard]] const PipelineOptions& options() const noexcept { return options_; }
  [[nodiscard]] bool cancelled() const noexcept { return options_.cancel.cancelled(); }

 private:
  // A file of the load while it is read: its Model, source and releaser.
  struct FileRun {
    const Model* model = nullptr;
    std::unique_ptr<ChunkSource> source;
    std::optional<Releaser> releaser;
    bool release_as_delivered = true;
    bool reads_anywhere = false;  // SourceNeeds::reads_anywhere
    std::uint64_t alignment = 1;  // SourceNeeds::alignment
    Strategy strategy = Strategy::automatic;
    double first_read_s = -1;
    double done_s = 0;
    std::uint64_t bytes_read = 0;
    bool open = false;
  };

  Result<void> open_next_file();
  Result<std::unique_ptr<ChunkSource>> open_source(const Model& model, Strategy& strategy);
  Result<void> prepare_staging(ChunkSource& first_source);
  // The sink's destinations: file images when the first file's reads can land in them, else the
  // sink's own layout.
  Result<void> prepare_sink();
  // `abandoned`: the load stopped early (cancel, error); see settle_release.
  void close_file(std::uint32_t file, bool abandoned = false) noexcept;
  [[nodiscard]] bool more_files() const noexcept { return next_file_ < files_.count(); }
  Result<void> start_reads(std::uint64_t quantum_bytes, std::uint64_t& started_bytes);
  Result<void> reap();
  Result<void> deliver_ready();
  Result<void> deliver(std::uint32_t chunk);
  Result<void> recycle(bool wait);
  [[nodiscard]] std::uint32_t in_flight() const;
  [[nodiscard]] UringReader* uring_reader();
  [[nodiscard]] PreadPool& pread_pool();
  void warn(std::string_view message);
  [[nodiscard]] Error located(Error e) const;
  [[nodiscard]] Error read_failed(Error e) const;  // located, and naming the tensor read

  LoadEngine& engine_;
  LoadFiles files_;
  Sink& sink_;
  PipelineOptions options_;
  Delivery::Clock::time_point start_ = Delivery::Clock::now();
  CpuTimes cpu_;  // summed over begin, steps and finish: other loads' turns excluded
  std::optional<StorageReadMeter> storage_read_;  // from begin()
  LoadReport report_;
  std::unique_ptr<UringReader> uring_reader_;  // declared before the sources that use it
  // pread-direct's threads: the load's own, so that every file of it shares them and none
  // outlives it (a thread kept by a Loader would be one more between loads).
  std::unique_ptr<PreadPool> pread_pool_;
  std::vector<FileRun> runs_;    // per file
  StagingRing* ring_ = nullptr;  // the engine's; set when the sources fill slots
  std::optional<Plan> plan_;
  std::optional<ChunkWindow> window_;
  std::optional<Delivery> delivery_;
  std::optional<ImageMap> images_;  // the sink's file images, when reads land in them
  std::uint32_t next_file_ = 0;     // the next file to open
  std::vector<TimelineSpan> spans_;
  std::vector<std::size_t> read_span_;  // per chunk: its read span in spans_
  std::vector<ChunkDone> done_;         // reused by reap()
  std::vector<ChunkDone> arrived_;      // per chunk: where its bytes are once read
  std::vector<bool> read_in_place_;     // per chunk: read straight into its place at the sink
  bool more_to_start_ = false;          // start_reads stopped at its per-turn limit
  bool finished_ = false;               // on_finished has fired
  bool strategy_reported_ = false;      // report_.strategy is the first opened file's
  bool leave_unread_files_alone_ = false;
};

// begin → step(all) → finish through `engine`, abandon on failure: what Loader::load and load_into
// run (and tests, on an engine with injected faults or a fake pinner: src/pipeline/testing.hpp).
Result<LoadReport> run_load(LoadEngine& engine, const Model& model, Sink& sink,
                            const PipelineOptions& options);
Result<LoadReport> run_load(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink,
                            const PipelineOptions& options);
// A collective load's round (see LoadRun::leave_unread_files_alone).
Result<LoadReport> run_round_load(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink,
                                  const PipelineOptions& options);

}  // namespace ringload
