// What a Loader keeps between loads: the staging ring, the io_uring its slots are registered with,
// and the pinner the ring page-locks itself through. Loader and AsyncLoader each own one.
// Owner: one thread at a time (the Loader's caller, or AsyncLoader's io thread). Not thread-safe.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <thread>

#include "io/uring.hpp"
#include "pipeline/device_pinner.hpp"
#include "pipeline/source.hpp"
#include "pipeline/staging_ring.hpp"
#include "ringload/error.hpp"

namespace ringload {

class LoadEngine {
 public:
  explicit LoadEngine(DevicePinner& pinner = cuda_pinner()) : pinner_(&pinner) {}

  // A one-shot load (load_into) makes its ring for itself alone: no larger than the bytes it
  // loads (rounded to slots), and faulted in slot by slot as used, so a small model does not pay
  // for a 128 MiB ring and a large one's first read is not held up by it. A Loader or
  // AsyncLoader keeps one full ring for every load.
  void set_one_shot(bool one_shot) noexcept { one_shot_ = one_shot; }
  [[nodiscard]] bool one_shot() const noexcept { return one_shot_; }
  LoadEngine(const LoadEngine&) = delete;
  LoadEngine& operator=(const LoadEngine&) = delete;
  LoadEngine(LoadEngine&&) = delete;
  LoadEngine& operator=(LoadEngine&&) = delete;
  ~LoadEngine();

  // The ring of this geometry: the current one, or a new one (first-touched on `numa_node`)
  // that replaces it. Replacing is safe between loads: every load through the old ring has ended.
  Result<StagingRing*> ring(std::uint32_t slot_count, std::uint64_t slot_size, std::optional<int> numa_node);
  [[nodiscard]] StagingRing* current_ring() const noexcept { return ring_.get(); }
  [[nodiscard]] std::uint32_t rings_created() const noexcept { return rings_created_; }

  // An io_uring of at least 8 entries (`entries` when first made) owned by the calling thread:
  // the ring is SINGLE_ISSUER, so a Loader moved to another thread (an Asio pool runs handlers
  // anywhere) gets a new one there. nullptr with why() set when io_uring cannot be had here.
  [[nodiscard]] Uring* uring(std::uint32_t entries);
  [[nodiscard]] const std::optional<Error>& uring_unavailable() const noexcept { return uring_unavailable_; }

  [[nodiscard]] DevicePinner& pinner() const noexcept { return *pinner_; }

  // Test hook (src/pipeline/testing.hpp): read faults every source of this engine injects.
  FaultInjector fault;

 private:
  DevicePinner* pinner_;
  std::optional<Uring> uring_;  // declared before ring_: destroyed after it
  std::thread::id uring_thread_;
  std::optional<Error> uring_unavailable_;
  std::unique_ptr<StagingRing> ring_;
  std::uint32_t rings_created_ = 0;
  bool one_shot_ = false;
};

}  // namespace ringload
