#include "base/json_reader.hpp"

#include <algorithm>
#include <bit>
#include <cstring>
#include <functional>
#include <string>
#include <utility>

#include <fmt/format.h>

#include "base/json.hpp"
#include "base/utf8.hpp"

namespace ringload {
namespace {

namespace od = simdjson::ondemand;

constexpr std::string_view kByteOrderMark = "\xEF\xBB\xBF";

bool is_json_whitespace(char c) noexcept { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view describe(simdjson::error_code code) noexcept {
  switch (code) {
    case simdjson::TAPE_ERROR: return "a ',', ':', bracket or brace is missing or out of place";
    case simdjson::INCORRECT_TYPE: return "this is not a JSON value";
    case simdjson::NUMBER_ERROR: return "a malformed number, or one a double cannot hold";
    case simdjson::STRING_ERROR: return "an invalid escape in a string (\\u escapes must pair surrogates)";
    case simdjson::T_ATOM_ERROR:
    case simdjson::F_ATOM_ERROR:
    case simdjson::N_ATOM_ERROR: return "not one of the literals true, false and null";
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT: return "the text ends inside an object or array";
    default: return simdjson::error_message(code);
  }
}

// Up to 16 bytes either side of text[at], for a message: bytes that are not UTF-8 and control
// characters as \xNN, so the text quoted stays inert on a terminal and valid in a JSON log.
std::string excerpt_around(std::string_view text, std::uint64_t at) {
  constexpr std::uint64_t kSide = 16;
  const std::uint64_t begin = at > kSide ? at - kSide : 0;
  const std::string escaped = escape_invalid_utf8(text.substr(begin, 2 * kSide));
  std::string out;
  for (const char c : escaped) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte == 0x7F) {
      out += fmt::format("\\x{:02X}", byte);
    } else {
      out += c;
    }
  }
  return out;
}

// Where the first string problem is that simdjson's first pass reports without a position: a
// raw control byte inside a string, or the opening quote of a string that never closes.
std::pair<std::size_t, std::string> locate_string_problem(std::string_view text) {
  bool in_string = false;
  std::size_t opened = 0;
  for (std::size_t i = 0; i < text.size(); ++i) {
    const auto c = static_cast<unsigned char>(text[i]);
    if (!in_string) {
      if (c == '"') in_string = true, opened = i;
      continue;
    }
    if (c < 0x20) return {i, fmt::format("control character 0x{:02X} in a string must be escaped", c)};
    if (c == '"') in_string = false;
    if (c == '\\' && i + 1 < text.size() && static_cast<unsigned char>(text[i + 1]) >= 0x20) ++i;
  }
  if (in_string) return {opened, "a string opened here is never closed"};
  return {0, "a string is malformed"};
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// JsonKeySet

JsonKeySet::JsonKeySet(std::size_t expected_keys) {
  if (expected_keys > kInlineKeys) rehash(std::bit_ceil(expected_keys * 2));
}

bool JsonKeySet::insert(std::string_view key) {
  if (table_.empty()) {
    for (std::size_t i = 0; i < count_; ++i) {
      if (inline_[i] == key) return false;
    }
    if (count_ < kInlineKeys) {
      inline_[count_++] = key;
      return true;
    }
    rehash(kInlineKeys * 4);
  }
  // Half full at most, so probe runs stay short.
  if ((count_ + 1) * 2 > table_.size()) rehash(table_.size() * 2);
  const std::size_t hash = std::hash<std::string_view>{}(key);
  const std::size_t mask = table_.size() - 1;
  std::size_t slot = hash & mask;
  // The stored hash settles almost every probe without reading the other key's bytes, which a
  // 20,000-name header would fetch from all over the reader's string buffer.
  while (table_[slot].key.data() != nullptr) {
    if (table_[slot].hash == hash && table_[slot].key == key) return false;
    slot = (slot + 1) & mask;
  }
  // A key decoded into the reader's buffer has a non-null data() even when empty; an empty view
  // from elsewhere may not, and null marks a free slot, so it gets a literal's.
  static constexpr std::string_view kEmptyKey = "";
  table_[slot] = Slot{key.data() != nullptr ? key : kEmptyKey, hash};
  ++count_;
  return true;
}

// Keys already in the set are distinct, so they are placed without comparing.
void JsonKeySet::rehash(std::size_t slot_count) {
  std::vector<Slot> old = std::exchange(table_, std::vector<Slot>(slot_count));
  const std::size_t mask = slot_count - 1;
  auto place = [&](Slot entry) {
    std::size_t slot = entry.hash & mask;
    while (table_[slot].key.data() != nullptr) slot = (slot + 1) & mask;
    table_[slot] = entry;
  };
  if (old.empty()) {
    for (std::size_t i = 0; i < count_; ++i)
      place(Slot{inline_[i], std::hash<std::string_view>{}(inline_[i])});
  } else {
    for (const Slot& entry : old) {
      if (entry.key.data() != nullptr) place(entry);
    }
  }
}

// ---------------------------------------------------------------------------------------------
// JsonReader

JsonReader::JsonReader(std::string_view text, std::uint64_t base_offset)
    : text_(text), base_offset_(base_offset) {
  // nlohmann, the parser before this one, skipped a byte-order mark; files that had one still load.
  if (text_.starts_with(kByteOrderMark)) {
    text_.remove_prefix(kByteOrderMark.size());
    base_offset_ += kByteOrderMark.size();
  }
  // The text goes inside an array of our own. On-Demand checks that a top-level object ends with
  // the text's last '}' and reports a truncated object or trailing bytes alike, at the start;
  // inside "[...]" the object is an element like any other, so a truncated one fails where the
  // text runs out (at our ']') and finish() finds trailing tokens where they are.
  copy_ = simdjson::padded_string(text_.size() + 2);
  if (copy_.data() != nullptr) {
    copy_.data()[0] = '[';
    std::memcpy(copy_.data() + 1, text_.data(), text_.size());
    copy_.data()[text_.size() + 1] = ']';
  }
}

JsonReader::~JsonReader() = default;

// A raw NUL makes simdjson fail somewhere, maybe far past it; it is reported instead, wherever
// it is, because writers have padded headers with NULs and the message says what to do.
std::optional<Error> JsonReader::nul_error() const {
  const void* nul = std::memchr(text_.data(), '\0', text_.size());
  if (nul == nullptr) return std::nullopt;
  const auto at = static_cast<std::uint64_t>(static_cast<const char*>(nul) - text_.data());
  return make_error(ErrorKind::malformed_header, "NUL byte in JSON text (padding must be spaces)",
                    base_offset_ + at);
}

// What starts at absolute offset `at`, for "expected X, found Y".
std::string_view JsonReader::found_at(std::uint64_t at) const {
  if (at >= base_offset_ + text_.size()) return "the end of the text";
  switch (text_[at - base_offset_]) {
    case '{': return "'{'";
    case '}': return "'}'";
    case '[': return "'['";
    case ']': return "']'";
    case ':': return "':'";
    case ',': return "','";
    case '"': return "a string";
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
    case '9': return "a number";
    default: return "something that is not JSON";
  }
}

Error JsonReader::error_at(simdjson::error_code code, std::uint64_t at, std::string_view expected) const {
  if (auto nul = nul_error()) return std::move(*nul);
  // A misplaced token: say what belonged there. Anything else is wrong inside its token.
  const bool misplaced = code == simdjson::TAPE_ERROR || code == simdjson::INCORRECT_TYPE ||
                         code == simdjson::INCOMPLETE_ARRAY_OR_OBJECT;
  const std::string what = misplaced && !expected.empty()
                               ? fmt::format("expected {}, found {}", expected, found_at(at))
                               : std::string(describe(code));
  return make_error(ErrorKind::malformed_header, fmt::format("invalid JSON: {}", what), at);
}

// Where the document's iterator stands: the token it failed on, or the text's end.
std::uint64_t JsonReader::cursor() {
  const auto location = document_.current_location();
  return location.error() == simdjson::SUCCESS ? offset_of(location.value_unsafe())
                                               : base_offset_ + text_.size();
}

Error JsonReader::at_cursor(simdjson::error_code code, std::string_view expected) {
  return error_at(code, cursor(), expected);
}

std::string_view JsonReader::raw_since(std::uint64_t at) {
  const auto begin = static_cast<std::size_t>(at - base_offset_);
  std::size_t end = static_cast<std::size_t>(cursor() - base_offset_);
  while (end > begin && is_json_whitespace(text_[end - 1])) --end;
  return text_.substr(begin, end - begin);
}

// Errors of simdjson's first pass over the whole text, which carry no position.
Error JsonReader::stage1_error(simdjson::error_code code) const {
  if (const auto bad = first_invalid_utf8(text_)) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("JSON text is not valid UTF-8: the bytes around it are \"{}\"",
                                  excerpt_around(text_, *bad)),
                      base_offset_ + *bad);
  }
  if (auto nul = nul_error()) return std::move(*nul);
  switch (code) {
    case simdjson::UNESCAPED_CHARS:
    case simdjson::UNCLOSED_STRING: {
      auto [at, what] = locate_string_problem(text_);
      return make_error(ErrorKind::malformed_header, fmt::format("invalid JSON: {}", what),
                        base_offset_ + at);
    }
    case simdjson::MEMALLOC:
    case simdjson::CAPACITY:
      return make_error(ErrorKind::out_of_memory,
                        fmt::format("no memory to parse {} bytes of JSON ({})", text_.size(),
                                    simdjson::error_message(code)),
                        base_offset_);
    default: return error_at(code, base_offset_);
  }
}

