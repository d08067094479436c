// mmap: the seed's "after" baseline. Copies tensor by tensor out of the file's mapping and releases
// the file's pages only at the end. Into a sink whose destinations are plain memory (host, null),
// the copy goes straight there through Sink::plain_writer() under the SIGBUS guard; otherwise
// (a device sink, or a checksum, whose hashing must not run under the guard) each piece of at
// most a slot's size is copied into the source's own bounce buffer first and handed on from
// there, one at a time. Either way the baseline needs no staging ring (it would add the ring to
// its peak RSS).
#include <algorithm>
#include <cstring>

#include "io/huge_page_memory.hpp"
#include "io/safe_copy.hpp"
#include "pipeline/engine.hpp"

namespace ringload {
namespace {

class MmapSource final : public ChunkSource {
 public:
  MmapSource(const Model& model, PlainWriter* direct, std::uint64_t bounce_bytes, FaultInjector fault)
      : model_(model), direct_(direct), bounce_bytes_(bounce_bytes), fault_(std::move(fault)) {}

  [[nodiscard]] SourceNeeds needs() const override {
    return SourceNeeds{.slots = false,
                       .alignment = 1,
                       .per_tensor = true,
                       .max_chunk = direct_ != nullptr ? 1ULL << 62 : bounce_bytes_,
                       .release_as_delivered = false};
  }

  Result<void> start(const ChunkRequest& request) override {
    const Chunk& c = *request.info;
    if (fault_) {
      if (const std::int64_t rc = fault_(c.file_offset, c.valid); rc < 0) {
        return sys_error(static_cast<int>(-rc), "read failed (injected)", model_.path(), c.file_offset);
      }
    }
    const auto image = model_.image();
    if (direct_ == nullptr && bounce_.size() < c.valid) {
      bounce_ = RINGLOAD_TRY(HugePageMemory::allocate(bounce_bytes_, "the mmap baseline's bounce buffer"));
    }
    Result<void> copied = direct_ != nullptr ? guard_mapped_reads(image, [&] { put_pieces(c); })
                                             : copy_from_mapping(bounce_.bytes().first(c.valid),
                                                                 image.subspan(c.file_offset, c.valid));
    if (!copied) {
      Error e = std::move(copied).error();
      if (direct_ == nullptr) e.offset = c.file_offset + e.offset.value_or(0);
      e.path = model_.path();
      return e;
    }
    bytes_read_ += c.valid;
    done_.push_back(direct_ != nullptr
                        ? ChunkDone{.chunk = request.chunk, .delivered = true}
                        : ChunkDone{.chunk = request.chunk, .bytes = bounce_.bytes().first(c.valid)});
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
  // Runs under the guard: plain copies only (PlainWriter's promise).
  void put_pieces(const Chunk& c) const noexcept {
    const auto image = model_.image();
    for (const Piece& p : c.pieces) {
      direct_->put(p.tensor, p.tensor_offset, image.subspan(c.file_offset + p.chunk_offset, p.length));
    }
  }

  const Model& model_;
  PlainWriter* direct_;
  std::uint64_t bounce_bytes_;
  FaultInjector fault_;
  HugePageMemory bounce_;  // allocated on first use, when there is no direct path
  std::uint64_t bytes_read_ = 0;
  std::vector<ChunkDone> done_;
};

}  // namespace

Result<std::unique_ptr<ChunkSource>> open_mmap_source(const SourceContext& context) {
  // Hashing reads the bytes again outside the copy: they must be in a slot by then.
  PlainWriter* direct = context.options.checksum_sha256 ? nullptr : context.sink.plain_writer();
  return std::unique_ptr<ChunkSource>(
      std::make_unique<MmapSource>(context.model, direct, context.options.slot_size, context.engine.fault));
}

}  // namespace ringload
