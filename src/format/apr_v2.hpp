// APR v2 specifics the Model needs before parsing: whether the payload is compressed, and the
// decompressed image (raw 64-byte header ‖ decompressed payload) when it is.
#pragma once

#include <cstddef>
#include <optional>
#include <span>
#include <vector>

#include "ringload/error.hpp"

namespace ringload {

inline constexpr std::uint64_t kAprHeaderSize = 64;

// True when `head` (at least the first 8 bytes of an APR file) has the LZ4 or zstd flag set.
[[nodiscard]] bool apr_is_compressed(std::span<const std::byte> head) noexcept;

// Validates the header (magic, version, header CRC, flags) and, for a compressed file, returns
// the decompressed image; nullopt for an uncompressed one (parse the file itself).
[[nodiscard]] Result<std::optional<std::vector<std::byte>>> apr_decompressed_image(
    std::span<const std::byte> file);

}  // namespace ringload