Error JsonReader::duplicate(std::string_view key, std::uint64_t at) const {
  // The key is escaped: a decoded \u001b must not reach a terminal raw.
  return make_error(
      ErrorKind::duplicate_name,
      fmt::format("key {} appears twice in one JSON object", dump_json(nlohmann::ordered_json(key))), at);
}

Result<JsonReader::Value> JsonReader::root() {
  if (copy_.data() == nullptr) {
    return make_error(ErrorKind::out_of_memory,
                      fmt::format("no memory to copy {} bytes of JSON", text_.size()), base_offset_);
  }
  if (const auto code = parser_.iterate(copy_).get(document_); code != simdjson::SUCCESS)
    return stage1_error(code);
  if (const auto code = document_.get_array().get(outer_); code != simdjson::SUCCESS)
    return stage1_error(code);
  for (auto element : outer_) {
    Value value;
    if (const auto code = element.get(value); code != simdjson::SUCCESS) return at_cursor(code, "a value");
    return value;  // the rest of our array is finish()'s
  }
  // Nothing, or a stray ']' our '[' took for the end of its array.
  const auto start = std::find_if_not(text_.begin(), text_.end(), is_json_whitespace);
  return make_error(ErrorKind::malformed_header,
                    start == text_.end() ? "no JSON value: the text is empty or only whitespace"
                                         : "invalid JSON: expected a value here",
                    base_offset_ + static_cast<std::uint64_t>(start - text_.begin()));
}

