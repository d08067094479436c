// One thread that runs a collective load's rounds one at a time, while the caller's thread drives
// the collective: the loads keep one thread, so the engine's io_uring (single issuer) and staging
// ring are made once, not per round. Destruction waits for the round in progress.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <mutex>
#include <new>
#include <optional>
#include <string>
#include <thread>

#include "ringload/pipeline.hpp"

namespace ringload {

class RoundWorker {
 public:
  using Job = std::function<Result<LoadReport>(std::uint32_t round)>;

  explicit RoundWorker(Job job) : job_(std::move(job)), thread_([this] { run(); }) {}
  RoundWorker(const RoundWorker&) = delete;
  RoundWorker& operator=(const RoundWorker&) = delete;
  ~RoundWorker() {
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    changed_.notify_all();
    thread_.join();
  }

  void start(std::uint32_t round) {
    {
      const std::lock_guard lock(mutex_);
      next_ = round;
    }
    changed_.notify_all();
  }
  // The started round's outcome.
  Result<LoadReport> wait() {
    std::unique_lock lock(mutex_);
    changed_.wait(lock, [this] { return result_.has_value(); });
    Result<LoadReport> out = std::move(*result_);
    result_.reset();
    return out;
  }

 private:
  void run() {
    std::unique_lock lock(mutex_);
    for (;;) {
      changed_.wait(lock, [this] { return stop_ || next_.has_value(); });
      if (!next_) return;  // stopped with no round pending
      const std::uint32_t round = *next_;
      next_.reset();
      lock.unlock();
      std::optional<Result<LoadReport>> out;
      try {
        out.emplace(job_(round));
      } catch (const std::bad_alloc&) {
        out.emplace(make_error(ErrorKind::out_of_memory, "out of memory while loading a round"));
      } catch (const std::exception& e) {  // a round's failure must reach the group, not end the process
        out.emplace(make_error(ErrorKind::io, std::string("a round's load failed: ") + e.what()));
      }
      lock.lock();
      result_.emplace(std::move(*out));
      changed_.notify_all();
    }
  }

  Job job_;
  std::mutex mutex_;
  std::condition_variable changed_;
  std::optional<std::uint32_t> next_;
  std::optional<Result<LoadReport>> result_;
  bool stop_ = false;
  std::thread thread_;  // last: starts once everything it uses exists
};

}  // namespace ringload
