#include "format/safetensors_header.hpp"

#include <optional>
#include <utility>

#include <fmt/format.h>

#include "base/json.hpp"
#include "base/json_reader.hpp"

namespace ringload {
namespace {

constexpr std::string_view kMetadataKey = "__metadata__";
// The value of a top-level member (an entry) is at depth 2, its fields' values at 3.
constexpr int kEntryDepth = 2;
constexpr int kFieldDepth = 3;

// The keys of one tensor entry: the three it needs as bits (20,000 entries a header), any
// others in a key set.
class EntryKeys {
 public:
  [[nodiscard]] bool insert(std::string_view key) {
    const unsigned bit = key == "dtype" ? 1U : key == "shape" ? 2U : key == "data_offsets" ? 4U : 0U;
    if (bit == 0) {
      if (!others_) others_.emplace();
      return others_->insert(key);
    }
    if ((seen_ & bit) != 0) return false;
    seen_ |= bit;
    return true;
  }

 private:
  unsigned seen_ = 0;
  std::optional<JsonKeySet> others_;  // rare: made on the first unknown field
};

class HeaderDecoder {
 public:
  HeaderDecoder(std::string_view header, std::uint64_t header_at, const SafetensorsEntryHandler& on_entry)
      : json_(header, header_at), on_entry_(on_entry) {}

  Result<MetadataValue> decode(std::size_t expected_entries) {
    JsonReader::Value root = RINGLOAD_TRY(json_.root());
    const std::uint64_t root_at = json_.offset_of(root);
    const JsonReader::Type type = RINGLOAD_TRY(json_.type_of(root));
    if (type != JsonReader::Type::object) {
      RINGLOAD_TRY_VOID(json_.skip(root, 1));
      RINGLOAD_TRY_VOID(json_.finish());
      return make_error(ErrorKind::malformed_header,
                        fmt::format("header must be a JSON object, found {}", JsonReader::type_name(type)),
                        root_at);
    }
    JsonKeySet names(expected_entries);
    RINGLOAD_TRY_VOID(json_.for_each_member(root, 1, names, /*reject_duplicates=*/true,
                                            [&](JsonMember& member) -> Result<void> {
                                              if (member.key == kMetadataKey) return decode_metadata(member);
                                              return decode_entry(member);
                                            }));
    RINGLOAD_TRY_VOID(json_.finish());
    if (first_error_) return std::move(*first_error_);
    return std::move(metadata_);
  }

 private:
  Result<void> decode_entry(JsonMember& member) {
    // After the first problem only the JSON is still checked.
    if (first_error_) return json_.skip(member.value, kEntryDepth);
    SafetensorsEntry entry;
    entry.name = member.key;
    entry.key_at = member.key_at;
    const JsonReader::Type type = RINGLOAD_TRY(json_.type_of(member.value));
    if (type != JsonReader::Type::object) {
      entry.value_type = JsonReader::type_name(type);
      RINGLOAD_TRY_VOID(json_.skip(member.value, kEntryDepth));
    } else {
      EntryKeys fields;
      RINGLOAD_TRY_VOID(json_.for_each_member(member.value, kEntryDepth, fields, /*reject_duplicates=*/true,
                                              [&](JsonMember& field) { return decode_field(entry, field); }));
    }
    if (auto accepted = on_entry_(std::move(entry)); !accepted) first_error_ = std::move(accepted).error();
    return {};
  }

  Result<void> decode_field(SafetensorsEntry& entry, JsonMember& field) {
    if (field.key == "dtype") {
      const JsonReader::Type type = RINGLOAD_TRY(json_.type_of(field.value));
      if (type == JsonReader::Type::string) {
        entry.dtype = FieldState::valid;
        entry.dtype_name = RINGLOAD_TRY(json_.read_string(field.value));
        return {};
      }
      entry.dtype = FieldState::invalid;
      entry.dtype_type = JsonReader::type_name(type);
      return json_.skip(field.value, kFieldDepth);
    }
    if (field.key == "shape") {
      entry.dims.clear();
      return read_u64_array(field.value, entry.shape, entry.shape_text,
                            [&](std::uint64_t dim, std::size_t) { entry.dims.push_back(dim); });
    }
    if (field.key == "data_offsets") {
      std::size_t count = 0;
      RINGLOAD_TRY_VOID(read_u64_array(field.value, entry.offsets, entry.offsets_text,
                                       [&](std::uint64_t offset, std::size_t index) {
                                         if (index == 0) entry.begin = offset;
                                         if (index == 1) entry.end = offset;
                                         count = index + 1;
                                       }));
      if (entry.offsets == FieldState::valid && count != 2) entry.offsets = FieldState::invalid;
      return {};
    }
    return json_.skip(field.value, kFieldDepth);  // unknown fields are allowed, as by the reference's serde
  }

