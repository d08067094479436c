#include "pipeline/staging_ring.hpp"

#include <cstring>

#include <fmt/format.h>

#include "base/checked.hpp"

namespace ringload {

Result<StagingRing> StagingRing::create(std::uint32_t slot_count, std::uint64_t slot_size) {
  const auto total = checked_mul(slot_count, slot_size);
  if (slot_count == 0 || slot_size == 0 || slot_size % 4096 != 0 || !total || *total > (1ULL << 40)) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("staging ring of {} slots x {} bytes: need ≥ 1 slot of a non-zero multiple of 4 KiB",
                    slot_count, slot_size));
  }
  StagingRing ring;
  ring.memory_ = RINGLOAD_TRY(HugePageMemory::allocate(*total, "the staging ring"));
  ring.slot_count_ = slot_count;
  ring.slot_size_ = slot_size;
  // Fault the pages in now, while no load is timed; a load then never waits on a page fault.
  std::memset(ring.memory_.data(), 0, *total);
  return ring;
}

}  // namespace ringload
