#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace ringload {

// Index of the first byte that does not start or continue a valid UTF-8 sequence (overlongs,
// surrogates and code points past U+10FFFF are invalid); nullopt when the whole text is valid.
[[nodiscard]] std::optional<std::uint64_t> first_invalid_utf8(std::string_view text) noexcept;

}  // namespace ringload
