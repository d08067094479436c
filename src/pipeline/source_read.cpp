// read: the seed's "before" baseline. The whole file onto the heap (uninitialised, as fs::read or
// Python's read() would have it), then every tensor handed out in place from there. Kept to be
// measured against, not to be used.
#include <algorithm>
#include <memory>

#include "io/file.hpp"
#include "pipeline/engine.hpp"

namespace ringload {
namespace {

constexpr std::uint64_t kPiece = 16ULL << 20;  // a cancel is seen between pieces

class ReadSource final : public ChunkSource {
 public:
  ReadSource(const Model& model, CancellationToken cancel, FaultInjector fault)
      : model_(model), cancel_(std::move(cancel)), fault_(std::move(fault)) {}

  [[nodiscard]] SourceNeeds needs() const override {
    return SourceNeeds{.slots = false,
                       .alignment = 1,
                       .per_tensor = true,
                       .max_chunk = 1ULL << 62,
                       .release_as_delivered = false};
  }

  Result<void> start(const ChunkRequest& request) override {
    if (image_.empty() && !model_.image().empty()) RINGLOAD_TRY_VOID(read_whole_file());
    const Chunk& c = *request.info;
    done_.push_back(ChunkDone{.chunk = request.chunk, .bytes = image_.subspan(c.file_offset, c.valid)});
    return {};
  }

  Result<void> reap(bool /*wait*/, std::vector<ChunkDone>& done) override {
    done.insert(done.end(), done_.begin(), done_.end());
    done_.clear();
    return {};
  }
  [[nodiscard]] std::uint32_t in_flight() const override { return 0; }
  void drain() noexcept override { done_.clear(); }
  [[nodiscard]] std::uint64_t bytes_read() const override { return image_.size(); }

 private:
  Result<void> read_whole_file() {
    if (!model_.is_mmap()) {  // compressed APR or from_bytes: the image is on the heap already
      image_ = model_.image();
      return {};
    }
    // Through the model's own descriptor: the file it opened, even if the path was replaced since.
    const std::uint64_t size = model_.image().size();
    heap_ = std::make_unique_for_overwrite<std::byte[]>(size);
    for (std::uint64_t at = 0; at < size; at += kPiece) {
      if (cancel_.cancelled()) {
        Error e = make_error(ErrorKind::cancelled, "the load was cancelled");
        e.path = model_.path();
        return e;
      }
      const std::uint64_t n = std::min(kPiece, size - at);
      if (fault_) {
        if (const std::int64_t rc = fault_(at, n); rc < 0) {
          return sys_error(static_cast<int>(-rc), "read failed (injected)", model_.path(), at);
        }
      }
      RINGLOAD_TRY_VOID(pread_exact(model_.fd(), std::span(heap_.get() + at, n), at, model_.path()));
    }
    image_ = std::span<const std::byte>(heap_.get(), size);
    return {};
  }

  const Model& model_;
  CancellationToken cancel_;
  FaultInjector fault_;
  std::unique_ptr<std::byte[]> heap_;
  std::span<const std::byte> image_;
  std::vector<ChunkDone> done_;
};

}  // namespace

Result<std::unique_ptr<ChunkSource>> open_read_source(const SourceContext& context) {
  return std::unique_ptr<ChunkSource>(
      std::make_unique<ReadSource>(context.model, context.options.cancel, context.engine.fault));
}

}  // namespace ringload
