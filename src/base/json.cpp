#include "base/json.hpp"

#include <utility>
#include <variant>

namespace ringload {

nlohmann::ordered_json to_json(const MetadataValue& value) {
  using Json = nlohmann::ordered_json;
  switch (value.kind()) {
    case MetadataValue::Kind::null: return nullptr;
    case MetadataValue::Kind::boolean: return *value.if_bool();
    case MetadataValue::Kind::int64: return *value.if_int64();
    case MetadataValue::Kind::uint64: return *value.if_uint64();
    case MetadataValue::Kind::float64: return *value.if_double();
    case MetadataValue::Kind::string: return *value.if_string();
    case MetadataValue::Kind::array: {
      Json out = Json::array();
      auto& elements = out.get_ref<Json::array_t&>();
      elements.reserve(value.size());
      for (const MetadataValue& element : *value.if_array()) elements.push_back(to_json(element));
      return out;
    }
    case MetadataValue::Kind::object: {
      Json out = Json::object();
      auto& members = out.get_ref<Json::object_t&>();
      // Straight onto the ordered map's vector: ordered_map::emplace searches linearly for the
      // key first, which is quadratic in the key count; MetadataValue's keys are already unique.
      for (const auto& [key, member] : *value.if_object())
        members.Container::emplace_back(key, to_json(member));
      return out;
    }
  }
  return nullptr;
}

Result<nlohmann::ordered_json> parse_json(std::string_view text, std::uint64_t base_offset,
                                          const JsonParseOptions& options) {
  return to_json(RINGLOAD_TRY(read_json(text, base_offset, options)));
}

std::string dump_json(const nlohmann::ordered_json& value, int indent) {
  return value.dump(indent, ' ', false, nlohmann::ordered_json::error_handler_t::replace);
}

std::string_view json_type_name(const MetadataValue& value) noexcept {
  switch (value.kind()) {
    case MetadataValue::Kind::null: return "null";
    case MetadataValue::Kind::boolean: return "boolean";
    case MetadataValue::Kind::int64:
    case MetadataValue::Kind::uint64:
    case MetadataValue::Kind::float64: return "number";
    case MetadataValue::Kind::string: return "string";
    case MetadataValue::Kind::array: return "array";
    case MetadataValue::Kind::object: return "object";
  }
  return "null";
}

}  // namespace ringload
