// Placeholder until the CUDA sink lands (branch cuda).
#include "ringload/sink.hpp"

namespace ringload {
Result<std::unique_ptr<Sink>> make_cuda_sink(const CudaSinkOptions&) {
  return make_error(ErrorKind::no_device, "this ringload was built without CUDA");
}
Result<std::vector<std::byte>> copy_to_host(const Sink&, std::uint32_t) {
  return make_error(ErrorKind::no_device, "this ringload was built without CUDA");
}
bool cuda_sink_compiled() noexcept { return false; }
}  // namespace ringload
