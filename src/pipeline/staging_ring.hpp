// The staging ring: slot_count slots of slot_size bytes in one anonymous mapping, 2 MiB-aligned
// with MADV_HUGEPAGE (O_DIRECT into 4 KiB pages measured at half speed here), pre-faulted so the
// first load pays no faults. Allocated once per Loader and reused by every load.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "io/huge_page_memory.hpp"
#include "ringload/error.hpp"

namespace ringload {

class StagingRing {
 public:
  static Result<StagingRing> create(std::uint32_t slot_count, std::uint64_t slot_size);

  [[nodiscard]] std::uint32_t slot_count() const noexcept { return slot_count_; }
  [[nodiscard]] std::uint64_t slot_size() const noexcept { return slot_size_; }
  [[nodiscard]] std::span<std::byte> slot(std::uint32_t index) const noexcept {
    return memory_.bytes().subspan(static_cast<std::size_t>(index) * slot_size_, slot_size_);
  }
  [[nodiscard]] std::span<std::byte> memory() const noexcept { return memory_.bytes(); }
  [[nodiscard]] bool huge_pages() const noexcept { return memory_.huge_pages(); }

 private:
  HugePageMemory memory_;
  std::uint32_t slot_count_ = 0;
  std::uint64_t slot_size_ = 0;
};

}  // namespace ringload
