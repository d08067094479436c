#include "pipeline/staging_ring.hpp"

#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstring>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "io/uring.hpp"

namespace ringload {
namespace {

constexpr int kMpolPreferred = 1;  // <linux/mempolicy.h>'s MPOL_PREFERRED; no libnuma needed

// Asks the kernel to place the pages of `memory` on `node` when they are first touched. Advice:
// on a machine with one node, or a node that does not exist, the pages go where they would anyway.
bool prefer_node(std::span<std::byte> memory, int node) {
  if (node < 0 || node >= 1024) return false;
  std::array<unsigned long, 1024 / (8 * sizeof(unsigned long))> mask{};  // NOLINT(google-runtime-int)
  mask[static_cast<std::size_t>(node) / (8 * sizeof(unsigned long))] |=
      1UL << (static_cast<unsigned>(node) % (8 * sizeof(unsigned long)));
  return ::syscall(SYS_mbind, memory.data(), memory.size(), kMpolPreferred, mask.data(), 1024 + 1, 0) == 0;
}

}  // namespace

Result<std::unique_ptr<StagingRing>> StagingRing::create(std::uint32_t slot_count, std::uint64_t slot_size,
                                                         std::optional<int> numa_node, bool prefault) {
  const auto total = checked_mul(slot_count, slot_size);
  if (slot_count == 0 || slot_size == 0 || slot_size % 4096 != 0 || !total || *total > (1ULL << 40)) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("staging ring of {} slots x {} bytes: need ≥ 1 slot of a non-zero multiple of 4 KiB",
                    slot_count, slot_size));
  }
  auto ring = std::make_unique<StagingRing>(Key{});
  ring->memory_ = RINGLOAD_TRY(HugePageMemory::allocate(*total, "the staging ring"));
  ring->slot_count_ = slot_count;
  ring->slot_size_ = slot_size;
  ring->dont_fork_ = ::madvise(ring->memory_.data(), *total, MADV_DONTFORK) == 0;
  if (numa_node && prefer_node(ring->memory_.bytes(), *numa_node)) ring->numa_node_ = numa_node;
  // Fault the pages in now, on the chosen node, while no load is timed.
  if (prefault) std::memset(ring->memory_.data(), 0, *total);
  ring->prefaulted_ = prefault;
  return ring;
}

StagingRing::~StagingRing() {
  // Pins first, then the io_uring registration, then (the member) the memory itself.
  for (const DevicePin& pin : pins_) {
    if (pin.pinned && pin.pinned->owned && pinner_ != nullptr) pinner_->unpin(memory_.bytes(), pin.device);
  }
  if (uring_ != nullptr) io_uring_unregister_buffers(uring_->get());
}

Result<void> StagingRing::register_with(Uring& uring) {
  if (uring_ == &uring) return {};
  if (uring_ != nullptr) {
    return make_error(ErrorKind::invalid_argument,
                      "the staging ring is registered with another io_uring already");
  }
  if (!prefaulted_ && uring.register_sparse_buffers(slot_count_)) {
    slot_registered_.assign(slot_count_, false);
    uring_ = &uring;
    return {};
  }
  std::vector<std::span<std::byte>> slots;
  slots.reserve(slot_count_);
  for (std::uint32_t s = 0; s < slot_count_; ++s) slots.push_back(slot(s));
  RINGLOAD_TRY_VOID(uring.register_buffers(slots));
  uring_ = &uring;
  return {};
}

Result<void> StagingRing::ensure_registered(std::uint32_t index) {
  if (uring_ == nullptr || index >= slot_registered_.size() || slot_registered_[index]) return {};
  RINGLOAD_TRY_VOID(uring_->update_buffer(index, slot(index)));
  slot_registered_[index] = true;
  return {};
}

void StagingRing::forget(const Uring& uring) noexcept {
  if (uring_ == &uring) uring_ = nullptr;
  slot_registered_.clear();
}

Result<void> StagingRing::pin_for(int device, DevicePinner& pinner) {
  const auto known =
      std::find_if(pins_.begin(), pins_.end(), [&](const DevicePin& p) { return p.device == device; });
  if (known != pins_.end()) {
    if (known->failure) return *known->failure;
    return {};
  }
  if (pinner_ != nullptr && pinner_ != &pinner) {
    return make_error(ErrorKind::invalid_argument,
                      "the staging ring is pinned through another pinner already");
  }
  pinner_ = &pinner;
  auto pinned = pinner.pin(memory_.bytes(), device);
  if (!pinned) {
    pins_.push_back(DevicePin{device, std::nullopt, pinned.error()});
    return std::move(pinned).error();
  }
  pins_.push_back(DevicePin{device, *pinned, std::nullopt});
  return {};
}

bool StagingRing::pinned_for(int device) const noexcept {
  return std::any_of(pins_.begin(), pins_.end(),
                     [&](const DevicePin& p) { return p.device == device && p.pinned.has_value(); });
}

}  // namespace ringload
