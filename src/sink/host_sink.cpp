#include <cstring>

#include <fmt/format.h>

#include "ringload/sink.hpp"

namespace ringload {

Result<void> HostSink::prepare(std::span<const SinkTensor> tensors) {
  buffers_.clear();
  buffers_.resize(tensors.size());
  for (const SinkTensor& t : tensors) {
    // Uninitialised on purpose: every byte is written by the load, and zero-filling first would
    // touch each page twice.
    if (t.size > 0) buffers_[t.index].data = std::make_unique_for_overwrite<std::byte[]>(t.size);
    buffers_[t.index].size = t.size;
  }
  return {};
}

Result<void> HostSink::write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                             std::uint32_t) {
  if (index >= buffers_.size() || offset > buffers_[index].size ||
      bytes.size() > buffers_[index].size - offset) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("write of {} bytes at {} outside tensor #{}'s destination", bytes.size(), offset, index));
  }
  if (!bytes.empty()) std::memcpy(buffers_[index].data.get() + offset, bytes.data(), bytes.size());
  return {};
}

Destination HostSink::destination(std::uint32_t index) const {
  if (index >= buffers_.size()) return {};
  return Destination{buffers_[index].data.get(), buffers_[index].size, false};
}

std::span<const std::byte> HostSink::bytes(std::uint32_t index) const {
  if (index >= buffers_.size()) return {};
  return {buffers_[index].data.get(), buffers_[index].size};
}

void HostSink::discard() noexcept { buffers_.clear(); }

}  // namespace ringload
