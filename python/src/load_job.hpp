// A load running off the Python thread, and what that thread may ask of it while it runs: the
// tensors ready so far (in file order), progress, cancellation, and at the end its report or
// error. Thread-safe: the worker's thread fills it, Python's thread reads it.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "ringload/error.hpp"
#include "ringload/pipeline.hpp"
#include "tensor_block.hpp"

namespace ringload::python {

struct LoadSettings {
  Strategy strategy = Strategy::automatic;
  bool checksum_sha256 = false;
  bool release = true;
  std::vector<std::string> tensor_names;  // empty: all
};

class LoadJob {
 public:
  enum class Next : std::uint8_t { tensor, timeout, end };

  explicit LoadJob(std::shared_ptr<TensorBlock> block) : block_(std::move(block)) {}

  // --- Python's thread (callers release the GIL around the waits) ---
  void cancel() const noexcept { cancel_.cancel(); }
  // True once the load has ended (its report or error is set), waiting up to `timeout`.
  bool wait_finished_for(std::chrono::milliseconds timeout);
  // The next ready tensor's index (file order), waiting up to `timeout`; `end` once the load has
  // ended and every ready tensor was taken (after a failure: at once).
  std::pair<Next, std::uint32_t> next_ready_for(std::chrono::milliseconds timeout);
  [[nodiscard]] LoadProgress progress() const;
  [[nodiscard]] bool finished() const;
  // After the end: exactly one of them is set.
  [[nodiscard]] std::optional<LoadReport> report() const;
  [[nodiscard]] std::optional<Error> error() const;
  // The destinations; null after a failed load (its memory lives on only in tensors handed out).
  [[nodiscard]] std::shared_ptr<TensorBlock> block() const;

  // --- the worker's thread ---
  // Options wired to this job: its cancellation token and callbacks. The job must outlive the load.
  [[nodiscard]] PipelineOptions pipeline_options(const LoadSettings& settings);
  // Ends the job. A failed load's memory is freed (unless a tensor of it is alive) before any
  // waiter learns that the load ended.
  void finish(Result<LoadReport> result);

 private:
  mutable std::mutex mutex_;
  std::condition_variable changed_;
  std::shared_ptr<TensorBlock> block_;
  std::deque<std::uint32_t> ready_;
  std::uint32_t ready_count_ = 0;  // on_tensor_ready fires in file order: the k-th is index k
  LoadProgress progress_;
  bool finished_ = false;
  std::optional<LoadReport> report_;
  std::optional<Error> error_;
  CancellationToken cancel_;
};

}  // namespace ringload::python