Result<void> JsonReader::finish() {
  // Past the top-level value the next token must be our closing ']'.
  const auto location = document_.current_location();
  if (location.error() != simdjson::SUCCESS) {
    // The text consumed our ']': it left an array open.
    if (auto nul = nul_error()) return std::move(*nul);
    return make_error(ErrorKind::malformed_header, "invalid JSON: the text ends inside an array or object",
                      base_offset_ + text_.size());
  }
  const std::uint64_t at = offset_of(location.value_unsafe());
  if (at == base_offset_ + text_.size()) return {};
  if (auto nul = nul_error()) return std::move(*nul);
  return make_error(ErrorKind::malformed_header,
                    "invalid JSON: only whitespace may follow the top-level value", at);
}

Error JsonReader::too_deep(Value& value) const {
  return make_error(ErrorKind::malformed_header,
                    fmt::format("invalid JSON: arrays and objects nest more than {} deep", kMaxJsonDepth),
                    offset_of(value));
}

Error JsonReader::type_error(simdjson::error_code code, Value& value) const {
  return error_at(code, offset_of(value), "a value");
}

std::string_view JsonReader::type_name(Type type) noexcept {
  switch (type) {
    case Type::object: return "object";
    case Type::array: return "array";
    case Type::string: return "string";
    case Type::number: return "number";
    case Type::boolean: return "boolean";
    case Type::null: return "null";
  }
  return "no value";
}

// A failed get_object() or get_array() leaves the value where it starts, so the error can
// still name its offset.
Result<od::object> JsonReader::start_object(Value& value, int depth) {
  RINGLOAD_TRY_VOID(check_depth(value, depth));
  od::object object;
  if (const auto code = value.get_object().get(object); code != simdjson::SUCCESS) {
    return error_at(code, offset_of(value), "an object");
  }
  return object;
}

Result<od::array> JsonReader::start_array(Value& value, int depth) {
  RINGLOAD_TRY_VOID(check_depth(value, depth));
  od::array array;
  if (const auto code = value.get_array().get(array); code != simdjson::SUCCESS) {
    return error_at(code, offset_of(value), "an array");
  }
  return array;
}

