// mmap-pipelined (and heap images): copy chunk bytes from memory into the slot.
#include <sys/mman.h>

#include <algorithm>
#include <cstring>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "io/safe_copy.hpp"
#include "pipeline/source.hpp"

namespace ringload {
namespace {

class MemorySource final : public ChunkSource {
 public:
  explicit MemorySource(MemorySourceOptions options) : options_(std::move(options)) {}

  Result<void> start(const ChunkRequest& request) override {
    const Chunk& c = *request.info;
    const std::uint64_t image_size = options_.image.size();
    if (options_.mapped && options_.willneed_window > 0) advise_ahead(c.file_offset + c.length);
    if (options_.fault) {
      if (const int rc = options_.fault(c.file_offset, c.valid); rc < 0) {
        return sys_error(-rc, "read failed (injected)", {}, c.file_offset);
      }
    }
    // The plan was made against this image, so valid bytes lie inside it; only a mapped file can
    // shrink under us, and the guarded copy turns that SIGBUS into `truncated`.
    const std::uint64_t n =
        std::min<std::uint64_t>(c.valid, image_size - std::min(image_size, c.file_offset));
    const auto src = options_.image.subspan(c.file_offset, n);
    if (options_.mapped) {
      auto copied = copy_from_mapping(request.buffer.first(n), src);
      if (!copied) {
        Error e = std::move(copied).error();
        e.offset = c.file_offset + e.offset.value_or(0);
        return e;
      }
    } else {
      std::memcpy(request.buffer.data(), src.data(), n);
    }
    done_.push_back(request.chunk);
    return {};
  }

  Result<void> reap(bool, std::vector<std::uint32_t>& completed) override {
    completed.insert(completed.end(), done_.begin(), done_.end());
    done_.clear();
    return {};
  }
  [[nodiscard]] std::uint32_t in_flight() const override { return 0; }
  void drain() noexcept override { done_.clear(); }

 private:
  // Keeps readahead between one and two windows ahead of the copy, advising a window at a time
  // so the number of madvise calls stays small.
  void advise_ahead(std::uint64_t copied_to) {
    const std::uint64_t size = options_.image.size();
    if (advised_to_ >= size || advised_to_ >= copied_to + options_.willneed_window) return;
    const std::uint64_t begin = align_down(advised_to_, 4096);
    const std::uint64_t end = std::min<std::uint64_t>(size, copied_to + 2 * options_.willneed_window);
    // Advice only: a failure costs speed, never correctness.
    (void)::madvise(const_cast<std::byte*>(options_.image.data()) + begin, end - begin, MADV_WILLNEED);
    advised_to_ = end;
  }

  MemorySourceOptions options_;
  std::uint64_t advised_to_ = 0;
  std::vector<std::uint32_t> done_;
};

}  // namespace

std::unique_ptr<ChunkSource> make_memory_source(MemorySourceOptions options) {
  return std::make_unique<MemorySource>(std::move(options));
}

}  // namespace ringload
