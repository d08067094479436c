#include <cstring>

#include <fmt/format.h>

#include "io/huge_page_memory.hpp"
#include "ringload/sink.hpp"
#include "sink/destination_layout.hpp"

namespace ringload {

namespace {
constexpr std::uint64_t kTensorAlignment = 64;   // a cache line: what SIMD kernels want
constexpr std::uint64_t kImageAlignment = 4096;  // a page: O_DIRECT's memory alignment at most
}  // namespace

struct HostSink::Arena {
  DestinationLayout layout;
  HugePageMemory memory;

  // Memory for `layout`, uninitialised on purpose (the kernel's zero pages aside): every byte is
  // written by the load.
  static Result<std::unique_ptr<Arena>> make(DestinationLayout layout) {
    auto memory = RINGLOAD_TRY(HugePageMemory::allocate(layout.total_bytes(), "the host sink's tensors"));
    return std::make_unique<Arena>(Arena{std::move(layout), std::move(memory)});
  }

  [[nodiscard]] std::byte* at(std::uint32_t index) const noexcept {
    return layout.size(index) > 0 ? memory.data() + layout.offset(index) : nullptr;
  }
};

HostSink::HostSink() = default;
HostSink::~HostSink() = default;

Result<void> HostSink::prepare(std::span<const SinkTensor> tensors) {
  discard();
  auto layout = RINGLOAD_TRY(DestinationLayout::make(tensors, kTensorAlignment, name()));
  arena_ = RINGLOAD_TRY(Arena::make(std::move(layout)));
  return {};
}

Result<void> HostSink::prepare_images(std::span<const SinkTensor> tensors,
                                      std::span<const FileImage> images) {
  discard();
  auto layout = RINGLOAD_TRY(DestinationLayout::in_images(tensors, images, kImageAlignment, name()));
  arena_ = RINGLOAD_TRY(Arena::make(std::move(layout)));
  return {};
}

std::span<std::byte> HostSink::image(std::uint32_t image) noexcept {
  if (!arena_ || image >= arena_->layout.image_count()) return {};
  return {arena_->memory.data() + arena_->layout.image_offset(image), arena_->layout.image_length(image)};
}

std::size_t HostSink::tensor_count() const noexcept { return arena_ ? arena_->layout.count() : 0; }

std::uint64_t HostSink::allocated_bytes() const noexcept { return arena_ ? arena_->memory.size() : 0; }

std::span<const std::byte> HostSink::allocation() const noexcept {
  return arena_ ? std::span<const std::byte>(arena_->memory.bytes()) : std::span<const std::byte>{};
}

Result<void> HostSink::write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                             std::uint32_t /*slot*/) {
  if (!arena_) {
    return make_error(ErrorKind::invalid_argument,
                      "host sink: write() before prepare() (or after discard())");
  }
  RINGLOAD_TRY_VOID(arena_->layout.check_write(index, offset, bytes.size()));
  if (!bytes.empty()) std::memcpy(arena_->at(index) + offset, bytes.data(), bytes.size());
  return {};
}

void HostSink::put(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes) noexcept {
  // The plan only makes ranges inside their tensor; a range outside is dropped, never written.
  if (arena_ && !bytes.empty() && arena_->layout.contains(index, offset, bytes.size())) {
    std::memcpy(arena_->at(index) + offset, bytes.data(), bytes.size());
  }
}

Destination HostSink::destination(std::uint32_t index) const {
  if (!arena_ || index >= arena_->layout.count()) return {};
  return Destination{arena_->at(index), arena_->layout.size(index), false};
}

std::span<const std::byte> HostSink::bytes(std::uint32_t index) const {
  if (!arena_ || index >= arena_->layout.count()) return {};
  return {arena_->at(index), arena_->layout.size(index)};
}

void HostSink::discard() noexcept { arena_.reset(); }

}  // namespace ringload
