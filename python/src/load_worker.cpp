#include "load_worker.hpp"

#include <pthread.h>

#include <algorithm>
#include <csignal>
#include <optional>
#include <utility>

namespace ringload::python {
namespace {

// Asynchronous signals go to Python's thread, whose handlers turn Ctrl-C into a cancel. The
// synchronous ones stay unblocked: the mmap strategies catch SIGBUS from a shrinking file, and a
// blocked synchronous signal would kill the process instead.
void leave_signals_to_python() {
  sigset_t blocked;
  sigfillset(&blocked);
  for (const int sync_signal : {SIGBUS, SIGSEGV, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT}) {
    sigdelset(&blocked, sync_signal);
  }
  pthread_sigmask(SIG_BLOCK, &blocked, nullptr);
}

// A one-shot load's staging ring need not be larger than its work: first-touching the default
// 16 x 8 MiB ring measured 35 ms on an idle machine and up to 0.9 s on a busy one, longer than a
// small model's whole load, and nothing (Ctrl-C included) interrupts it. Large loads keep the
// default geometry, so they run exactly as `ringload load` does.
void fit_ring_to_work(const Source& source, const LoadSettings& settings, PipelineOptions& options) {
  constexpr std::uint64_t kSmallSlotBytes = 1ULL << 20;
  std::uint64_t bytes = 0;
  for (const TensorInfo& t : source.tensors()) {
    const bool wanted = settings.tensor_names.empty() ||
                        std::find(settings.tensor_names.begin(), settings.tensor_names.end(), t.name) !=
                            settings.tensor_names.end();
    if (wanted) bytes += t.size;
  }
  const std::uint64_t ring_bytes = options.slot_count * options.slot_size;
  if (bytes >= ring_bytes) return;
  if (bytes < 2 * options.slot_size) options.slot_size = kSmallSlotBytes;
  options.slot_count = static_cast<std::uint32_t>(
      std::clamp<std::uint64_t>((bytes + options.slot_size - 1) / options.slot_size, 2, options.slot_count));
}

Result<LoadReport> run_task(std::optional<Loader>& loader, const Source& source, TensorBlock& block,
                            LoadJob& job, const LoadSettings& settings) {
  BlockSink sink(block);
  PipelineOptions options = job.pipeline_options(settings);
  if (loader) return source.load(*loader, sink, options);  // one ring for every load: keep its shape
  fit_ring_to_work(source, settings, options);
  return source.load(sink, options);
}

}  // namespace

LoadWorker::LoadWorker(bool keep_ring)
    : keep_ring_(keep_ring), thread_([this](const std::stop_token& stop) { run(stop); }) {}

LoadWorker::~LoadWorker() {
  {
    const std::scoped_lock lock(mutex_);
    if (running_) running_->cancel();
    for (const Task& task : tasks_) task.job->cancel();
  }
  thread_.request_stop();  // wakes the wait in run(); jthread joins on destruction
}

std::shared_ptr<LoadJob> LoadWorker::start(SourcePtr source, std::shared_ptr<TensorBlock> block,
                                           LoadSettings settings) {
  auto job = std::make_shared<LoadJob>(block);
  {
    const std::scoped_lock lock(mutex_);
    tasks_.push_back(Task{std::move(source), std::move(block), job, std::move(settings)});
  }
  wake_.notify_all();
  return job;
}

void LoadWorker::run(const std::stop_token& stop) {
  leave_signals_to_python();
  pthread_setname_np(pthread_self(), "ringload-py");
  std::optional<Loader> loader;  // made and destroyed on this thread, which owns its io_uring
  if (keep_ring_) loader.emplace();
  while (true) {
    Task task;
    {
      std::unique_lock lock(mutex_);
      if (!wake_.wait(lock, stop, [&] { return !tasks_.empty(); })) break;
      task = std::move(tasks_.front());
      tasks_.pop_front();
      running_ = task.job;
    }
    // A cancel that came before the load started is seen by its first step.
    auto result = run_task(loader, *task.source, *task.block, *task.job, task.settings);
    // The file (fd, mapping) and this thread's share of the memory go before the job ends, so
    // whoever waits on it finds nothing left behind.
    task.source.reset();
    task.block.reset();
    task.job->finish(std::move(result));
    const std::scoped_lock lock(mutex_);
    running_.reset();
  }
  // Stopped: queued loads never ran.
  const std::scoped_lock lock(mutex_);
  for (Task& task : tasks_) {
    task.source.reset();
    task.block.reset();
    task.job->finish(make_error(ErrorKind::cancelled, "the load was cancelled before it started"));
  }
  tasks_.clear();
}

}  // namespace ringload::python
