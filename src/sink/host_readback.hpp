// What every build's copy_to_host shares: reading a host-memory destination back, and the checks
// on CudaSinkOptions that do not need a device (so CPU-only tests reach them).
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "ringload/sink.hpp"

namespace ringload {

// More streams than copy engines buy nothing; a larger count is a caller's mistake.
inline constexpr std::uint32_t kMaxCudaStreams = 64;

// invalid_argument for streams outside 1..kMaxCudaStreams or a negative device.
[[nodiscard]] Result<void> check_cuda_sink_options(const CudaSinkOptions& options);

// The bytes of a host-memory destination (HostSink, test sinks); invalid_argument for a device one.
[[nodiscard]] Result<std::vector<std::byte>> copy_host_destination(const Sink& sink, std::uint32_t index);

}  // namespace ringload
