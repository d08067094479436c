// The pread reader behind pread-direct: where io_uring cannot be had (Docker's default seccomp
// profile, kernel.io_uring_disabled), a few threads stand in for the kernel's queue. Each runs one
// O_DIRECT pread of read_size bytes at a time into a staging slot, resubmitting EINTR/EAGAIN and
// reading the rest of a short read; the io thread hands pieces in and takes completions back
// under one mutex, sleeping on a condition variable while it waits. One reader per file.
// Owner: the io thread (start, reap, drain); the worker threads are the reader's own, joined on
// destruction.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "io/file.hpp"
#include "pipeline/source.hpp"

namespace ringload {

struct PreadReaderOptions {
  UniqueFd fd;  // the reader's own descriptor (O_DIRECT), closed with the reader
  std::string path;
  std::uint64_t alignment = 4096;  // O_DIRECT's offset alignment (statx STATX_DIOALIGN)
  bool direct = true;              // fd was opened O_DIRECT: a read may only stop at a block end
  std::uint64_t read_size = 1ULL << 20;
  std::uint32_t threads = 4;  // reads in flight at once
  FaultInjector fault;        // asked on the io thread, once per piece
};

// What happened on the way, for tests: each path here is one a healthy disk rarely takes.
struct PreadReaderStats {
  std::uint64_t short_reads_requeued = 0;
  std::uint64_t retried = 0;  // EAGAIN / EINTR, read again
};

class PreadReader final : public ChunkSource {
 public:
  explicit PreadReader(PreadReaderOptions options);
  PreadReader(const PreadReader&) = delete;
  PreadReader& operator=(const PreadReader&) = delete;
  PreadReader(PreadReader&&) = delete;
  PreadReader& operator=(PreadReader&&) = delete;
  ~PreadReader() override;

  [[nodiscard]] SourceNeeds needs() const override {
    return SourceNeeds{.slots = true, .alignment = options_.alignment};
  }
  Result<void> start(const ChunkRequest& request) override;
  Result<void> reap(bool wait, std::vector<ChunkDone>& done) override;
  [[nodiscard]] std::uint32_t in_flight() const override { return pieces_in_flight_; }
  void drain() noexcept override;
  [[nodiscard]] std::uint64_t bytes_read() const override { return bytes_read_; }

  [[nodiscard]] PreadReaderStats stats() const;
  // Started so far: one per read in flight, up to PreadReaderOptions::threads.
  [[nodiscard]] std::uint32_t threads() const noexcept { return static_cast<std::uint32_t>(workers_.size()); }

 private:
  // One pread a worker does (and repeats for the rest when it comes back short).
  struct Piece {
    std::uint32_t chunk = 0;
    std::byte* buffer = nullptr;
    std::uint64_t file_offset = 0;
    std::uint64_t length = 0;    // bytes asked for (whole blocks for O_DIRECT)
    std::uint64_t expected = 0;  // bytes that exist in the file within it
    std::int64_t fault = 0;      // the injector's verdict (see FaultInjector)
  };
  struct PieceDone {
    std::uint32_t chunk = 0;
    std::optional<Error> error;
  };

  void work() noexcept;
  [[nodiscard]] std::optional<Error> read_piece(Piece piece, PreadReaderStats& stats) const;
  [[nodiscard]] Error truncated(std::string message, std::uint64_t at) const;

  const PreadReaderOptions options_;

  // Shared with the workers, under mutex_.
  mutable std::mutex mutex_;
  std::condition_variable work_ready_;  // workers wait for pieces (or for stopping_)
  std::condition_variable piece_done_;  // the io thread waits for completions (reap, drain)
  std::deque<Piece> queued_;
  std::vector<PieceDone> finished_;
  std::uint32_t running_ = 0;  // pieces a worker is reading now
  bool stopping_ = false;
  PreadReaderStats stats_;

  // The io thread's alone.
  std::uint32_t pieces_in_flight_ = 0;                            // handed in, not yet reaped
  std::unordered_map<std::uint32_t, std::uint32_t> outstanding_;  // per started chunk: pieces left
  std::unordered_map<std::uint32_t, std::span<const std::byte>> chunk_bytes_;
  std::vector<ChunkDone> completed_now_;  // chunks with nothing to read
  std::vector<PieceDone> taken_;          // reused by reap()
  std::uint64_t bytes_read_ = 0;

  std::vector<std::thread> workers_;  // last: started (in start) once everything they use exists
};

}  // namespace ringload
