#include "codec/codec.hpp"

namespace ringload {

Result<std::vector<std::byte>> lz4_decompress_size_prepended(std::span<const std::byte>, std::uint64_t) {
  return make_error(ErrorKind::unsupported_feature, "not written yet");
}
Result<std::vector<std::byte>> zstd_decompress(std::span<const std::byte>, std::uint64_t) {
  return make_error(ErrorKind::unsupported_feature, "not written yet");
}
Result<std::vector<std::byte>> lz4_compress_size_prepended(std::span<const std::byte>) {
  return make_error(ErrorKind::unsupported_feature, "not written yet");
}

}  // namespace ringload
