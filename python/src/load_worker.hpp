// Runs loads off Python's thread, one after another, on a thread of its own. A safe_open handle
// keeps one for all its get_tensor calls: a Loader's io_uring is single-issuer (bound to the
// thread that made it), so one thread keeps one ring and its registrations for every load.
// Owner: one Python object. Not thread-safe itself; the jobs it hands out are.
#pragma once

#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <stop_token>
#include <thread>

#include "load_job.hpp"
#include "source.hpp"
#include "tensor_block.hpp"

namespace ringload::python {

class LoadWorker {
 public:
  // keep_ring: one Loader (staging ring + io_uring) for every load, as a service would; else a
  // fresh one per load that is freed when it ends (what a one-shot load wants: nothing kept).
  explicit LoadWorker(bool keep_ring);
  LoadWorker(const LoadWorker&) = delete;
  LoadWorker& operator=(const LoadWorker&) = delete;
  LoadWorker(LoadWorker&&) = delete;
  LoadWorker& operator=(LoadWorker&&) = delete;
  // Cancels the running and queued loads and waits for the thread to end.
  ~LoadWorker();

  // Queues a load of `source` into `block` (the block's sink); it starts after earlier ones end.
  [[nodiscard]] std::shared_ptr<LoadJob> start(SourcePtr source, std::shared_ptr<TensorBlock> block,
                                               LoadSettings settings);

 private:
  struct Task {
    SourcePtr source;
    std::shared_ptr<TensorBlock> block;
    std::shared_ptr<LoadJob> job;
    LoadSettings settings;
  };
  void run(const std::stop_token& stop);

  bool keep_ring_;
  std::mutex mutex_;
  std::condition_variable_any wake_;
  std::deque<Task> tasks_;
  std::shared_ptr<LoadJob> running_;
  std::jthread thread_;  // last: it starts once the members it uses exist, and is joined first
};

}  // namespace ringload::python
