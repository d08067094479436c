// The io_uring reader behind the uring, uring-direct and uring-dontcache strategies: reads of
// read_size pieces into staging slots (fixed buffers when the ring is registered), resubmitting
// EAGAIN/EINTR and requeueing the rest of a short read (liburing's io-uring-cp does the same).
// Owner: the io thread that owns the Uring.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "io/file.hpp"
#include "pipeline/source.hpp"

namespace ringload {

class Uring;

struct UringReaderOptions {
  Uring* uring = nullptr;
  UniqueFd fd;  // the reader's own descriptor (O_DIRECT or buffered), closed with the reader
  std::string path;
  std::uint64_t file_size = 0;  // as planned; a read ending early below it means truncation
  std::uint64_t read_size = 1ULL << 20;
  bool dontcache = false;  // RWF_DONTCACHE
  bool direct = false;     // fd was opened O_DIRECT
  std::uint64_t alignment = 1;
  FaultInjector fault;
  std::function<void(std::string_view)> warn;
};

// What happened on the way, for tests: each path here is one a healthy disk rarely takes.
struct UringReaderStats {
  std::uint64_t short_reads_requeued = 0;
  std::uint64_t retried = 0;             // EAGAIN / EINTR completions submitted again
  std::uint64_t queue_full_flushes = 0;  // SQ full: submitted what was queued, then took an entry
};

class UringReader final : public ChunkSource {
 public:
  explicit UringReader(UringReaderOptions options);
  UringReader(const UringReader&) = delete;
  UringReader& operator=(const UringReader&) = delete;
  UringReader(UringReader&&) = delete;
  UringReader& operator=(UringReader&&) = delete;
  ~UringReader() override;

  [[nodiscard]] SourceNeeds needs() const override;
  void attach(StagingRing& ring) override;
  Result<void> start(const ChunkRequest& request) override;
  Result<void> reap(bool wait, std::vector<ChunkDone>& done) override;
  [[nodiscard]] std::uint32_t in_flight() const override;
  void drain() noexcept override;
  [[nodiscard]] std::uint64_t bytes_read() const override { return bytes_read_; }
  [[nodiscard]] bool fixed_buffers() const override { return fixed_buffers_; }
  [[nodiscard]] const UringReaderStats& stats() const noexcept { return stats_; }

 private:
  struct ReadOp {
    std::uint32_t chunk = 0;
    std::uint32_t slot = 0;
    std::byte* buffer = nullptr;
    std::uint64_t file_offset = 0;
    std::uint64_t length = 0;    // bytes asked for (aligned for O_DIRECT)
    std::uint64_t expected = 0;  // bytes that exist in the file within the request
    bool in_use = false;
    bool fault_checked = false;  // the injector is asked once per read, not per resubmission
  };

  std::uint32_t new_op();
  Result<void> submit(std::uint32_t id);
  Result<void> complete(std::uint32_t id, int res, std::vector<ChunkDone>& done);
  Result<void> complete_short(ReadOp& op, std::uint64_t got, std::uint32_t id);
  [[nodiscard]] Error op_error(const ReadOp& op, int res) const;

  UringReaderOptions options_;
  bool fixed_buffers_ = false;
  std::vector<ReadOp> ops_;
  std::vector<std::uint32_t> outstanding_;               // per chunk: reads not yet complete
  std::vector<std::span<const std::byte>> chunk_bytes_;  // per chunk: the slot bytes it fills
  std::vector<ChunkDone> completed_now_;
  std::vector<std::pair<std::uint32_t, int>> injected_;
  std::uint32_t kernel_in_flight_ = 0;  // prepared SQEs whose CQE has not been reaped
  std::uint32_t next_hint_ = 0;
  std::uint64_t bytes_read_ = 0;
  UringReaderStats stats_;
};

// Opens the descriptor a uring strategy reads through: a fresh open of the model's own file
// (/proc/self/fd, so a file renamed over the path since is not the one read) with `flags`.
[[nodiscard]] Result<UniqueFd> reopen_model_file(const Model& model, int flags);

}  // namespace ringload
