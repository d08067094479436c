// Stands in for the CUDA sink when meson found no CUDA toolkit: the same API, and no device, so
// callers take their CPU path on an error value instead of a missing symbol.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include <fmt/format.h>

#include "ringload/error.hpp"
#include "ringload/sink.hpp"

namespace ringload {
namespace {

constexpr const char* kNoCudaBuild = "this ringload was built without CUDA (no toolkit found at build time)";

}  // namespace

Result<std::unique_ptr<Sink>> make_cuda_sink(const CudaSinkOptions& options) {
  (void)options;
  return make_error(ErrorKind::no_device, kNoCudaBuild);
}

// Host-memory destinations (HostSink, test sinks) read back as in CUDA builds, so tests can
// compare any sink's bytes uniformly; a device destination cannot exist here.
Result<std::vector<std::byte>> copy_to_host(const Sink& sink, std::uint32_t index) {
  const Destination destination = sink.destination(index);
  if (destination.on_device) return make_error(ErrorKind::no_device, kNoCudaBuild);
  if (destination.size == 0) return std::vector<std::byte>();
  if (destination.data == nullptr) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("copy_to_host: sink '{}' keeps no bytes for tensor {}", sink.name(), index));
  }
  const auto* begin = static_cast<const std::byte*>(destination.data);
  return std::vector<std::byte>(begin, begin + destination.size);
}

Result<double> measure_pinned_h2d_gb_per_s(int, std::uint64_t, int) {
  return make_error(ErrorKind::no_device, kNoCudaBuild);
}

bool cuda_sink_compiled() noexcept { return false; }

}  // namespace ringload
