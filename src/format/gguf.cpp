#include "format/table.hpp"

namespace ringload {

Result<TensorTable> parse_gguf(std::span<const std::byte> image) {
  (void)image;
  return make_error(ErrorKind::unsupported_feature, "gguf parser not written yet");
}

}  // namespace ringload
