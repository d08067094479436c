// The io_uring reader behind the uring, uring-direct and uring-dontcache strategies: reads of
// read_size pieces into staging slots (fixed buffers when the ring is registered), resubmitting
// EAGAIN/EINTR and requeueing the rest of a short read (liburing's io-uring-cp does the same),
// for every file of a load.
// Owner: the io thread that owns the Uring.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "io/file.hpp"
#include "pipeline/source.hpp"

namespace ringload {

class Uring;

struct UringReaderOptions {
  Uring* uring = nullptr;
  std::uint64_t read_size = 1ULL << 20;
  FaultInjector fault;
  std::function<void(std::string_view)> warn;
};

// One file the reader reads from.
struct UringFile {
  UniqueFd fd;  // the reader's own descriptor (O_DIRECT or buffered), closed with the file
  std::string path;
  std::uint64_t file_size = 0;  // as planned; a read ending early below it means truncation
  bool dontcache = false;       // RWF_DONTCACHE
  bool direct = false;          // fd was opened O_DIRECT
  std::uint64_t alignment = 1;
};

// What happened on the way, for tests: each path here is one a healthy disk rarely takes.
struct UringReaderStats {
  std::uint64_t short_reads_requeued = 0;
  std::uint64_t retried = 0;             // EAGAIN / EINTR completions submitted again
  std::uint64_t queue_full_flushes = 0;  // SQ full: submitted what was queued, then took an entry
};

// One per load: every file the load reads through io_uring shares it (and the one io_uring), so
// reads of the next file are in flight while the last chunks of the previous one complete, and
// each completion is reaped once, whichever file it belongs to.
class UringReader {
 public:
  explicit UringReader(UringReaderOptions options);
  UringReader(const UringReader&) = delete;
  UringReader& operator=(const UringReader&) = delete;
  UringReader(UringReader&&) = delete;
  UringReader& operator=(UringReader&&) = delete;
  ~UringReader();

  std::uint32_t add_file(UringFile file);
  // Closes the file's descriptor; none of its reads may be in flight.
  void remove_file(std::uint32_t file) noexcept;

  // Registers `ring`'s slots as fixed buffers (once; a failure warns and reads go unregistered).
  void attach(StagingRing& ring);
  Result<void> start(std::uint32_t file, const ChunkRequest& request);
  // Appends the chunks that completed; with `wait`, blocks until at least one has (if any is in
  // flight).
  Result<void> reap(bool wait, std::vector<ChunkDone>& done);
  [[nodiscard]] std::uint32_t in_flight() const;
  // Waits out every started read, ignoring results: slots must not be reused or freed while the
  // kernel may still write into them (the cancel and error paths).
  void drain() noexcept;
  [[nodiscard]] bool fixed_buffers() const noexcept { return fixed_buffers_; }
  [[nodiscard]] const UringReaderStats& stats() const noexcept { return stats_; }

 private:
  struct ReadOp {
    std::uint32_t file = 0;
    std::uint32_t chunk = 0;
    std::uint32_t slot = 0;  // kNoSlot: memory outside the ring, never a fixed buffer
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
  std::vector<std::optional<UringFile>> files_;  // by file id; nullopt once removed
  bool attached_ = false;
  StagingRing* ring_ = nullptr;
  bool fixed_buffers_ = false;
  std::vector<ReadOp> ops_;
  std::unordered_map<std::uint32_t, std::uint32_t> outstanding_;  // per started chunk: reads not complete
  std::unordered_map<std::uint32_t, std::span<const std::byte>> chunk_bytes_;
  std::vector<ChunkDone> completed_now_;
  std::vector<std::pair<std::uint32_t, int>> injected_;
  std::uint32_t kernel_in_flight_ = 0;  // prepared SQEs whose CQE has not been reaped
  std::uint32_t next_hint_ = 0;
  UringReaderStats stats_;
};

// A file of the load read through the load's UringReader: the source the uring strategies give.
class UringFileSource final : public ChunkSource {
 public:
  UringFileSource(UringReader& reader, UringFile file);
  UringFileSource(const UringFileSource&) = delete;
  UringFileSource& operator=(const UringFileSource&) = delete;
  UringFileSource(UringFileSource&&) = delete;
  UringFileSource& operator=(UringFileSource&&) = delete;
  ~UringFileSource() override { reader_.remove_file(id_); }

  [[nodiscard]] SourceNeeds needs() const override {
    return SourceNeeds{.slots = true, .alignment = alignment_, .reads_anywhere = true};
  }
  void attach(StagingRing& ring) override { reader_.attach(ring); }
  Result<void> start(const ChunkRequest& request) override;
  Result<void> reap(bool wait, std::vector<ChunkDone>& done) override { return reader_.reap(wait, done); }
  [[nodiscard]] std::uint32_t in_flight() const override { return reader_.in_flight(); }
  void drain() noexcept override { reader_.drain(); }
  [[nodiscard]] std::uint64_t bytes_read() const override { return bytes_read_; }
  [[nodiscard]] bool fixed_buffers() const override { return reader_.fixed_buffers(); }
  [[nodiscard]] const void* reap_group() const override { return &reader_; }

 private:
  UringReader& reader_;
  std::uint32_t id_;
  std::uint64_t alignment_;
  std::uint64_t bytes_read_ = 0;
};

// Opens the descriptor a uring strategy reads through: a fresh open of the model's own file
// (/proc/self/fd, so a file renamed over the path since is not the one read) with `flags`.
[[nodiscard]] Result<UniqueFd> reopen_model_file(const Model& model, int flags);

// The model's file reopened with O_DIRECT, and the offset alignment its reads keep (the file
// system's, at least 4 KiB): what uring-direct and pread-direct both read through. invalid_argument
// when `options`' slot or read size is not a multiple of it; unsupported_feature, ending in
// `refusal_hint`, when the file system refuses O_DIRECT.
struct DirectFile {
  UniqueFd fd;
  std::uint64_t alignment = 0;
};
[[nodiscard]] Result<DirectFile> open_direct_file(const Model& model, const PipelineOptions& options,
                                                  std::string_view refusal_hint);

}  // namespace ringload