  // An array of numbers that each fit u64 goes to on_element(value, index) and is `valid`;
  // anything else is `invalid`, and is still checked whole.
  template <class OnElement>
  Result<void> read_u64_array(JsonReader::Value& value, FieldState& state, std::string_view& text,
                              OnElement&& on_element) {
    const std::uint64_t at = json_.offset_of(value);
    state = FieldState::invalid;
    if (RINGLOAD_TRY(json_.type_of(value)) != JsonReader::Type::array) {
      RINGLOAD_TRY_VOID(json_.skip(value, kFieldDepth));
      text = json_.raw_since(at);
      return {};
    }
    bool valid = true;
    std::size_t index = 0;
    RINGLOAD_TRY_VOID(
        json_.for_each_element(value, kFieldDepth, [&](JsonReader::Value& element) -> Result<void> {
          const std::optional<std::uint64_t> number = RINGLOAD_TRY(json_.read_u64(element, kFieldDepth + 1));
          if (number && valid) {
            on_element(*number, index++);
          } else {
            valid = false;
          }
          return {};
        }));
    if (valid) {
      state = FieldState::valid;
    } else {
      text = json_.raw_since(at);  // for the message
    }
    return {};
  }

  // The reference types it Option<HashMap<String, String>>: null means "no metadata".
  Result<void> decode_metadata(JsonMember& member) {
    const JsonReader::Type type = RINGLOAD_TRY(json_.type_of(member.value));
    if (first_error_ || type == JsonReader::Type::null) return json_.skip(member.value, kEntryDepth);
    if (type != JsonReader::Type::object) {
      first_error_ = make_error(ErrorKind::malformed_header,
                                fmt::format("\"{}\" must be an object of string values, found {}",
                                            kMetadataKey, JsonReader::type_name(type)),
                                member.key_at);
      return json_.skip(member.value, kEntryDepth);
    }
    MetadataValue::Object strings;
    JsonKeySet keys;
    RINGLOAD_TRY_VOID(json_.for_each_member(
        member.value, kEntryDepth, keys, /*reject_duplicates=*/true, [&](JsonMember& item) -> Result<void> {
          const JsonReader::Type item_type = RINGLOAD_TRY(json_.type_of(item.value));
          if (item_type != JsonReader::Type::string) {
            if (!first_error_) {
              // The key is escaped: metadata is hostile text and must stay inert when printed.
              first_error_ = make_error(
                  ErrorKind::malformed_header,
                  fmt::format("\"{}\" value for key {} must be a string, found {}", kMetadataKey,
                              dump_json(nlohmann::ordered_json(item.key)), JsonReader::type_name(item_type)),
                  item.key_at);
            }
            return json_.skip(item.value, kFieldDepth);
          }
          strings.push_back(
              {std::string(item.key), MetadataValue(RINGLOAD_TRY(json_.read_string(item.value)))});
          return {};
        }));
    if (!first_error_) metadata_ = MetadataValue(std::move(strings));
    return {};
  }

  JsonReader json_;
  const SafetensorsEntryHandler& on_entry_;
  MetadataValue metadata_ = MetadataValue::object();
  std::optional<Error> first_error_;
};

}  // namespace

Result<MetadataValue> decode_safetensors_header(std::string_view header, std::uint64_t header_at,
                                                std::size_t expected_entries,
                                                const SafetensorsEntryHandler& on_entry) {
  return HeaderDecoder(header, header_at, on_entry).decode(expected_entries);
}

}  // namespace ringload
