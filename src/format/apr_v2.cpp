#include "format/apr_v2.hpp"

#include "format/table.hpp"

namespace ringload {

bool apr_is_compressed(std::span<const std::byte> head) noexcept {
  (void)head;
  return false;
}

Result<std::optional<std::vector<std::byte>>> apr_decompressed_image(std::span<const std::byte> file) {
  (void)file;
  return std::optional<std::vector<std::byte>>{};
}

Result<TensorTable> parse_apr_v2(std::span<const std::byte> image, const ParseOptions& options) {
  (void)image;
  (void)options;
  return make_error(ErrorKind::unsupported_feature, "APR parser not written yet");
}

}  // namespace ringload
