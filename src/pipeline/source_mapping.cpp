// mmap-pipelined: copies each chunk out of the file's mapping into its slot (SIGBUS-safe: a file
// truncated under the load is `truncated`, never a crash), optionally MADV_WILLNEED a window
// ahead. Also serves models already in memory (compressed APR, from_bytes) for every strategy.
// Into a sink whose destinations are plain memory (host, null) and without a checksum, a page
// cache hit is copied once: straight from the mapping to the destination (Sink::plain_writer,
// plain copies under the SIGBUS guard), with no slot in between.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>
#include <string>

#include "base/checked.hpp"
#include "io/safe_copy.hpp"
#include "pipeline/engine.hpp"

namespace ringload {
namespace {

class MappingSource final : public ChunkSource {
 public:
  MappingSource(const Model& model, std::uint64_t willneed_window, PlainWriter* direct, FaultInjector fault)
      : image_(model.image()),
        path_(model.path()),
        mapped_(model.is_mmap()),
        willneed_window_(willneed_window),
        direct_(direct),
        fault_(std::move(fault)) {}

  [[nodiscard]] SourceNeeds needs() const override {
    return direct_ != nullptr ? SourceNeeds{.slots = false, .alignment = 1}
                              : SourceNeeds{.slots = true, .alignment = 4096};
  }

  Result<void> start(const ChunkRequest& request) override {
    const Chunk& c = *request.info;
    if (mapped_ && willneed_window_ > 0) advise_ahead(c.file_offset + c.length);
    if (fault_) {
      if (const std::int64_t rc = fault_(c.file_offset, c.valid); rc < 0) {
        return sys_error(static_cast<int>(-rc), "read failed (injected)", path_, c.file_offset);
      }
    }
    if (direct_ != nullptr) return put_pieces(request);
    // The plan was made against this image, so valid bytes lie inside it; only a mapped file can
    // shrink under us, and the guarded copy turns that SIGBUS into `truncated`.
    const std::uint64_t size = image_.size();
    const std::uint64_t n = std::min<std::uint64_t>(c.valid, size - std::min(size, c.file_offset));
    const auto src = image_.subspan(c.file_offset, n);
    if (mapped_) {
      auto copied = copy_from_mapping(request.buffer.first(n), src);
      if (!copied) {
        Error e = std::move(copied).error();
        e.offset = c.file_offset + e.offset.value_or(0);
        e.path = path_;
        return e;
      }
    } else {
      std::memcpy(request.buffer.data(), src.data(), n);
    }
    bytes_read_ += n;
    done_.push_back(ChunkDone{.chunk = request.chunk, .bytes = request.buffer.first(n)});
    return {};
  }

  Result<void> reap(bool /*wait*/, std::vector<ChunkDone>& done) override {
    done.insert(done.end(), done_.begin(), done_.end());
    done_.clear();
    return {};
  }
  [[nodiscard]] std::uint32_t in_flight() const override { return 0; }
  void drain() noexcept override { done_.clear(); }
  [[nodiscard]] std::uint64_t bytes_read() const override { return bytes_read_; }

 private:
  // Each piece from the mapping straight to its destination; only plain copies under the guard.
  Result<void> put_pieces(const ChunkRequest& request) {
    const Chunk& c = *request.info;
    auto copied = guard_mapped_reads(image_, [&] {
      for (const Piece& p : c.pieces) {
        direct_->put(p.tensor, p.tensor_offset, image_.subspan(c.file_offset + p.chunk_offset, p.length));
      }
    });
    if (!copied) {
      Error e = std::move(copied).error();
      e.path = path_;
      return e;
    }
    bytes_read_ += c.valid;
    done_.push_back(ChunkDone{.chunk = request.chunk, .delivered = true});
    return {};
  }

  // Keeps readahead between one and two windows ahead of the copy, advising a window at a time
  // so the number of madvise calls stays small.
  void advise_ahead(std::uint64_t copied_to) {
    const std::uint64_t size = image_.size();
    if (advised_to_ >= size || advised_to_ >= copied_to + willneed_window_) return;
    const std::uint64_t begin = align_down(advised_to_, 4096);
    const std::uint64_t end = std::min<std::uint64_t>(size, copied_to + 2 * willneed_window_);
    // Advice only: a failure costs speed, never correctness.
    (void)::madvise(const_cast<std::byte*>(image_.data()) + begin, end - begin, MADV_WILLNEED);
    advised_to_ = end;
  }

  std::span<const std::byte> image_;
  std::string path_;
  bool mapped_;
  std::uint64_t willneed_window_;
  PlainWriter* direct_;  // the sink's plain-copy path, when the copy may skip the slot
  FaultInjector fault_;
  std::uint64_t advised_to_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::vector<ChunkDone> done_;
};

}  // namespace

Result<std::unique_ptr<ChunkSource>> open_mmap_pipelined_source(const SourceContext& context) {
  // Hashing reads the bytes again after the copy: they must be in a slot by then.
  PlainWriter* direct = context.options.checksum_sha256 ? nullptr : context.sink.plain_writer();
  return std::unique_ptr<ChunkSource>(std::make_unique<MappingSource>(
      context.model, context.options.willneed_window, direct, context.engine.fault));
}

}  // namespace ringload
