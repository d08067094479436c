#include "pipeline/staging_ring.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "base/checked.hpp"

namespace ringload {
namespace {
constexpr std::uint64_t kHugePage = 2ULL << 20;
}

StagingRing::StagingRing(StagingRing&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      mapping_(std::exchange(other.mapping_, nullptr)),
      mapping_size_(std::exchange(other.mapping_size_, 0)),
      slot_count_(std::exchange(other.slot_count_, 0)),
      slot_size_(std::exchange(other.slot_size_, 0)),
      huge_pages_(std::exchange(other.huge_pages_, false)) {}

StagingRing& StagingRing::operator=(StagingRing&& other) noexcept {
  if (this != &other) {
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
    base_ = std::exchange(other.base_, nullptr);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_size_ = std::exchange(other.mapping_size_, 0);
    slot_count_ = std::exchange(other.slot_count_, 0);
    slot_size_ = std::exchange(other.slot_size_, 0);
    huge_pages_ = std::exchange(other.huge_pages_, false);
  }
  return *this;
}

StagingRing::~StagingRing() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

Result<StagingRing> StagingRing::create(std::uint32_t slot_count, std::uint64_t slot_size) {
  const auto total = checked_mul(slot_count, slot_size);
  if (slot_count == 0 || slot_size == 0 || slot_size % 4096 != 0 || !total || *total > (1ULL << 40)) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("staging ring of {} slots x {} bytes: need ≥ 1 slot of a non-zero multiple of 4 KiB",
                    slot_count, slot_size));
  }
  // Over-allocate by one huge page so the slots can start on a 2 MiB boundary.
  const std::size_t mapping_size = *total + kHugePage;
  void* mapping = ::mmap(nullptr, mapping_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED)
    return sys_error(errno, fmt::format("cannot allocate a {}-byte staging ring", *total), {});
  StagingRing ring;
  ring.mapping_ = static_cast<std::byte*>(mapping);
  ring.mapping_size_ = mapping_size;
  const auto addr = reinterpret_cast<std::uintptr_t>(mapping);
  ring.base_ = ring.mapping_ + (align_up(addr, kHugePage).value_or(addr) - addr);
  ring.slot_count_ = slot_count;
  ring.slot_size_ = slot_size;
  ring.huge_pages_ = ::madvise(ring.base_, *total, MADV_HUGEPAGE) == 0;
  // Fault the pages in now, while no load is timed; a load then never waits on a page fault.
  std::memset(ring.base_, 0, *total);
  return ring;
}

}  // namespace ringload
