// AsyncLoader: a queue of load requests and one io thread that runs them in turns through one
// Loader (one staging ring, one io_uring).
#include <pthread.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

#include "pipeline/load_run.hpp"
#include "ringload/async.hpp"

namespace ringload {
namespace {

struct Job {
  std::filesystem::path path;
  Sink* sink = nullptr;
  PipelineOptions options;
  AsyncLoader::Completion done;
  std::optional<Checkpoint> checkpoint;  // declared before the run that refers to it: destroyed after it
  std::unique_ptr<LoadRun> run;
};

struct Discard {
  Sink* sink = nullptr;
  AsyncLoader::DiscardCompletion done;
};

Error cancelled(const std::filesystem::path& path, const char* when) {
  Error e = make_error(ErrorKind::cancelled, when);
  e.path = path.string();
  return e;
}

}  // namespace

struct AsyncLoader::Impl {
  Impl(executor_type executor_, AsyncLoaderOptions options_)
      : executor(std::move(executor_)), options(options_) {}

  executor_type executor;
  const AsyncLoaderOptions options;

  std::mutex mutex;
  std::condition_variable wake;
  std::deque<std::unique_ptr<Job>> queue;  // submitted, not yet seen by the io thread
  std::deque<Discard> discards;            // likewise
  bool stopping = false;

  std::atomic<bool> stop_requested{false};  // stopping, readable without the lock
  std::atomic<std::uint32_t> queued{0};
  std::atomic<std::uint32_t> in_flight{0};
  std::atomic<std::uint64_t> completed{0};
  std::atomic<std::uint64_t> staging_bytes{0};
  std::atomic<std::uint32_t> rings_created{0};

  // Everything below is the io thread's alone.
  LoadEngine engine;  // one ring and io_uring for every load
  std::vector<std::unique_ptr<Job>> active;
  std::size_t turn = 0;

  void run_io_thread();

 private:
  void admit(std::unique_ptr<Job> job);
  void complete(Job& job, Result<LoadReport> result);
  void run_discard(Discard& discard);
  void fail(Job& job, const Error& error);
  void reap_cancelled();
  void take_turn();
};

void AsyncLoader::Impl::complete(Job& job, Result<LoadReport> result) {
  // The completion's Error is all a handler learns of a failure: it names the file, whichever
  // layer failed (a sink's error knows no path).
  if (!result && result.error().path.empty()) result.error().path = job.path.string();
  auto done = std::move(job.done);
  job.done = nullptr;
  in_flight.fetch_sub(1, std::memory_order_relaxed);
  completed.fetch_add(1, std::memory_order_relaxed);
  if (done) done(std::move(result));
}

void AsyncLoader::Impl::fail(Job& job, const Error& error) {
  if (job.run) {
    job.run->abandon(error);
  } else if (job.options.on_finished) {
    job.options.on_finished(&error);
  }
  complete(job, error);
}

void AsyncLoader::Impl::admit(std::unique_ptr<Job> job) {
  if (job->options.cancel.cancelled()) {
    return fail(*job, cancelled(job->path, "the load was cancelled before it started"));
  }
  // Any checkpoint path: one file, a directory, an index, a GGUF split set.
  auto checkpoint = Checkpoint::open(job->path);
  if (!checkpoint) return fail(*job, checkpoint.error());
  job->checkpoint = std::move(checkpoint).value();
  // Every load uses the loader's ring, whatever it asked for: one ring, never re-made.
  job->options.slot_count = options.slot_count;
  job->options.slot_size = options.slot_size;
  job->run = std::make_unique<LoadRun>(engine, *job->checkpoint, *job->sink, job->options);
  if (auto begun = job->run->begin(); !begun) return fail(*job, begun.error());
  rings_created.store(engine.rings_created(), std::memory_order_relaxed);
  if (const StagingRing* ring = engine.current_ring()) {
    staging_bytes.store(ring->memory().size(), std::memory_order_relaxed);
  }
  active.push_back(std::move(job));
}

// Between turns, so the sink is no load's: unless a load into it is still queued or running.
void AsyncLoader::Impl::run_discard(Discard& discard) {
  for (const auto& job : active) {
    if (job->sink == discard.sink) {
      Error e = make_error(ErrorKind::invalid_argument,
                           "cannot discard a sink while a load into it is in flight: cancel the load first");
      e.path = job->path.string();
      discard.done(e);
      return;
    }
  }
  discard.sink->discard();
  discard.done({});
}

void AsyncLoader::Impl::reap_cancelled() {
  for (auto it = active.begin(); it != active.end();) {
    if ((*it)->run->cancelled()) {
      fail(**it, cancelled((*it)->path, "the load was cancelled"));
      it = active.erase(it);
    } else {
      ++it;
    }
  }
}

void AsyncLoader::Impl::take_turn() {
  if (turn >= active.size()) turn = 0;
  Job& job = *active[turn];
  // Another load's cancel should not wait out this turn; a queued request or another active load
  // gets the ring once this turn's quantum is spent.
  auto yield = [&](bool quantum_used) {
    if (stop_requested.load(std::memory_order_relaxed)) return true;
    for (const auto& other : active) {
      if (other.get() != &job && other->run->cancelled()) return true;
    }
    return quantum_used && (active.size() > 1 || queued.load(std::memory_order_relaxed) > 0);
  };
  auto stepped = job.run->step(options.quantum_bytes, yield);
  if (stepped && !*stepped) {
    ++turn;
    return;
  }
  Result<LoadReport> result = stepped ? job.run->finish() : Result<LoadReport>(std::move(stepped).error());
  if (!result) {
    job.run->abandon(result.error());
  }
  auto finished = std::move(active[turn]);
  active.erase(active.begin() + static_cast<std::ptrdiff_t>(turn));
  complete(*finished, std::move(result));
}

void AsyncLoader::Impl::run_io_thread() {
  // Named for top/perf/gdb; "ringload-io" fits the kernel's 15 characters.
  (void)::pthread_setname_np(::pthread_self(), "ringload-io");
  // On Linux, nice is per thread: this lowers the io thread alone, not its creator.
  if (options.io_thread_nice != 0)
    (void)::setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), options.io_thread_nice);
  for (;;) {
    std::deque<std::unique_ptr<Job>> arrived;
    std::deque<Discard> arrived_discards;
    bool stop = false;
    {
      std::unique_lock lock(mutex);
      if (active.empty()) wake.wait(lock, [&] { return stopping || !queue.empty() || !discards.empty(); });
      arrived.swap(queue);
      arrived_discards.swap(discards);
      queued.store(0, std::memory_order_relaxed);
      stop = stopping;
    }
    for (auto& job : arrived) {
      if (stop) job->options.cancel.cancel();
      admit(std::move(job));
    }
    // After the admissions: a discard submitted after a load into the same sink finds it active.
    for (auto& discard : arrived_discards) run_discard(discard);
    if (stop) {
      for (auto& job : active) job->options.cancel.cancel();
    }
    reap_cancelled();
    if (!active.empty()) {
      take_turn();
    } else if (stop) {
      // Requests that raced with the stop are still served (cancelled), never dropped: a dropped
      // completion would hang whoever waits for it.
      const std::lock_guard lock(mutex);
      if (queue.empty() && discards.empty()) return;
    }
  }
}

