// One load in progress, split so that a scheduler can interleave several through one staging
// ring: begin() resolves, plans and prepares; step() moves a quantum of bytes (or all of them);
// finish() builds the report; abandon() cleans up after an error or a cancel. Loader::load runs
// begin → step(all) → finish; AsyncLoader's io thread runs steps of concurrent loads in turn.
// Not part of the public API. Owner: one thread at a time (the Loader's).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <thread>

#include "io/uring.hpp"
#include "pipeline/source.hpp"
#include "pipeline/staging_ring.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

// What a Loader keeps between loads: the ring and the io_uring it registered the ring with.
struct Loader::Impl {
  std::optional<StagingRing> ring;
  std::optional<Uring> uring;
  std::thread::id uring_thread;
  std::optional<Error> uring_unavailable;
  bool buffers_registered = false;
  std::uint32_t rings_created = 0;
  FaultInjector fault;

  Result<void> ensure_ring(std::uint32_t slot_count, std::uint64_t slot_size, Sink& sink);
  Uring* ensure_uring(std::uint32_t queue_depth);
  void register_ring(const std::function<void(std::string_view)>& warn);
};

// Asked between chunks once a step has started `quantum_bytes`: true hands the io thread to
// another load (the step drains its slots and returns). `quantum_used` is false for the checks in
// between, which only a reason to stop early (another load was cancelled) should answer true.
using YieldCheck = std::function<bool(bool quantum_used)>;

class LoadRun {
 public:
  LoadRun(Loader::Impl& loader, const Model& model, Sink& sink, PipelineOptions options);
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
  struct State;
  std::unique_ptr<State> state_;
  PipelineOptions options_;
};

struct LoaderRunAccess {
  static Loader::Impl& impl(Loader& loader) { return *loader.impl_; }
};

}  // namespace ringload
