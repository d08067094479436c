// The staging ring: slot_count slots of slot_size bytes in one anonymous mapping, 2 MiB-aligned
// with MADV_HUGEPAGE (O_DIRECT into 4 KiB pages measured at half speed here), MADV_DONTFORK (a
// forked child must not share pages the kernel and the GPU are writing and reading), first-touched
// on the GPU's NUMA node when a device sink will copy from it, and pre-faulted so no load waits on
// a page fault.
//
// The ring owns every registration of its memory: as io_uring fixed buffers and as page-locked
// memory for each CUDA device that copies from it. Registrations live exactly as long as the
// memory does, so a later ring mapped at the same address is never taken for this one, and no sink
// can unpin memory another sink still copies from. The destructor unregisters; the loader that
// owns the ring destroys it only after every load through it has ended, and a load ends only once
// its sink has finished every copy (Sink::finish), so nothing reads the ring when it is unpinned.
// Owner: one Loader (or AsyncLoader), used by its io thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "io/huge_page_memory.hpp"
#include "pipeline/device_pinner.hpp"
#include "ringload/error.hpp"

namespace ringload {

class Uring;

class StagingRing {
 public:
  // `numa_node`: where to place the pages (the device sink's node); nullopt: wherever the kernel
  // puts them (the calling thread's node). `prefault`: fault every page in now (a ring kept for
  // many loads pays once, before any is timed); else each slot's pages come in on first use, so a
  // one-shot load's first read is not held up by the whole ring.
  static Result<std::unique_ptr<StagingRing>> create(std::uint32_t slot_count, std::uint64_t slot_size,
                                                     std::optional<int> numa_node = std::nullopt,
                                                     bool prefault = true);
  struct Key {  // only create() makes one: no half-built ring outside it
   private:
    friend class StagingRing;
    Key() = default;
  };
  explicit StagingRing(Key /*unused*/) {}
  StagingRing(const StagingRing&) = delete;
  StagingRing& operator=(const StagingRing&) = delete;
  StagingRing(StagingRing&&) = delete;
  StagingRing& operator=(StagingRing&&) = delete;
  ~StagingRing();

  [[nodiscard]] std::uint32_t slot_count() const noexcept { return slot_count_; }
  [[nodiscard]] std::uint64_t slot_size() const noexcept { return slot_size_; }
  [[nodiscard]] std::span<std::byte> slot(std::uint32_t index) const noexcept {
    return memory_.bytes().subspan(static_cast<std::size_t>(index) * slot_size_, slot_size_);
  }
  [[nodiscard]] std::span<std::byte> memory() const noexcept { return memory_.bytes(); }
  [[nodiscard]] bool huge_pages() const noexcept { return memory_.huge_pages(); }
  [[nodiscard]] bool dont_fork() const noexcept { return dont_fork_; }
  // The node the pages were bound to, when a placement was asked for and the kernel took it.
  [[nodiscard]] std::optional<int> numa_node() const noexcept { return numa_node_; }

  // Registers the slots as fixed buffers of `uring` (slot index = buffer index). Once per uring;
  // a ring is registered with at most one. Failure (RLIMIT_MEMLOCK) leaves it unregistered. A ring
  // that was not prefaulted gets an empty table, each slot registered (pinned) on first use:
  // ensure_registered(slot) before a fixed read into it.
  Result<void> register_with(Uring& uring);
  Result<void> ensure_registered(std::uint32_t slot);
  [[nodiscard]] bool registered_with(const Uring& uring) const noexcept { return uring_ == &uring; }
  // `uring` is about to be destroyed, and its registration with it: forget it, unregister nothing.
  void forget(const Uring& uring) noexcept;

  // Page-locks the ring for copies to `device` through `pinner`, once per device: later calls
  // for a device already pinned (or whose pin failed) return what the first call did.
  Result<void> pin_for(int device, DevicePinner& pinner);
  [[nodiscard]] bool pinned_for(int device) const noexcept;

 private:
  struct DevicePin {
    int device = 0;
    std::optional<PinResult> pinned;  // nullopt: the pin failed (kept, so it is not retried)
    std::optional<Error> failure;
  };

  HugePageMemory memory_;
  std::uint32_t slot_count_ = 0;
  std::uint64_t slot_size_ = 0;
  bool dont_fork_ = false;
  bool prefaulted_ = false;
  std::vector<bool> slot_registered_;  // with a sparse table: which slots are in it
  std::optional<int> numa_node_;
  Uring* uring_ = nullptr;
  DevicePinner* pinner_ = nullptr;  // the one every pin went through
  std::vector<DevicePin> pins_;
};

}  // namespace ringload
