// The library's one JSON parser: simdjson's On-Demand API (bench/json_bench.cpp measured it 4x
// faster than nlohmann's SAX parser on safetensors headers), plus what a strict reader of
// hostile files needs on top of it:
// - every value is read to its last scalar: On-Demand checks only what a caller reads;
// - a repeated key is found at any depth;
// - nesting deeper than kMaxJsonDepth is refused where it starts, without recursing through it;
// - only whitespace may follow the top-level value; one UTF-8 byte-order mark may precede it;
// - every error carries the absolute file offset of what is wrong: the token at fault, the key of
//   a repeated member, the first byte that is not UTF-8, a raw NUL or control byte, or the
//   opening quote of a string that never closes.
// Callers that decode a format's structure straight from the text (the safetensors header) walk
// it with for_each_member and read(); the rest take read_json's MetadataValue (base/json.hpp).
#pragma once

#include <simdjson.h>

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/json.hpp"
#include "ringload/error.hpp"
#include "ringload/metadata.hpp"

namespace ringload {

constexpr int kMaxJsonDepth = 128;  // the outermost object or array is depth 1

// The keys of one JSON object, as views that live as long as the JsonReader that decoded them.
// Small objects (every tensor entry) are scanned in place; past kInlineKeys, or when
// expected_keys says so up front, an open-addressing table keeps 20,000 tensor names linear.
class JsonKeySet {
 public:
  explicit JsonKeySet(std::size_t expected_keys = 0);

  // False when the object already had the key.
  [[nodiscard]] bool insert(std::string_view key);

 private:
  static constexpr std::size_t kInlineKeys = 8;
  struct Slot {
    std::string_view key;  // data() == nullptr marks a free slot
    std::size_t hash = 0;
  };
  void rehash(std::size_t slot_count);

  std::array<std::string_view, kInlineKeys> inline_{};
  std::vector<Slot> table_;  // power-of-two slots
  std::size_t count_ = 0;
};

// One object member as for_each_member hands it over.
struct JsonMember {
  std::string_view key;             // decoded; valid as long as the reader
  std::uint64_t key_at = 0;         // absolute offset of the key's opening quote
  bool repeated = false;            // the object had the key already (duplicates allowed)
  simdjson::ondemand::value value;  // not yet read: the callback must read it whole
};

class JsonReader {
 public:
  using Value = simdjson::ondemand::value;
  using Type = simdjson::ondemand::json_type;

  // `text` starts at absolute file offset `base_offset`. It is copied (with the padding simdjson
  // reads past the end); decoded strings live in the reader, raw_since's views in `text`.
  JsonReader(std::string_view text, std::uint64_t base_offset);
  JsonReader(const JsonReader&) = delete;
  JsonReader& operator=(const JsonReader&) = delete;
  ~JsonReader();

  // The top-level value, to be read whole and then followed by finish(). Call once.
  [[nodiscard]] Result<Value> root();
  // Fails unless only whitespace follows the top-level value.
  [[nodiscard]] Result<void> finish();

  // The kind of a value, without reading it; a syntax error where it starts fails.
  [[nodiscard]] Result<Type> type_of(Value& value) {
    Type type{};
    if (const auto code = value.type().get(type); code != simdjson::SUCCESS) return type_error(code, value);
    return type;
  }
  // How messages name a kind: "object", "array", "string", "number", "boolean", "null".
  [[nodiscard]] static std::string_view type_name(Type type) noexcept;

  // The whole value as a MetadataValue, nesting `depth` (the top-level value is 1).
  [[nodiscard]] Result<MetadataValue> read(Value& value, int depth, const JsonParseOptions& options);
  // Checks the whole value as read() does, keeping nothing.
  [[nodiscard]] Result<void> skip(Value& value, int depth);
  // A string value's decoded text, valid as long as the reader (type_of said string).
  [[nodiscard]] Result<std::string_view> read_string(Value& value);
  // A non-negative integer without sign, fraction or exponent below 2^64; nullopt for any other
  // value, which is still checked whole.
  [[nodiscard]] Result<std::optional<std::uint64_t>> read_u64(Value& value, int depth);

