// What a format parser produces: the tensor table of one file, validated. No I/O policy.
#pragma once

#include <cstdint>
#include <vector>

#include "ringload/metadata.hpp"
#include "ringload/model.hpp"

namespace ringload {

struct TensorTable {
  Format format = Format::safetensors;
  std::uint32_t version = 0;        // GGUF 1/2/3, APR 2, safetensors 0 (no version field)
  std::vector<TensorInfo> tensors;  // sorted by offset (ties: by name)
  MetadataValue metadata = MetadataValue::object();
  std::uint64_t data_offset = 0;  // absolute start of the data section
  std::uint64_t alignment = 1;    // alignment every tensor start obeys (absolute offsets)
};

// Parser entry points. `image` is the whole file (or decompressed image); errors carry the
// offset and tensor, and leave `path` empty for the caller to fill.
struct ParseOptions {
  bool verify_checksum = false;  // APR footer CRC
};

[[nodiscard]] Result<TensorTable> parse_safetensors(std::span<const std::byte> image);
[[nodiscard]] Result<TensorTable> parse_gguf(std::span<const std::byte> image);
// An APR v2 image whose header says it is uncompressed (see decompress_apr for the other case).
[[nodiscard]] Result<TensorTable> parse_apr_v2(std::span<const std::byte> image, const ParseOptions& options);
// The parser of `format`: the one place a new format's parser is added.
[[nodiscard]] Result<TensorTable> parse_table(Format format, std::span<const std::byte> image,
                                              const ParseOptions& options);

// Sorts by offset and names the first pair of tensors that share bytes (ErrorKind::overlap).
[[nodiscard]] Result<void> sort_and_check_overlaps(std::vector<TensorInfo>& tensors);

}  // namespace ringload
