#include <cstring>

#include "ringload/sink.hpp"

namespace ringload {

Result<void> NullSink::prepare(std::span<const SinkTensor> tensors) {
  sizes_.assign(tensors.size(), 0);
  for (const SinkTensor& t : tensors) sizes_[t.index] = t.size;
  fold_ = 0;
  bytes_ = 0;
  return {};
}

Result<void> NullSink::write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                             std::uint32_t) {
  // The fold reads every byte (what a lazy mapping cannot skip) and depends only on the tensor's
  // bytes, not on how they were cut into writes: each tensor is summed as little-endian u64 words
  // from its own start, its last partial word byte by byte.
  const std::uint64_t size = index < sizes_.size() ? sizes_[index] : offset + bytes.size();
  const std::uint64_t whole_words_end = size & ~std::uint64_t{7};
  std::uint64_t acc = fold_;
  std::uint64_t p = offset;
  std::size_t i = 0;
  const std::size_t n = bytes.size();
  auto one = [&](std::uint64_t at, std::byte b) {
    const auto v = static_cast<std::uint64_t>(b);
    acc += at < whole_words_end ? v << (8 * (at % 8)) : v;
  };
  for (; i < n && p % 8 != 0; ++i, ++p) one(p, bytes[i]);
  for (; i + 8 <= n && p + 8 <= whole_words_end; i += 8, p += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes.data() + i, 8);
    acc += word;
  }
  for (; i < n; ++i, ++p) one(p, bytes[i]);
  fold_ = acc;
  bytes_ += n;
  return {};
}

Destination NullSink::destination(std::uint32_t index) const {
  return Destination{nullptr, index < sizes_.size() ? sizes_[index] : 0, false};
}

}  // namespace ringload
