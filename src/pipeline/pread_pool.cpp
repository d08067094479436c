#include "pipeline/pread_pool.hpp"

#include <sys/mman.h>

#include <algorithm>
#include <ctime>

#include "pipeline/pread_reader.hpp"

namespace ringload {

namespace {
// A worker calls pread and, on an error, formats a message: 256 KiB is ample. The lowest page is
// a guard (PROT_NONE): an overflow faults instead of writing into other memory.
constexpr std::size_t kStackBytes = 256 * 1024;
constexpr std::size_t kGuardBytes = 4096;
}  // namespace

std::unique_ptr<PreadPool::Worker> PreadPool::Worker::start(PreadPool& pool) {
  std::unique_ptr<Worker> w(new Worker());  // NOLINT(cppcoreguidelines-owning-memory): private constructor
  w->stack_bytes_ = kStackBytes + kGuardBytes;
  w->stack_ = ::mmap(nullptr, w->stack_bytes_, PROT_READ | PROT_WRITE,
                     MAP_PRIVATE | MAP_ANONYMOUS | MAP_STACK, -1, 0);
  if (w->stack_ == MAP_FAILED) {
    w->stack_ = nullptr;
    return nullptr;
  }
  (void)::mprotect(w->stack_, kGuardBytes, PROT_NONE);
  pthread_attr_t attr;
  if (::pthread_attr_init(&attr) != 0) return nullptr;
  const int set =
      ::pthread_attr_setstack(&attr, static_cast<std::byte*>(w->stack_) + kGuardBytes, kStackBytes);
  const int created = set != 0 ? set
                               : ::pthread_create(
                                     &w->thread_, &attr,
                                     [](void* p) -> void* {
                                       static_cast<PreadPool*>(p)->work();
                                       return nullptr;
                                     },
                                     &pool);
  ::pthread_attr_destroy(&attr);
  if (created != 0) return nullptr;  // the destructor unmaps the stack; there is no thread to join
  return w;
}

PreadPool::Worker::~Worker() {
  if (stack_ == nullptr) return;
  if (thread_ != pthread_t{}) ::pthread_join(thread_, nullptr);
  ::munmap(stack_, stack_bytes_);
}

PreadPool::PreadPool(std::uint32_t threads) : max_threads_(std::max<std::uint32_t>(1, threads)) {
  workers_.reserve(max_threads_);
}

PreadPool::~PreadPool() {
  {
    const std::lock_guard lock(mutex_);
    stopping_ = true;  // every reader has drained by now: the queue holds nothing of anyone's
    queued_.clear();
    next_ = 0;
  }
  work_ready_.notify_all();
  workers_.clear();  // each joins its thread, then unmaps its stack
}

double PreadPool::Worker::cpu_seconds() const noexcept {
  clockid_t clock{};
  timespec used{};
  if (pthread_getcpuclockid(thread_, &clock) != 0 || clock_gettime(clock, &used) != 0) return 0;
  return static_cast<double>(used.tv_sec) + static_cast<double>(used.tv_nsec) * 1e-9;
}

double PreadPool::cpu_seconds() const {
  const std::lock_guard lock(mutex_);
  double total = 0;
  for (const auto& worker : workers_) total += worker->cpu_seconds();
  return total;
}

std::uint32_t PreadPool::threads() const {
  const std::lock_guard lock(mutex_);
  return static_cast<std::uint32_t>(workers_.size());
}

bool PreadPool::enqueue_locked(const std::vector<Job>& jobs) {
  // Threads start as reads need them: a file read in one piece starts one.
  const std::size_t wanted =
      std::min<std::size_t>(max_threads_, queued_.size() - next_ + jobs.size() + running_);
  while (workers_.size() < wanted) {
    auto worker = Worker::start(*this);
    if (!worker) break;  // fewer threads read the same jobs, more slowly
    workers_.push_back(std::move(worker));
  }
  if (workers_.empty()) return false;
  if (next_ == queued_.size()) {  // all taken: start over, keeping the room
    queued_.clear();
    next_ = 0;
  }
  queued_.insert(queued_.end(), jobs.begin(), jobs.end());
  return true;
}

void PreadPool::work() noexcept {
  std::unique_lock lock(mutex_);
  while (true) {
    work_ready_.wait(lock, [this] { return stopping_ || next_ < queued_.size(); });
    if (stopping_) return;
    const Job job = queued_[next_++];
    ++running_;
    ++job.reader->running_;
    lock.unlock();
    PreadReaderStats seen;
    std::optional<Error> error = job.reader->read_piece(job.piece, seen);
    lock.lock();
    --running_;
    --job.reader->running_;
    job.reader->stats_.short_reads_requeued += seen.short_reads_requeued;
    job.reader->stats_.retried += seen.retried;
    job.reader->finished_.push_back(
        PreadReader::PieceDone{.chunk = job.piece.chunk, .error = std::move(error)});
    // Readers of several files (or loads) may be waiting, each for its own.
    job_done_.notify_all();
  }
}

}  // namespace ringload
