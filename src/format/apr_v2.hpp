// APR v2 specifics the Model needs before parsing: whether the payload is compressed, and the
// decompressed image (raw 64-byte header ‖ decompressed payload) when it is.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "ringload/error.hpp"

namespace ringload {

inline constexpr std::uint64_t kAprHeaderSize = 64;
inline constexpr std::uint64_t kAprAlignment = 64;  // every section and tensor start
inline constexpr std::uint8_t kAprMaxRank = 8;

// Flag bits (APR_V2.md §4), for the reader and the writer alike.
namespace apr_flag {
inline constexpr std::uint16_t lz4 = 0x0001;
inline constexpr std::uint16_t zstd = 0x0002;
inline constexpr std::uint16_t encrypted = 0x0004;
inline constexpr std::uint16_t quantized = 0x0020;
inline constexpr std::uint16_t layout_row_major = 0x0400;
inline constexpr std::uint16_t layout_column_major = 0x0800;
}  // namespace apr_flag

// True when `head` (at least the first 8 bytes of an APR file) has the LZ4 or zstd flag set.
[[nodiscard]] bool apr_is_compressed(std::span<const std::byte> head) noexcept;

// Validates the header (magic, version, header CRC, flags) and, for a compressed file, returns
// the decompressed image; nullopt for an uncompressed one (parse the file itself).
[[nodiscard]] Result<std::optional<std::vector<std::byte>>> apr_decompressed_image(
    std::span<const std::byte> file);

}  // namespace ringload
