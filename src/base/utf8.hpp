#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringload {

// Index of the first byte that does not start or continue a valid UTF-8 sequence (overlongs,
// surrogates and code points past U+10FFFF are invalid); nullopt when the whole text is valid.
[[nodiscard]] std::optional<std::uint64_t> first_invalid_utf8(std::string_view text) noexcept;

// `text` with every byte that is not part of a valid UTF-8 sequence written as `\xNN` (upper-case
// hex); valid sequences, backslashes included, are kept as they are. Error text quotes file bytes
// (names, JSON parser excerpts), and a terminal, a log pipeline or a JSON encoder must never see
// invalid UTF-8. Escaping twice changes nothing: the output is valid UTF-8.
[[nodiscard]] std::string escape_invalid_utf8(std::string_view text);

// The longest prefix of `text` of at most `max_bytes` that does not cut a UTF-8 sequence in two
// (a message squeezed into a fixed-size record stays valid UTF-8 if it was).
[[nodiscard]] std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) noexcept;

}  // namespace ringload
