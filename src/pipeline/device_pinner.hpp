// How staging memory is page-locked for a GPU. The staging ring pins itself through this
// interface (cudaHostRegister in CUDA builds); sinks never pin. Tests substitute a recording fake,
// so the ring's pin lifecycle is checked on machines without a GPU.
#pragma once

#include <cstddef>
#include <optional>
#include <span>

#include "ringload/error.hpp"

namespace ringload {

struct PinResult {
  bool read_only = false;  // registered with the read-only flag (the device supports it)
  // False when the range was page-locked already (another device's portable registration, or
  // memory the caller pinned): unpin() then leaves it alone.
  bool owned = true;
};

class DevicePinner {
 public:
  DevicePinner() = default;
  DevicePinner(const DevicePinner&) = delete;
  DevicePinner& operator=(const DevicePinner&) = delete;
  virtual ~DevicePinner() = default;

  // Page-locks `range` (not empty) for copies to `device`.
  virtual Result<PinResult> pin(std::span<std::byte> range, int device) = 0;
  // Undoes an owned pin; only called once no copy can read the range any more.
  virtual void unpin(std::span<std::byte> range, int device) noexcept = 0;
  // The NUMA node the device hangs off (its PCI bus's numa_node), nullopt where unknown.
  [[nodiscard]] virtual std::optional<int> numa_node(int device) const = 0;
};

// The pinner of this build: the CUDA runtime's, or (built without CUDA) one whose pin fails with
// no_device. Stateless: every ring may share it.
[[nodiscard]] DevicePinner& cuda_pinner() noexcept;

}  // namespace ringload