// nlohmann's number kinds, which inspect --json prints: an integer without a sign is unsigned,
// one with a '-' signed, anything else (or too long for 64 bits) a double.
Result<MetadataValue> JsonReader::read_number(Value& value) {
  const std::uint64_t at = offset_of(value);
  // A failed get_* leaves the value unread, so the next kind can be tried.
  std::uint64_t u64 = 0;
  if (value.get_uint64().get(u64) == simdjson::SUCCESS) return MetadataValue(u64);
  std::int64_t i64 = 0;
  if (value.get_int64().get(i64) == simdjson::SUCCESS) return MetadataValue(i64);
  double f64 = 0;
  if (const auto code = value.get_double().get(f64); code != simdjson::SUCCESS) return error_at(code, at);
  return MetadataValue(f64);
}

Result<MetadataValue> JsonReader::read_array(Value& value, int depth, const JsonParseOptions& options) {
  MetadataValue::Array elements;
  RINGLOAD_TRY_VOID(for_each_element(value, depth, [&](Value& element) -> Result<void> {
    elements.push_back(RINGLOAD_TRY(read(element, depth + 1, options)));
    return {};
  }));
  return MetadataValue(std::move(elements));
}

Result<MetadataValue> JsonReader::read_object(Value& value, int depth, const JsonParseOptions& options) {
  MetadataValue::Object members;
  JsonKeySet keys;
  RINGLOAD_TRY_VOID(for_each_member(
      value, depth, keys, options.reject_duplicate_keys, [&](JsonMember& member) -> Result<void> {
        MetadataValue item = RINGLOAD_TRY(read(member.value, depth + 1, options));
        if (!member.repeated) {
          members.push_back({std::string(member.key), std::move(item)});
          return {};
        }
        // Last one wins, where the first stood (rare: a linear search).
        for (MetadataMember& earlier : members) {
          if (earlier.key == member.key) {
            earlier.value = std::move(item);
            break;
          }
        }
        return {};
      }));
  return MetadataValue(std::move(members));
}

Result<MetadataValue> JsonReader::read(Value& value, int depth, const JsonParseOptions& options) {
  const std::uint64_t at = offset_of(value);
  switch (RINGLOAD_TRY(type_of(value))) {
    case Type::object: return read_object(value, depth, options);
    case Type::array: return read_array(value, depth, options);
    case Type::number: return read_number(value);
    case Type::string: return MetadataValue(RINGLOAD_TRY(read_string(value)));
    case Type::boolean: {
      bool flag = false;
      if (const auto code = value.get_bool().get(flag); code != simdjson::SUCCESS) {
        return error_at(simdjson::T_ATOM_ERROR, at);
      }
      return MetadataValue(flag);
    }
    case Type::null: {
      bool null = false;
      if (value.is_null().get(null) != simdjson::SUCCESS || !null)
        return error_at(simdjson::N_ATOM_ERROR, at);
      return MetadataValue();
    }
  }
  return error_at(simdjson::INCORRECT_TYPE, at, "a value");
}

Result<void> JsonReader::skip(Value& value, int depth) {
  // Values skipped in a well-formed header are few and small (unknown entry fields); building
  // and dropping them keeps one code path for what "checked whole" means.
  RINGLOAD_TRY_VOID(read(value, depth, JsonParseOptions{}));
  return {};
}

Result<std::optional<std::uint64_t>> JsonReader::read_u64(Value& value, int depth) {
  std::uint64_t number = 0;
  if (value.get_uint64().get(number) == simdjson::SUCCESS) return std::optional<std::uint64_t>(number);
  RINGLOAD_TRY_VOID(skip(value, depth));
  return std::optional<std::uint64_t>();
}

Result<std::string_view> JsonReader::read_string(Value& value) {
  const std::uint64_t at = offset_of(value);
  std::string_view text;
  if (const auto code = value.get_string().get(text); code != simdjson::SUCCESS)
    return error_at(code, at, "a string");
  return text;
}

Result<MetadataValue> read_json(std::string_view text, std::uint64_t base_offset,
                                const JsonParseOptions& options) {
  JsonReader reader(text, base_offset);
  JsonReader::Value root = RINGLOAD_TRY(reader.root());
  MetadataValue value = RINGLOAD_TRY(reader.read(root, 1, options));
  RINGLOAD_TRY_VOID(reader.finish());
  return value;
}

}  // namespace ringload
