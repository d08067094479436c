#include "sink/host_readback.hpp"

#include <fmt/format.h>

namespace ringload {

Result<void> check_cuda_sink_options(const CudaSinkOptions& options) {
  if (options.streams == 0 || options.streams > kMaxCudaStreams) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("CUDA sink: {} streams requested, expected 1..{}", options.streams, kMaxCudaStreams));
  }
  if (options.device < 0) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("CUDA sink: device {} requested, expected 0 or more", options.device));
  }
  return {};
}

Result<std::vector<std::byte>> copy_host_destination(const Sink& sink, std::uint32_t index) {
  const Destination destination = sink.destination(index);
  if (destination.on_device) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("copy_to_host: sink '{}' keeps tensor {} on a device, but is not a CUDA sink",
                    sink.name(), index));
  }
  if (destination.size == 0) return std::vector<std::byte>();
  if (destination.data == nullptr) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("copy_to_host: sink '{}' keeps no bytes for tensor {}", sink.name(), index));
  }
  const auto* begin = static_cast<const std::byte*>(destination.data);
  return std::vector<std::byte>(begin, begin + destination.size);
}

}  // namespace ringload
