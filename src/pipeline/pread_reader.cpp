#include "pipeline/pread_reader.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>

#include <fmt/format.h>

#include "base/checked.hpp"

namespace ringload {

PreadReader::PreadReader(PreadPool& pool, PreadReaderOptions options)
    : pool_(pool), options_(std::move(options)) {}

PreadReader::~PreadReader() { drain(); }  // no pool thread may still read for it

Result<void> PreadReader::start(const ChunkRequest& request) {
  const Chunk& c = *request.info;
  std::vector<PreadPool::Job> jobs;
  for (std::uint64_t at = 0; at < c.length; at += options_.read_size) {
    const std::uint64_t length = std::min(options_.read_size, c.length - at);
    const std::uint64_t expected = at >= c.valid ? 0 : std::min(length, c.valid - at);
    if (expected == 0) break;  // wholly past EOF: nothing to read
    PreadPiece piece{.chunk = request.chunk,
                     .buffer = request.buffer.data() + at,
                     .file_offset = c.file_offset + at,
                     .length = length,
                     .expected = expected,
                     .fault = 0};
    // Asked here, on the io thread: a test's injector need not be thread-safe.
    if (options_.fault) piece.fault = options_.fault(piece.file_offset, piece.expected);
    jobs.push_back(PreadPool::Job{.reader = this, .piece = piece});
  }
  if (jobs.empty()) {
    bytes_read_ += c.valid;
    completed_now_.push_back(ChunkDone{.chunk = request.chunk, .bytes = request.buffer.first(c.valid)});
    return {};
  }
  {
    const std::lock_guard lock(pool_.mutex_);
    // Room for every result now, on the io thread: a worker that allocated would get a malloc
    // arena of its own, one more mapping that outlives it.
    finished_.reserve(finished_.size() + pieces_in_flight_ + jobs.size());
    if (!pool_.enqueue_locked(jobs)) {
      Error e = make_error(ErrorKind::out_of_memory,
                           "could not start a read thread (thread or stack limit reached?)", c.file_offset);
      e.path = options_.path;
      return e;
    }
  }
  outstanding_[request.chunk] = static_cast<std::uint32_t>(jobs.size());
  chunk_bytes_[request.chunk] = request.buffer.first(c.valid);
  pieces_in_flight_ += static_cast<std::uint32_t>(jobs.size());
  bytes_read_ += c.valid;
  if (jobs.size() == 1) {
    pool_.work_ready_.notify_one();
  } else {
    pool_.work_ready_.notify_all();
  }
  return {};
}

Result<void> PreadReader::reap(bool wait, std::vector<ChunkDone>& done) {
  done.insert(done.end(), completed_now_.begin(), completed_now_.end());
  completed_now_.clear();
  if (pieces_in_flight_ == 0) return {};
  taken_.clear();
  {
    std::unique_lock lock(pool_.mutex_);
    // Sleeps until a pool thread has finished a piece of ours: the io thread never spins.
    if (wait && done.empty()) pool_.job_done_.wait(lock, [this] { return !finished_.empty(); });
    taken_.swap(finished_);
    finished_.reserve(pieces_in_flight_ - taken_.size());  // room kept for the rest (see start)
  }
  std::optional<Error> failed;
  for (PieceDone& piece : taken_) {
    --pieces_in_flight_;
    if (piece.error) {
      if (!failed) failed = std::move(piece.error);
      continue;
    }
    if (const auto left = outstanding_.find(piece.chunk); left != outstanding_.end() && --left->second == 0) {
      outstanding_.erase(left);
      const auto bytes = chunk_bytes_.extract(piece.chunk);
      done.push_back(ChunkDone{.chunk = piece.chunk, .bytes = bytes.mapped()});
    }
  }
  if (failed) return std::move(*failed);
  return {};
}

void PreadReader::drain() noexcept {
  {
    std::unique_lock lock(pool_.mutex_);
    // Never started: nothing writes into their slots. Other readers' jobs stay queued.
    const auto waiting = pool_.queued_.begin() + static_cast<std::ptrdiff_t>(pool_.next_);
    pool_.queued_.erase(std::remove_if(waiting, pool_.queued_.end(),
                                       [this](const PreadPool::Job& job) { return job.reader == this; }),
                        pool_.queued_.end());
    pool_.job_done_.wait(lock, [this] { return running_ == 0; });
    finished_.clear();
  }
  pieces_in_flight_ = 0;
  outstanding_.clear();
  chunk_bytes_.clear();
  completed_now_.clear();
}

PreadReaderStats PreadReader::stats() const {
  const std::lock_guard lock(pool_.mutex_);
  return stats_;
}

std::optional<Error> PreadReader::read_piece(PreadPiece piece, PreadReaderStats& stats) const {
  const int fd = options_.fd.get();
  std::uint64_t ask = piece.length;
  if (piece.fault == -EAGAIN || piece.fault == -EINTR) {
    ++stats.retried;  // as a real one would be: read again
  } else if (piece.fault < 0) {
    return sys_error(static_cast<int>(-piece.fault), "read failed", options_.path, piece.file_offset);
  } else if (piece.fault > 0 && static_cast<std::uint64_t>(piece.fault) < piece.expected) {
    // A short read: ask the kernel for fewer bytes (whole O_DIRECT blocks), as if it stopped early.
    ask =
        std::max(align_down(static_cast<std::uint64_t>(piece.fault), options_.alignment), options_.alignment);
  }
  while (true) {
    const ssize_t n = ::pread(fd, piece.buffer, ask, static_cast<off_t>(piece.file_offset));
    if (n < 0) {
      const int err = errno;
      if (err == EINTR || err == EAGAIN) {
        ++stats.retried;
        continue;
      }
      return sys_error(err, "read failed", options_.path, piece.file_offset);
    }
    const auto got = static_cast<std::uint64_t>(n);
    if (got >= piece.expected) return std::nullopt;
    if (got == 0) {
      return truncated(fmt::format("the file ends at byte {} but the load planned {} more bytes there; "
                                   "was it truncated or replaced during the load?",
                                   piece.file_offset, piece.expected),
                       piece.file_offset);
    }
    if (options_.direct && got % options_.alignment != 0) {
      return truncated("O_DIRECT read stopped mid-block: the file shrank during the load",
                       piece.file_offset + got);
    }
    // A short read is normal (style rule 5): ask again for the rest.
    ++stats.short_reads_requeued;
    piece.buffer += got;
    piece.file_offset += got;
    piece.length -= got;
    piece.expected -= got;
    ask = piece.length;
  }
}

Error PreadReader::truncated(std::string message, std::uint64_t at) const {
  Error e = make_error(ErrorKind::truncated, std::move(message), at);
  e.path = options_.path;
  return e;
}

}  // namespace ringload
