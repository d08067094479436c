// Whole-buffer LZ4 (block format, 4-byte LE size prefix, as lz4_flex's
// compress_prepend_size) and zstd (frames, concatenated frames accepted), for compressed APR.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

#include "ringload/error.hpp"

namespace ringload {

// Errors are `decompression` with the offset (relative to `input`) where decoding failed, or
// `out_of_memory`/`invalid_argument` when the declared size exceeds `max_output`.
[[nodiscard]] Result<std::vector<std::byte>> lz4_decompress_size_prepended(std::span<const std::byte> input,
                                                                           std::uint64_t max_output);
[[nodiscard]] Result<std::vector<std::byte>> zstd_decompress(std::span<const std::byte> input,
                                                             std::uint64_t max_output);

[[nodiscard]] Result<std::vector<std::byte>> lz4_compress_size_prepended(std::span<const std::byte> input);

}  // namespace ringload