AsyncLoader::AsyncLoader(executor_type executor, AsyncLoaderOptions options)
    : impl_(std::make_shared<Impl>(std::move(executor), options)) {
  // The thread shares the state: if the last owner of the loader is a handler's op destroyed on
  // the io thread itself, the destructor detaches rather than joins, and the state outlives it.
  io_thread_ = std::thread([impl = impl_] { impl->run_io_thread(); });
}

AsyncLoader::~AsyncLoader() {
  {
    const std::lock_guard lock(impl_->mutex);
    impl_->stopping = true;
    impl_->stop_requested.store(true, std::memory_order_relaxed);
  }
  impl_->wake.notify_one();
  if (std::this_thread::get_id() == io_thread_.get_id()) {
    io_thread_.detach();
  } else if (io_thread_.joinable()) {
    io_thread_.join();
  }
}

AsyncLoaderStats AsyncLoader::stats() const {
  AsyncLoaderStats s;
  s.loads_in_flight = impl_->in_flight.load(std::memory_order_relaxed);
  s.loads_completed = impl_->completed.load(std::memory_order_relaxed);
  s.staging_bytes = impl_->staging_bytes.load(std::memory_order_relaxed);
  s.rings_created = impl_->rings_created.load(std::memory_order_relaxed);
  return s;
}

const AsyncLoaderOptions& AsyncLoader::options() const noexcept { return impl_->options; }

AsyncLoader::executor_type AsyncLoader::get_executor() const noexcept { return impl_->executor; }

void AsyncLoader::submit(std::filesystem::path path, Sink& sink, PipelineOptions options, Completion done) {
  auto job = std::make_unique<Job>();
  job->path = std::move(path);
  job->sink = &sink;
  job->options = std::move(options);
  job->done = std::move(done);
  {
    const std::lock_guard lock(impl_->mutex);
    impl_->in_flight.fetch_add(1, std::memory_order_relaxed);
    if (impl_->stopping) job->options.cancel.cancel();
    impl_->queue.push_back(std::move(job));
    impl_->queued.fetch_add(1, std::memory_order_relaxed);
  }
  impl_->wake.notify_one();
}

void AsyncLoader::submit_discard(Sink& sink, DiscardCompletion done) {
  {
    const std::lock_guard lock(impl_->mutex);
    impl_->discards.push_back(Discard{&sink, std::move(done)});
    impl_->queued.fetch_add(1, std::memory_order_relaxed);  // ends a long load's turn early
  }
  impl_->wake.notify_one();
}

AsyncLoader& default_async_loader() {
  // Created once, on first use (a function-local static: thread-safe), and released on purpose:
  // never destroyed, so no destructor joins the io thread or unpins the ring during static
  // destruction, after the CUDA runtime may have torn itself down (async.hpp). The pointer lives
  // in static storage, so leak checkers see the loader as reachable, which it is.
  static AsyncLoader* const loader =
      std::make_unique<AsyncLoader>(AsyncLoader::executor_type{}).release();  // callers pass theirs
  return *loader;
}

}  // namespace ringload
