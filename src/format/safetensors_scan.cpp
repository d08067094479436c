#include "format/safetensors_scan.hpp"

#include <algorithm>
#include <bit>
#include <clocale>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <utility>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "base/json.hpp"
#include "base/utf8.hpp"

namespace ringload {
namespace {

bool is_digit(unsigned char c) noexcept { return c >= '0' && c <= '9'; }
bool is_json_whitespace(unsigned char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

int hex_value(unsigned char c) noexcept {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

bool is_high_surrogate(std::uint32_t c) noexcept { return c >= 0xD800 && c <= 0xDBFF; }
bool is_low_surrogate(std::uint32_t c) noexcept { return c >= 0xDC00 && c <= 0xDFFF; }

// Reads 4 hex digits the lexer already checked.
std::uint32_t hex4_at(const unsigned char* s) noexcept {
  std::uint32_t code_point = 0;
  for (int i = 0; i < 4; ++i) code_point = code_point * 16 + static_cast<std::uint32_t>(hex_value(s[i]));
  return code_point;
}

void append_utf8(std::string& out, std::uint32_t code_point) {
  if (code_point < 0x80) {
    out.push_back(static_cast<char>(code_point));
  } else if (code_point < 0x800) {
    out.push_back(static_cast<char>(0xC0 | (code_point >> 6)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else if (code_point < 0x10000) {
    out.push_back(static_cast<char>(0xE0 | (code_point >> 12)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  } else {
    out.push_back(static_cast<char>(0xF0 | (code_point >> 18)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 12) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | ((code_point >> 6) & 0x3F)));
    out.push_back(static_cast<char>(0x80 | (code_point & 0x3F)));
  }
}

std::string_view describe(JsonTokenKind kind) noexcept {
  switch (kind) {
    case JsonTokenKind::begin_object: return "'{'";
    case JsonTokenKind::end_object: return "'}'";
    case JsonTokenKind::begin_array: return "'['";
    case JsonTokenKind::end_array: return "']'";
    case JsonTokenKind::colon: return "':'";
    case JsonTokenKind::comma: return "','";
    case JsonTokenKind::string: return "a string";
    case JsonTokenKind::number: return "a number";
    case JsonTokenKind::true_literal: return "true";
    case JsonTokenKind::false_literal: return "false";
    case JsonTokenKind::null_literal: return "null";
    case JsonTokenKind::end_of_input: return "the end of the header";
  }
  return "a token";
}

}  // namespace

std::string_view json_type_name(JsonTokenKind kind) noexcept {
  switch (kind) {
    case JsonTokenKind::begin_object: return "object";
    case JsonTokenKind::begin_array: return "array";
    case JsonTokenKind::string: return "string";
    case JsonTokenKind::number: return "number";
    case JsonTokenKind::true_literal:
    case JsonTokenKind::false_literal: return "boolean";
    case JsonTokenKind::null_literal: return "null";
    default: return "no value";
  }
}

// ---------------------------------------------------------------------------------------------
// JsonKeySet

JsonKeySet::JsonKeySet(std::size_t expected_keys) {
  if (expected_keys > kInlineKeys) rehash(std::bit_ceil(expected_keys * 2));
}

std::optional<std::string_view> JsonKeySet::insert(std::string_view key, bool key_is_stable) {
  if (table_.empty()) {
    for (std::size_t i = 0; i < count_; ++i) {
      if (inline_[i] == key) return std::nullopt;
    }
    if (count_ < kInlineKeys) {
      inline_[count_] = keep(key, key_is_stable);
      return inline_[count_++];
    }
    rehash(kInlineKeys * 4);
  }
  // Half full at most, so probe runs stay short.
  if ((count_ + 1) * 2 > table_.size()) rehash(table_.size() * 2);
  const std::size_t mask = table_.size() - 1;
  std::size_t slot = std::hash<std::string_view>{}(key)&mask;
  while (table_[slot].data() != nullptr) {
    if (table_[slot] == key) return std::nullopt;
    slot = (slot + 1) & mask;
  }
  table_[slot] = keep(key, key_is_stable);
  ++count_;
  return table_[slot];
}

std::string_view JsonKeySet::keep(std::string_view key, bool key_is_stable) {
  if (key_is_stable) return key;
  owned_.emplace_front(key);
  return owned_.front();
}

// Keys already in the set are distinct, so they are placed without comparing.
void JsonKeySet::rehash(std::size_t slot_count) {
  std::vector<std::string_view> old = std::exchange(table_, std::vector<std::string_view>(slot_count));
  const std::size_t mask = slot_count - 1;
  auto place = [&](std::string_view key) {
    std::size_t slot = std::hash<std::string_view>{}(key)&mask;
    while (table_[slot].data() != nullptr) slot = (slot + 1) & mask;
    table_[slot] = key;
  };
  if (old.empty()) {
    for (std::size_t i = 0; i < count_; ++i) place(inline_[i]);
  } else {
    for (std::string_view key : old) {
      if (key.data() != nullptr) place(key);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JsonScanner: token positions follow nlohmann's lexer, which counts a byte as read when it
// looks at it; its error position is one past the last byte read, parse_json reports that
// minus one. So a bad token is reported at its last byte, a bad byte inside a token at that
// byte, and running out of text at text.size().

bool JsonScanner::fail_at(std::size_t pos, std::string message) {
  error_ = make_error(ErrorKind::malformed_header, fmt::format("invalid JSON: {}", message),
                      base_offset_ + std::min(pos, text_.size()));
  return false;
}

bool JsonScanner::unexpected(const JsonToken& token, std::string_view wanted) {
  return fail_at(token.end - 1, fmt::format("expected {}, found {}", wanted, describe(token.kind)));
}

bool JsonScanner::duplicate(std::string_view key) {
  // The offset is the header start, as parse_json's: the DOM never knew where a key sat.
  // dump_json escapes the key: a decoded \u001b must not reach a terminal raw.
  error_ = make_error(ErrorKind::duplicate_name,
                      fmt::format("key {} appears twice in one JSON object of the header",
                                  dump_json(nlohmann::ordered_json(std::string(key)))),
                      base_offset_);
  return false;
}

bool JsonScanner::check_depth(const JsonToken& open, int depth) {
  if (depth <= kMaxJsonDepth) return true;
  return fail_at(open.begin, fmt::format("arrays and objects nest more than {} deep", kMaxJsonDepth));
}

Error JsonScanner::take_error() {
  if (const auto bad = first_invalid_utf8(text_)) {
    return make_error(ErrorKind::malformed_header, "header is not valid UTF-8", base_offset_ + *bad);
  }
  // nlohmann would take a raw NUL for the end of the text, so it is refused wherever it is.
  if (const void* nul = std::memchr(text_.data(), '\0', text_.size()); nul != nullptr) {
    const auto at = static_cast<std::uint64_t>(static_cast<const char*>(nul) - text_.data());
    return make_error(ErrorKind::malformed_header, "NUL byte in JSON text (padding must be spaces)",
                      base_offset_ + at);
  }
  if (error_) return std::move(*error_);
  return make_error(ErrorKind::malformed_header, "invalid JSON", base_offset_);
}

// nlohmann skips one UTF-8 byte-order mark before the first token, and refuses a partial one.
bool JsonScanner::skip_bom() {
  if (text_.empty() || static_cast<unsigned char>(text_[0]) != 0xEF) return true;
  if (text_.size() < 2 || static_cast<unsigned char>(text_[1]) != 0xBB) return fail_at(1, "invalid BOM");
  if (text_.size() < 3 || static_cast<unsigned char>(text_[2]) != 0xBF) return fail_at(2, "invalid BOM");
  pos_ = 3;
  return true;
}

bool JsonScanner::next(JsonToken& token) {
  if (pos_ == 0 && !skip_bom()) return false;
  const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
  const std::size_t n = text_.size();
  std::size_t p = pos_;
  while (p < n && is_json_whitespace(s[p])) ++p;
  token.begin = p;
  token.has_escapes = false;
  token.is_u64 = false;
  if (p >= n) {
    token.kind = JsonTokenKind::end_of_input;
    token.end = n + 1;
    pos_ = n;
    return true;
  }
  auto single = [&](JsonTokenKind kind) {
    token.kind = kind;
    token.end = p + 1;
    pos_ = p + 1;
    return true;
  };
  switch (s[p]) {
    case '{': return single(JsonTokenKind::begin_object);
    case '}': return single(JsonTokenKind::end_object);
    case '[': return single(JsonTokenKind::begin_array);
    case ']': return single(JsonTokenKind::end_array);
    case ':': return single(JsonTokenKind::colon);
    case ',': return single(JsonTokenKind::comma);
    case '"': return lex_string(token);
    case 't': return lex_literal(token, "true", JsonTokenKind::true_literal);
    case 'f': return lex_literal(token, "false", JsonTokenKind::false_literal);
    case 'n': return lex_literal(token, "null", JsonTokenKind::null_literal);
    case '-':
    case '0':
    case '1':
    case '2':
    case '3':
    case '4':
    case '5':
    case '6':
    case '7':
    case '8':
    case '9': return lex_number(token);
    default: return fail_at(p, fmt::format("unexpected byte 0x{:02X} where a JSON token should start", s[p]));
  }
}

bool JsonScanner::lex_literal(JsonToken& token, std::string_view word, JsonTokenKind kind) {
  for (std::size_t i = 1; i < word.size(); ++i) {
    const std::size_t p = token.begin + i;
    if (p >= text_.size() || text_[p] != word[i]) return fail_at(p, fmt::format("expected '{}'", word));
  }
  token.kind = kind;
  token.end = token.begin + word.size();
  pos_ = token.end;
  return true;
}

bool JsonScanner::lex_string(JsonToken& token) {
  const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
  const std::size_t n = text_.size();
  std::size_t p = token.begin + 1;
  unsigned char high_bits = 0;  // any byte >= 0x80: the string needs a UTF-8 check
  for (;;) {
    if (p >= n) return fail_at(n, "a string has no closing quote");
    const unsigned char c = s[p];
    if (c == '"') break;
    if (c == '\\') {
      token.has_escapes = true;
      if (!lex_escape(p)) return false;
      continue;
    }
    if (c < 0x20) return fail_at(p, fmt::format("control character 0x{:02X} in a string must be escaped", c));
    high_bits |= c;
    ++p;
  }
  token.kind = JsonTokenKind::string;
  token.end = p + 1;
  pos_ = token.end;
  if ((high_bits & 0x80) != 0) {
    const std::size_t content = token.begin + 1;
    if (const auto bad = first_invalid_utf8(text_.substr(content, p - content))) {
      return fail_at(content + *bad, "invalid UTF-8 in a string");
    }
  }
  return true;
}

// `pos` is at a backslash; on success it is past the escape.
bool JsonScanner::lex_escape(std::size_t& pos) {
  const std::size_t n = text_.size();
  std::size_t p = pos + 1;
  if (p >= n) return fail_at(n, "a string ends inside an escape");
  switch (text_[p]) {
    case '"':
    case '\\':
    case '/':
    case 'b':
    case 'f':
    case 'n':
    case 'r':
    case 't': pos = p + 1; return true;
    case 'u': break;
    default: return fail_at(p, fmt::format("'\\{}' is not a JSON escape", text_[p] >= 0x20 ? text_[p] : '?'));
  }
  ++p;
  std::uint32_t first = 0;
  if (!lex_hex4(p, first)) return false;
  if (is_high_surrogate(first)) {
    if (p >= n || text_[p] != '\\')
      return fail_at(p, "a high surrogate must be followed by \\u and a low one");
    ++p;
    if (p >= n || text_[p] != 'u')
      return fail_at(p, "a high surrogate must be followed by \\u and a low one");
    ++p;
    std::uint32_t second = 0;
    if (!lex_hex4(p, second)) return false;
    if (!is_low_surrogate(second)) {
      return fail_at(p - 1, "a high surrogate must be followed by a low surrogate (U+DC00..U+DFFF)");
    }
  } else if (is_low_surrogate(first)) {
    return fail_at(p - 1, "a low surrogate (U+DC00..U+DFFF) must follow a high one");
  }
  pos = p;
  return true;
}

bool JsonScanner::lex_hex4(std::size_t& pos, std::uint32_t& code_point) {
  code_point = 0;
  for (int i = 0; i < 4; ++i, ++pos) {
    if (pos >= text_.size()) return fail_at(pos, "'\\u' must be followed by 4 hex digits");
    const int digit = hex_value(static_cast<unsigned char>(text_[pos]));
    if (digit < 0) return fail_at(pos, "'\\u' must be followed by 4 hex digits");
    code_point = code_point * 16 + static_cast<std::uint32_t>(digit);
  }
  return true;
}

bool JsonScanner::lex_number(JsonToken& token) {
  const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
  const std::size_t n = text_.size();
  std::size_t p = token.begin;
  const bool negative = s[p] == '-';
  if (negative) ++p;
  if (p >= n || !is_digit(s[p])) return fail_at(p, "expected a digit after '-'");
  std::uint64_t magnitude = 0;
  bool fits_u64 = true;
  if (s[p] == '0') {
    ++p;  // a leading zero ends the integer part: "01" is the numbers 0 and 1
  } else {
    for (; p < n && is_digit(s[p]); ++p) {
      const auto scaled = checked_mul(magnitude, 10);
      const auto sum = scaled ? checked_add(*scaled, s[p] - '0') : std::nullopt;
      if (!sum) fits_u64 = false;
      magnitude = sum.value_or(0);
    }
  }
  bool is_integer = true;
  if (p < n && s[p] == '.') {
    ++p;
    if (p >= n || !is_digit(s[p])) return fail_at(p, "expected a digit after '.'");
    while (p < n && is_digit(s[p])) ++p;
    is_integer = false;
  }
  if (p < n && (s[p] == 'e' || s[p] == 'E')) {
    ++p;
    if (p < n && (s[p] == '+' || s[p] == '-')) {
      ++p;
      if (p >= n || !is_digit(s[p])) return fail_at(p, "expected a digit after the exponent sign");
    } else if (p >= n || !is_digit(s[p])) {
      return fail_at(p, "expected '+', '-' or a digit after the exponent");
    }
    while (p < n && is_digit(s[p])) ++p;
    is_integer = false;
  }
  token.kind = JsonTokenKind::number;
  token.end = p;
  pos_ = p;
  if (is_integer && fits_u64 && !negative) {
    token.is_u64 = true;
    token.u64 = magnitude;
    return true;
  }
  // nlohmann keeps integers down to -2^63 as integers; anything else becomes a double, and one
  // that overflows (1e999, or 400 digits) is a syntax error at the number's last byte.
  if (is_integer && fits_u64 && magnitude <= (std::uint64_t{1} << 63)) return true;
  if (!is_finite_double(token.begin, p)) return fail_at(p - 1, "number is too large for a double");
  return true;
}

// strtod as nlohmann calls it, on a copy with the locale's decimal point; only numbers that are
// not integers get here, and a header has few.
bool JsonScanner::is_finite_double(std::size_t begin, std::size_t end) const {
  std::string number(text_.substr(begin, end - begin));
  const std::lconv* locale = std::localeconv();
  const char decimal_point =
      locale != nullptr && locale->decimal_point != nullptr ? *locale->decimal_point : '.';
  std::replace(number.begin(), number.end(), '.', decimal_point);
  return std::isfinite(std::strtod(number.c_str(), nullptr));
}

std::string_view JsonScanner::string_value(const JsonToken& token) {
  const std::size_t content = token.begin + 1;
  const std::size_t stop = token.end - 1;  // the closing quote
  if (!token.has_escapes) return text_.substr(content, stop - content);
  const auto* s = reinterpret_cast<const unsigned char*>(text_.data());
  scratch_.clear();
  std::size_t p = content;
  while (p < stop) {
    const void* found = std::memchr(s + p, '\\', stop - p);
    const std::size_t backslash =
        found != nullptr ? static_cast<std::size_t>(static_cast<const unsigned char*>(found) - s) : stop;
    scratch_.append(text_.substr(p, backslash - p));
    if (backslash >= stop) break;
    const unsigned char escape = s[backslash + 1];
    p = backslash + 2;
    switch (escape) {
      case 'b': scratch_.push_back('\b'); break;
      case 'f': scratch_.push_back('\f'); break;
      case 'n': scratch_.push_back('\n'); break;
      case 'r': scratch_.push_back('\r'); break;
      case 't': scratch_.push_back('\t'); break;
      case 'u': {
        std::uint32_t code_point = hex4_at(s + p);
        p += 4;
        if (is_high_surrogate(code_point)) {
          const std::uint32_t low = hex4_at(s + p + 2);  // past the "\u" the lexer checked
          p += 6;
          code_point = 0x10000 + ((code_point - 0xD800) << 10) + (low - 0xDC00);
        }
        append_utf8(scratch_, code_point);
        break;
      }
      default: scratch_.push_back(static_cast<char>(escape)); break;  // " \ /
    }
  }
  return scratch_;
}

bool JsonScanner::skip_value(const JsonToken& first, int depth) {
  switch (first.kind) {
    case JsonTokenKind::string:
    case JsonTokenKind::number:
    case JsonTokenKind::true_literal:
    case JsonTokenKind::false_literal:
    case JsonTokenKind::null_literal: return true;  // the lexer checked them
    case JsonTokenKind::begin_object: {
      if (!check_depth(first, depth)) return false;
      JsonKeySet keys;
      return for_each_member(
          keys, [&](std::string_view, const JsonToken& value) { return skip_value(value, depth + 1); });
    }
    case JsonTokenKind::begin_array: {
      if (!check_depth(first, depth)) return false;
      JsonToken token;
      if (!next(token)) return false;
      if (token.kind == JsonTokenKind::end_array) return true;
      for (;;) {
        if (!skip_value(token, depth + 1)) return false;
        if (!next(token)) return false;
        if (token.kind == JsonTokenKind::end_array) return true;
        if (token.kind != JsonTokenKind::comma) return unexpected(token, "',' or ']' after an array element");
        if (!next(token)) return false;
      }
    }
    default: return unexpected(first, "a value");
  }
}

bool JsonScanner::expect_end() {
  JsonToken token;
  if (!next(token)) return false;
  if (token.kind != JsonTokenKind::end_of_input) return unexpected(token, "the end of the header");
  return true;
}

}  // namespace ringload
