#include "format/table.hpp"

#include <algorithm>

#include <fmt/format.h>

namespace ringload {

Result<TensorTable> parse_table(Format format, std::span<const std::byte> image,
                                const ParseOptions& options) {
  switch (format) {
    case Format::safetensors: return parse_safetensors(image);
    case Format::gguf: return parse_gguf(image);
    case Format::apr: return parse_apr_v2(image, options);
  }
  return make_error(ErrorKind::bad_magic, "unknown format");
}

Result<void> sort_and_check_overlaps(std::vector<TensorInfo>& tensors) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    return a.offset != b.offset ? a.offset < b.offset : a.name < b.name;
  });
  for (std::size_t i = 1; i < tensors.size(); ++i) {
    const TensorInfo& prev = tensors[i - 1];
    const TensorInfo& cur = tensors[i];
    // Empty tensors occupy no bytes and may share an offset with anything.
    if (prev.size == 0 || cur.size == 0) continue;
    if (cur.offset < prev.offset + prev.size) {
      return make_error(ErrorKind::overlap,
                        fmt::format("starts inside tensor '{}' (bytes {}..{}); tensors must not share bytes",
                                    prev.name, prev.offset, prev.offset + prev.size),
                        cur.offset, cur.name);
    }
  }
  return {};
}

}  // namespace ringload
