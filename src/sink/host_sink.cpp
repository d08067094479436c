#include <cstring>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "io/huge_page_memory.hpp"
#include "ringload/sink.hpp"

namespace ringload {

namespace {
constexpr std::uint64_t kTensorAlignment = 64;  // a cache line: what SIMD kernels want
}  // namespace

struct HostSink::Arena {
  HugePageMemory memory;
};

HostSink::HostSink() = default;
HostSink::~HostSink() = default;

Result<void> HostSink::prepare(std::span<const SinkTensor> tensors) {
  discard();
  std::vector<std::uint64_t> offsets(tensors.size(), 0);
  std::uint64_t total = 0;
  for (const SinkTensor& t : tensors) {
    const auto start = align_up(total, kTensorAlignment);
    const auto end = start ? checked_add(*start, t.size) : std::nullopt;
    if (t.index >= tensors.size() || !end) {
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("host sink: tensor #{} of {} ({} bytes) does not fit an allocation",
                                    t.index, tensors.size(), t.size));
    }
    offsets[t.index] = *start;
    total = *end;
  }
  // Uninitialised on purpose (the kernel's zero pages aside): every byte is written by the load.
  auto memory = RINGLOAD_TRY(HugePageMemory::allocate(total, "the host sink's tensors"));
  arena_ = std::make_unique<Arena>(Arena{std::move(memory)});
  buffers_.resize(tensors.size());
  for (const SinkTensor& t : tensors) {
    buffers_[t.index] = Buffer{t.size > 0 ? arena_->memory.data() + offsets[t.index] : nullptr, t.size};
  }
  return {};
}

std::uint64_t HostSink::allocated_bytes() const noexcept { return arena_ ? arena_->memory.size() : 0; }

Result<void> HostSink::write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                             std::uint32_t) {
  if (index >= buffers_.size() || offset > buffers_[index].size ||
      bytes.size() > buffers_[index].size - offset) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("write of {} bytes at {} outside tensor #{}'s destination", bytes.size(), offset, index));
  }
  if (!bytes.empty()) std::memcpy(buffers_[index].data + offset, bytes.data(), bytes.size());
  return {};
}

Destination HostSink::destination(std::uint32_t index) const {
  if (index >= buffers_.size()) return {};
  return Destination{buffers_[index].data, buffers_[index].size, false};
}

std::span<const std::byte> HostSink::bytes(std::uint32_t index) const {
  if (index >= buffers_.size()) return {};
  return {buffers_[index].data, buffers_[index].size};
}

void HostSink::discard() noexcept {
  buffers_.clear();
  arena_.reset();
}

}  // namespace ringload
