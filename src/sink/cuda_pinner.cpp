// The staging ring's page-locking through the CUDA runtime: cudaHostRegister, portable (one
// registration serves every device and context) and read-only where the device supports it
// (the GPU only ever reads the ring). Not cudaHostAlloc: the ring's own huge-page mapping is what
// O_DIRECT and io_uring fixed buffers are known to handle.
#include <array>
#include <cctype>
#include <fstream>
#include <string>

#include <fmt/format.h>

#include "pipeline/device_pinner.hpp"
#include "sink/cuda_call.hpp"

namespace ringload {
namespace {

class CudaPinner final : public DevicePinner {
 public:
  Result<PinResult> pin(std::span<std::byte> range, int device) override {
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device));
    int read_only = 0;
    RINGLOAD_TRY_VOID(
        cuda::check(cudaDeviceGetAttribute(&read_only, cudaDevAttrHostRegisterReadOnlySupported, device),
                    "cudaDeviceGetAttribute(HostRegisterReadOnlySupported)"));
    const unsigned flags = cudaHostRegisterPortable | (read_only != 0 ? cudaHostRegisterReadOnly : 0U);
    const cudaError_t status = cudaHostRegister(range.data(), range.size(), flags);
    if (status == cudaSuccess) return PinResult{.read_only = read_only != 0, .owned = true};
    if (status == cudaErrorHostMemoryAlreadyRegistered) {
      (void)cudaGetLastError();
      return PinResult{.read_only = false, .owned = false};
    }
    Error e = cuda::error(status, fmt::format("cudaHostRegister of the {}-byte staging ring for device {}",
                                              range.size(), device));
    if (status == cudaErrorMemoryAllocation) e.message += "; raise RLIMIT_MEMLOCK (ulimit -l)";
    return e;
  }

  void unpin(std::span<std::byte> range, int device) noexcept override {
    (void)device;  // portable: one registration, whichever device made it
    if (cudaHostUnregister(range.data()) != cudaSuccess) (void)cudaGetLastError();
  }

  [[nodiscard]] std::optional<int> numa_node(int device) const override {
    std::array<char, 64> bus_id{};
    if (cudaDeviceGetPCIBusId(bus_id.data(), static_cast<int>(bus_id.size()), device) != cudaSuccess) {
      (void)cudaGetLastError();
      return std::nullopt;
    }
    std::string id(bus_id.data());
    for (char& c : id) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    std::ifstream in(fmt::format("/sys/bus/pci/devices/{}/numa_node", id));
    int node = -1;
    if (!(in >> node) || node < 0) return std::nullopt;  // -1: the platform does not say
    return node;
  }
};

}  // namespace

DevicePinner& cuda_pinner() noexcept {
  static CudaPinner pinner;  // stateless: nothing in it changes
  return pinner;
}

}  // namespace ringload
