// JSON in and out. Reading goes through the one parser, json_reader.hpp's (simdjson), into a
// MetadataValue; nlohmann::ordered_json is only for writing JSON (the tools' --json output, gen's
// headers, traces) and for tools that walk a parsed document.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ringload/error.hpp"
#include "ringload/metadata.hpp"

namespace ringload {

struct JsonParseOptions {
  // At any depth. When false, a later duplicate replaces the earlier value where that one stood
  // (serde_json's rule, which aprender's metadata follows).
  bool reject_duplicate_keys = true;
};

// A whole JSON text (starting at absolute file offset `base_offset`) as a value; errors are
// malformed_header (duplicate_name for a repeated key) at the offending byte. See JsonReader.
[[nodiscard]] Result<MetadataValue> read_json(std::string_view text, std::uint64_t base_offset,
                                              const JsonParseOptions& options = {});

// The same value as nlohmann JSON: integers keep their signedness, objects their key order.
[[nodiscard]] nlohmann::ordered_json to_json(const MetadataValue& value);

// read_json, as nlohmann JSON, for tools that walk a document (bench results, traces).
[[nodiscard]] Result<nlohmann::ordered_json> parse_json(std::string_view text, std::uint64_t base_offset,
                                                        const JsonParseOptions& options = {});

// dump() that cannot throw: invalid UTF-8 in strings (GGUF vocabularies have some) is replaced.
[[nodiscard]] std::string dump_json(const nlohmann::ordered_json& value, int indent = -1);

// A value's JSON type as messages name it: "object", "array", "string", "number", "boolean", "null".
[[nodiscard]] std::string_view json_type_name(const MetadataValue& value) noexcept;

}  // namespace ringload
