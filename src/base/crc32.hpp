// CRC-32 (IEEE 802.3 / zlib: reflected 0xEDB88320, init and final XOR 0xFFFFFFFF), as APR v2's
// header and footer checksums use. Incremental: crc32_update(crc32_update(0, a), b) == crc32(a‖b).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace ringload {

[[nodiscard]] std::uint32_t crc32_update(std::uint32_t crc, std::span<const std::byte> bytes) noexcept;
[[nodiscard]] inline std::uint32_t crc32(std::span<const std::byte> bytes) noexcept {
  return crc32_update(0, bytes);
}

}  // namespace ringload
