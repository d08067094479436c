// The threads behind pread-direct: owned by the LoadEngine (one Loader's, one AsyncLoader's), so
// every file and every load through it shares the same few threads rather than starting its own
// (eight concurrent loads of a checkpoint would otherwise start dozens, and each started thread
// leaves a stack mapping in glibc's cache). Threads start as jobs need them, up to `threads`, and
// are joined when the pool goes. A job is one read a PreadReader hands in; the pool runs it and
// hands the result back to that reader, under the pool's one mutex.
// Owner: the LoadEngine; its io thread hands jobs in, the workers run them.
#pragma once

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <vector>

#include <pthread.h>

namespace ringload {

class PreadReader;

// One pread a worker does (and repeats for the rest when it comes back short).
struct PreadPiece {
  std::uint32_t chunk = 0;
  std::byte* buffer = nullptr;
  std::uint64_t file_offset = 0;
  std::uint64_t length = 0;    // bytes asked for (whole blocks for O_DIRECT)
  std::uint64_t expected = 0;  // bytes that exist in the file within it
  std::int64_t fault = 0;      // the injector's verdict (see FaultInjector)
};

class PreadPool {
 public:
  explicit PreadPool(std::uint32_t threads);
  PreadPool(const PreadPool&) = delete;
  PreadPool& operator=(const PreadPool&) = delete;
  PreadPool(PreadPool&&) = delete;
  PreadPool& operator=(PreadPool&&) = delete;
  ~PreadPool();

  [[nodiscard]] std::uint32_t max_threads() const noexcept { return max_threads_; }
  [[nodiscard]] std::uint32_t threads() const;  // started so far
  // CPU time its threads have used so far (a pool is one load's: LoadReport's CPU includes it).
  [[nodiscard]] double cpu_seconds() const;

 private:
  friend class PreadReader;  // hands jobs in and takes results back under mutex_

  struct Job {
    PreadReader* reader = nullptr;
    PreadPiece piece;
  };

  // One worker: a thread on a stack of our own mapping, unmapped once it is joined (glibc would
  // keep a stack it made in its cache, one more mapping after every load).
  class Worker {
   public:
    static std::unique_ptr<Worker> start(PreadPool& pool);  // nullptr: no thread could be had
    Worker(const Worker&) = delete;
    Worker& operator=(const Worker&) = delete;
    Worker(Worker&&) = delete;
    Worker& operator=(Worker&&) = delete;
    ~Worker();  // joins (the pool has told it to stop), then unmaps the stack
    [[nodiscard]] double cpu_seconds() const noexcept;

   private:
    Worker() = default;
    void* stack_ = nullptr;
    std::size_t stack_bytes_ = 0;
    pthread_t thread_{};
  };

  // Under mutex_: queues `jobs` and starts threads up to min(max_threads, jobs waiting or running).
  // False when no thread runs at all (none could be started): the jobs would never be read.
  [[nodiscard]] bool enqueue_locked(const std::vector<Job>& jobs);
  void work() noexcept;

  const std::uint32_t max_threads_;
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;  // workers wait for jobs (or for stopping_)
  std::condition_variable job_done_;    // readers wait for their jobs' results (reap, drain)
  // Jobs [next_, end) wait. A vector the workers only read from: a worker that freed memory (a
  // deque's block) would get a malloc arena of its own, a mapping that outlives it.
  std::vector<Job> queued_;
  std::size_t next_ = 0;
  std::uint32_t running_ = 0;
  bool stopping_ = false;
  std::vector<std::unique_ptr<Worker>> workers_;  // last: started once everything they use exists
};

}  // namespace ringload
