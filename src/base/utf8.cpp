#include "base/utf8.hpp"

#include <array>

namespace ringload {

namespace {

// Length of the valid UTF-8 sequence starting at s[i] (1 for ASCII), or 0 when s[i] does not
// start one (a stray continuation byte, an overlong or surrogate form, past U+10FFFF, cut short).
std::size_t valid_sequence_length(const unsigned char* s, std::size_t n, std::size_t i) noexcept {
  const unsigned char c = s[i];
  if (c < 0x80) return 1;
  std::size_t len = 0;
  unsigned char lo = 0x80;
  unsigned char hi = 0xBF;
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // > U+10FFFF
  } else {
    return 0;
  }
  if (len > n - i) return 0;
  if (s[i + 1] < lo || s[i + 1] > hi) return 0;
  for (std::size_t k = 2; k < len; ++k) {
    if (s[i + k] < 0x80 || s[i + k] > 0xBF) return 0;
  }
  return len;
}

const unsigned char* bytes_of(std::string_view text) noexcept {
  return reinterpret_cast<const unsigned char*>(text.data());
}

}  // namespace

std::optional<std::uint64_t> first_invalid_utf8(std::string_view text) noexcept {
  const unsigned char* s = bytes_of(text);
  std::size_t i = 0;
  while (i < text.size()) {
    const std::size_t len = valid_sequence_length(s, text.size(), i);
    if (len == 0) return i;
    i += len;
  }
  return std::nullopt;
}

std::string escape_invalid_utf8(std::string_view text) {
  const auto first_bad = first_invalid_utf8(text);
  if (!first_bad) return std::string(text);  // the common case: one copy, no scan per byte
  constexpr std::array<char, 16> kHex = {'0', '1', '2', '3', '4', '5', '6', '7',
                                         '8', '9', 'A', 'B', 'C', 'D', 'E', 'F'};
  const unsigned char* s = bytes_of(text);
  std::string out(text.substr(0, *first_bad));
  out.reserve(text.size() + 16);
  std::size_t i = *first_bad;
  while (i < text.size()) {
    const std::size_t len = valid_sequence_length(s, text.size(), i);
    if (len == 0) {
      out += "\\x";
      out += kHex.at(s[i] >> 4U);
      out += kHex.at(s[i] & 0xFU);
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

std::string_view utf8_prefix(std::string_view text, std::size_t max_bytes) noexcept {
  if (text.size() <= max_bytes) return text;
  std::size_t cut = max_bytes;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0U) == 0x80U) --cut;
  return text.substr(0, cut);
}

}  // namespace ringload
