// The pread reader behind pread-direct: where io_uring cannot be had (Docker's default seccomp
// profile, kernel.io_uring_disabled), the engine's few threads (PreadPool) stand in for the
// kernel's queue. Each runs one O_DIRECT pread of read_size bytes at a time into a staging slot,
// reading again after EINTR/EAGAIN and reading the rest of a short read; the io thread hands
// pieces in and takes completions back under the pool's mutex, sleeping on a condition variable
// while it waits. One reader per file; drain (and the destructor) leave no read of it running.
// Owner: the io thread (start, reap, drain).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <unordered_map>
#include <vector>

#include "io/file.hpp"
#include "pipeline/pread_pool.hpp"
#include "pipeline/source.hpp"

namespace ringload {

struct PreadReaderOptions {
  UniqueFd fd;  // the reader's own descriptor (O_DIRECT), closed with the reader
  std::string path;
  std::uint64_t alignment = 4096;  // O_DIRECT's offset alignment (statx STATX_DIOALIGN)
  bool direct = true;              // fd was opened O_DIRECT: a read may only stop at a block end
  std::uint64_t read_size = 1ULL << 20;
  FaultInjector fault;  // asked on the io thread, once per piece
};

// What happened on the way, for tests: each path here is one a healthy disk rarely takes.
struct PreadReaderStats {
  std::uint64_t short_reads_requeued = 0;
  std::uint64_t retried = 0;  // EAGAIN / EINTR, read again
};

class PreadReader final : public ChunkSource {
 public:
  PreadReader(PreadPool& pool, PreadReaderOptions options);
  PreadReader(const PreadReader&) = delete;
  PreadReader& operator=(const PreadReader&) = delete;
  PreadReader(PreadReader&&) = delete;
  PreadReader& operator=(PreadReader&&) = delete;
  ~PreadReader() override;

  [[nodiscard]] SourceNeeds needs() const override {
    return SourceNeeds{.slots = true, .alignment = options_.alignment, .reads_anywhere = true};
  }
  Result<void> start(const ChunkRequest& request) override;
  Result<void> reap(bool wait, std::vector<ChunkDone>& done) override;
  [[nodiscard]] std::uint32_t in_flight() const override { return pieces_in_flight_; }
  void drain() noexcept override;
  [[nodiscard]] std::uint64_t bytes_read() const override { return bytes_read_; }

  [[nodiscard]] PreadReaderStats stats() const;

 private:
  friend class PreadPool;  // runs read_piece and hands results back under its mutex
  struct PieceDone {
    std::uint32_t chunk = 0;
    std::optional<Error> error;
  };

  // Runs on a pool thread: touches only options_ (read-only) and the piece's slot bytes.
  [[nodiscard]] std::optional<Error> read_piece(PreadPiece piece, PreadReaderStats& stats) const;
  [[nodiscard]] Error truncated(std::string message, std::uint64_t at) const;

  PreadPool& pool_;
  const PreadReaderOptions options_;

  // Under pool_.mutex_.
  std::vector<PieceDone> finished_;
  std::uint32_t running_ = 0;  // pieces of this reader a pool thread is reading now
  PreadReaderStats stats_;

  // The io thread's alone.
  std::uint32_t pieces_in_flight_ = 0;                            // handed in, not yet reaped
  std::unordered_map<std::uint32_t, std::uint32_t> outstanding_;  // per started chunk: pieces left
  std::unordered_map<std::uint32_t, std::span<const std::byte>> chunk_bytes_;
  std::vector<ChunkDone> completed_now_;  // chunks with nothing to read
  std::vector<PieceDone> taken_;          // reused by reap() (swapped with finished_: both keep room)
  std::uint64_t bytes_read_ = 0;
};

}  // namespace ringload
