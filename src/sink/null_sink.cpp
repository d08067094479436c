#include <cstring>

#include <fmt/format.h>

#include "ringload/sink.hpp"
#include "sink/destination_layout.hpp"

namespace ringload {

Result<void> NullSink::prepare(std::span<const SinkTensor> tensors) {
  const auto layout = RINGLOAD_TRY(DestinationLayout::make(tensors, 1, name()));
  sizes_.assign(tensors.size(), 0);
  for (std::uint32_t i = 0; i < sizes_.size(); ++i) sizes_[i] = layout.size(i);
  fold_ = 0;
  bytes_ = 0;
  return {};
}

Result<void> NullSink::write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                             std::uint32_t /*slot*/) {
  if (index >= sizes_.size() || offset > sizes_[index] || bytes.size() > sizes_[index] - offset) {
    return make_error(
        ErrorKind::out_of_bounds,
        fmt::format("null sink: write of {} bytes at offset {} outside tensor #{} ({} tensors prepared)",
                    bytes.size(), offset, index, sizes_.size()));
  }
  put(index, offset, bytes);
  return {};
}

void NullSink::put(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes) noexcept {
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
}

Destination NullSink::destination(std::uint32_t index) const {
  return Destination{nullptr, index < sizes_.size() ? sizes_[index] : 0, false};
}

}  // namespace ringload
