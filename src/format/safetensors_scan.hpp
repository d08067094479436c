// A strict JSON (RFC 8259) tokenizer for the safetensors header, so that the parser can decode
// the header straight into tensors instead of building a DOM first (the DOM cost 10x the rest of
// Model::load). Its errors are the ones parse_json gave, kind and offset: first_invalid_utf8's bad
// byte, then the first raw NUL, then nlohmann's position for a syntax error (the last byte of the
// offending token, or one past the text when it ran out), duplicate_name at the text start for a
// repeated key at any depth. New: nesting deeper than kMaxJsonDepth is malformed_header at the
// bracket that goes too deep, so hostile headers cannot recurse without bound.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <forward_list>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "ringload/error.hpp"

namespace ringload {

constexpr int kMaxJsonDepth = 128;  // the outermost object or array is depth 1

enum class JsonTokenKind : std::uint8_t {
  begin_object,
  end_object,
  begin_array,
  end_array,
  colon,
  comma,
  string,
  number,
  true_literal,
  false_literal,
  null_literal,
  end_of_input,
};

struct JsonToken {
  JsonTokenKind kind = JsonTokenKind::end_of_input;
  bool has_escapes = false;  // string: the value differs from the raw text between the quotes
  bool is_u64 = false;       // number: a non-negative integer below 2^64 (nlohmann's number_unsigned)
  std::uint64_t u64 = 0;     // its value when is_u64
  std::size_t begin = 0;     // first byte in the text
  std::size_t end = 0;       // one past the last byte; end of input: one past the text's end
};

// nlohmann's type_name() for the value a token starts ("object", "number", ...).
[[nodiscard]] std::string_view json_type_name(JsonTokenKind kind) noexcept;

// The keys of one JSON object. Small objects (every tensor entry) are scanned in place; past
// kInlineKeys, or when expected_keys says so up front, an open-addressing table keeps a header
// with 20,000 tensors linear without allocating a node per key.
class JsonKeySet {
 public:
  explicit JsonKeySet(std::size_t expected_keys = 0);

  // The key as a view valid for this set's lifetime (copied when it was not stable, i.e. decoded
  // into scratch); nullopt when the object already had it.
  [[nodiscard]] std::optional<std::string_view> insert(std::string_view key, bool key_is_stable);

 private:
  static constexpr std::size_t kInlineKeys = 8;
  std::string_view keep(std::string_view key, bool key_is_stable);
  void rehash(std::size_t slot_count);
  bool insert_into_table(std::string_view key);

  std::array<std::string_view, kInlineKeys> inline_{};
  std::vector<std::string_view> table_;  // power-of-two slots; data() == nullptr marks a free one
  std::size_t count_ = 0;
  std::forward_list<std::string> owned_;  // decoded keys (they had escapes); nodes never move
};

class JsonScanner {
 public:
  // `text` starts at absolute offset `base_offset`; errors carry absolute offsets.
  JsonScanner(std::string_view text, std::uint64_t base_offset) : text_(text), base_offset_(base_offset) {}

  // The next token; false on a syntax error (see error()).
  [[nodiscard]] bool next(JsonToken& token);

  // A string token's value: a view into the text, or into scratch (valid until the next call)
  // when it had escapes.
  [[nodiscard]] std::string_view string_value(const JsonToken& token);

  // The raw text from `begin` to just past the last token read, for messages.
  [[nodiscard]] std::string_view raw_since(std::size_t begin) const {
    return text_.substr(begin, pos_ - begin);
  }

  // Validates the whole value that starts with `first` (already read) at nesting `depth`.
  [[nodiscard]] bool skip_value(const JsonToken& first, int depth);

  // After the top-level value: only whitespace may follow.
  [[nodiscard]] bool expect_end();

  // Fails unless a container opened by `open` at `depth` is within kMaxJsonDepth.
  [[nodiscard]] bool check_depth(const JsonToken& open, int depth);

  // Records an unexpected token (where `wanted` was expected); always false.
  bool unexpected(const JsonToken& token, std::string_view wanted);

  // After a '{': reads each member's key, rejecting one `keys` has seen, and hands the stable
  // key and the first token of its value to on_member(key, token), which must consume the
  // whole value and return false on error.
  template <class OnMember>
  [[nodiscard]] bool for_each_member(JsonKeySet& keys, OnMember&& on_member) {
    JsonToken token;
    if (!next(token)) return false;
    if (token.kind == JsonTokenKind::end_object) return true;
    for (;;) {
      if (token.kind != JsonTokenKind::string) return unexpected(token, "a string key");
      const std::string_view decoded = string_value(token);
      const auto key = keys.insert(decoded, !token.has_escapes);
      if (!key) return duplicate(decoded);
      if (!next(token)) return false;
      if (token.kind != JsonTokenKind::colon) return unexpected(token, "':' after an object key");
      if (!next(token)) return false;
      if (!on_member(*key, token)) return false;
      if (!next(token)) return false;
      if (token.kind == JsonTokenKind::end_object) return true;
      if (token.kind != JsonTokenKind::comma) return unexpected(token, "',' or '}' after an object member");
      if (!next(token)) return false;
    }
  }

  // The error after a false return: invalid UTF-8 or a raw NUL anywhere in the text take
  // precedence over the syntax error found, as they did when checked before parsing.
  [[nodiscard]] Error take_error();

 private:
  bool lex_string(JsonToken& token);
  bool lex_escape(std::size_t& pos);
  bool lex_hex4(std::size_t& pos, std::uint32_t& code_point);
  bool lex_number(JsonToken& token);
  bool lex_literal(JsonToken& token, std::string_view word, JsonTokenKind kind);
  bool skip_bom();
  bool is_finite_double(std::size_t begin, std::size_t end) const;
  bool fail_at(std::size_t pos, std::string message);
  bool duplicate(std::string_view key);

  std::string_view text_;
  std::uint64_t base_offset_;
  std::size_t pos_ = 0;
  std::string scratch_;
  std::optional<Error> error_;
};

}  // namespace ringload
