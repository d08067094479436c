// mmap-pipelined: copies each chunk out of the file's mapping into its slot (SIGBUS-safe: a file
// truncated under the load is `truncated`, never a crash), optionally MADV_WILLNEED a window
// ahead. Also serves models already in memory (compressed APR, from_bytes) for every strategy.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include "base/checked.hpp"
#include "io/safe_copy.hpp"
#include "pipeline/engine.hpp"

namespace ringload {
namespace {

class MappingSource final : public ChunkSource {
 public:
  MappingSource(std::span<const std::byte> image, bool mapped, std::uint64_t willneed_window,
                FaultInjector fault)
      : image_(image), mapped_(mapped), willneed_window_(willneed_window), fault_(std::move(fault)) {}

  [[nodiscard]] SourceNeeds needs() const override { return SourceNeeds{.slots = true, .alignment = 4096}; }

  Result<void> start(const ChunkRequest& request) override {
    const Chunk& c = *request.info;
    if (mapped_ && willneed_window_ > 0) advise_ahead(c.file_offset + c.length);
    if (fault_) {
      if (const std::int64_t rc = fault_(c.file_offset, c.valid); rc < 0) {
        return sys_error(static_cast<int>(-rc), "read failed (injected)", {}, c.file_offset);
      }
    }
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
  bool mapped_;
  std::uint64_t willneed_window_;
  FaultInjector fault_;
  std::uint64_t advised_to_ = 0;
  std::uint64_t bytes_read_ = 0;
  std::vector<ChunkDone> done_;
};

}  // namespace

Result<std::unique_ptr<ChunkSource>> open_mmap_pipelined_source(const SourceContext& context) {
  return std::unique_ptr<ChunkSource>(std::make_unique<MappingSource>(
      context.model.image(), context.model.is_mmap(), context.options.willneed_window, context.engine.fault));
}

}  // namespace ringload
