// Stands in for the CUDA sink and pinner when meson found no CUDA toolkit: the same API, and no
// device, so callers take their CPU path on an error value instead of a missing symbol.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "pipeline/device_pinner.hpp"
#include "ringload/error.hpp"
#include "ringload/sink.hpp"
#include "sink/host_readback.hpp"

namespace ringload {
namespace {

constexpr const char* kNoCudaBuild = "this ringload was built without CUDA (no toolkit found at build time)";

class NoCudaPinner final : public DevicePinner {
 public:
  Result<PinResult> pin(std::span<std::byte> /*range*/, int /*device*/) override {
    return make_error(ErrorKind::no_device, kNoCudaBuild);
  }
  void unpin(std::span<std::byte> /*range*/, int /*device*/) noexcept override {}
  [[nodiscard]] std::optional<int> numa_node(int /*device*/) const override { return std::nullopt; }
};

}  // namespace

DevicePinner& cuda_pinner() noexcept {
  static NoCudaPinner pinner;  // stateless
  return pinner;
}

Result<std::unique_ptr<Sink>> make_cuda_sink(const CudaSinkOptions& options) {
  RINGLOAD_TRY_VOID(check_cuda_sink_options(options));
  return make_error(ErrorKind::no_device, kNoCudaBuild);
}

Result<std::vector<std::byte>> copy_to_host(const Sink& sink, std::uint32_t index) {
  if (sink.destination(index).on_device) return make_error(ErrorKind::no_device, kNoCudaBuild);
  return copy_host_destination(sink, index);
}

bool cuda_sink_compiled() noexcept { return false; }

}  // namespace ringload