  // Calls on_member(JsonMember&) -> Result<void> for each member of the object `value` (at
  // nesting `depth`) in text order. `keys` (a JsonKeySet, or anything with its insert) sees
  // every key: a repeated one fails as duplicate_name at its quote, or is marked `repeated` when
  // duplicates are allowed.
  template <class KeySet, class OnMember>
  [[nodiscard]] Result<void> for_each_member(Value& value, int depth, KeySet& keys, bool reject_duplicates,
                                             OnMember&& on_member);
  // Calls on_element(Value&) -> Result<void> for each element of the array `value`.
  template <class OnElement>
  [[nodiscard]] Result<void> for_each_element(Value& value, int depth, OnElement&& on_element);

  // Absolute offset of a value that has not been read yet.
  [[nodiscard]] std::uint64_t offset_of(Value& value) const {
    return offset_of(value.raw_json_token().data());
  }
  // The text from absolute offset `at` to the end of the last value read, for messages.
  [[nodiscard]] std::string_view raw_since(std::uint64_t at);

 private:
  [[nodiscard]] std::uint64_t offset_of(const char* in_copy) const {
    // One '[' precedes the text in the copy; our closing ']' maps to one past the text's end.
    const auto at = static_cast<std::uint64_t>(in_copy - copy_.data());
    return base_offset_ + std::clamp<std::uint64_t>(at, 1, text_.size() + 1) - 1;
  }
  [[nodiscard]] Error type_error(simdjson::error_code code, Value& value) const;
  [[nodiscard]] std::uint64_t cursor();
  [[nodiscard]] std::optional<Error> nul_error() const;
  [[nodiscard]] std::string_view found_at(std::uint64_t at) const;
  [[nodiscard]] Error error_at(simdjson::error_code code, std::uint64_t at,
                               std::string_view expected = {}) const;
  [[nodiscard]] Error stage1_error(simdjson::error_code code) const;
  [[nodiscard]] Error at_cursor(simdjson::error_code code, std::string_view expected = {});
  [[nodiscard]] Error duplicate(std::string_view key, std::uint64_t at) const;
  [[nodiscard]] Result<void> check_depth(Value& value, int depth) const {
    if (depth <= kMaxJsonDepth) return {};
    return too_deep(value);
  }
  [[nodiscard]] Error too_deep(Value& value) const;
  [[nodiscard]] Result<simdjson::ondemand::object> start_object(Value& value, int depth);
  [[nodiscard]] Result<simdjson::ondemand::array> start_array(Value& value, int depth);
  [[nodiscard]] Result<MetadataValue> read_number(Value& value);
  [[nodiscard]] Result<MetadataValue> read_array(Value& value, int depth, const JsonParseOptions& options);
  [[nodiscard]] Result<MetadataValue> read_object(Value& value, int depth, const JsonParseOptions& options);

  std::string_view text_;         // without a byte-order mark
  std::uint64_t base_offset_;     // of text_
  simdjson::padded_string copy_;  // "[" + text_ + "]": see the constructor
  simdjson::ondemand::parser parser_;
  simdjson::ondemand::document document_;
  simdjson::ondemand::array outer_;
};

template <class KeySet, class OnMember>
Result<void> JsonReader::for_each_member(Value& value, int depth, KeySet& keys, bool reject_duplicates,
                                         OnMember&& on_member) {
  simdjson::ondemand::object object = RINGLOAD_TRY(start_object(value, depth));
  for (auto field : object) {
    if (field.error() != simdjson::SUCCESS)
      return at_cursor(field.error(), R"(',' or '}', or a "key": value)");
    JsonMember member;
    // The raw key first: unescaped_key() consumes it.
    member.key_at = offset_of(field.key().value_unsafe().raw() - 1);
    if (const auto code = field.unescaped_key().get(member.key); code != simdjson::SUCCESS) {
      return error_at(code, member.key_at);
    }
    if (!keys.insert(member.key)) {
      if (reject_duplicates) return duplicate(member.key, member.key_at);
      member.repeated = true;
    }
    if (const auto code = field.value().get(member.value); code != simdjson::SUCCESS) {
      return at_cursor(code, "':' and a value");
    }
    RINGLOAD_TRY_VOID(on_member(member));
  }
  return {};
}

template <class OnElement>
Result<void> JsonReader::for_each_element(Value& value, int depth, OnElement&& on_element) {
  simdjson::ondemand::array array = RINGLOAD_TRY(start_array(value, depth));
  for (auto element : array) {
    Value item;
    if (const auto code = element.get(item); code != simdjson::SUCCESS) {
      return at_cursor(code, "',' or ']', or a value");
    }
    RINGLOAD_TRY_VOID(on_element(item));
  }
  return {};
}

}  // namespace ringload
