// JSON parsing that never throws and reports where the text went wrong.
#pragma once

#include <cstdint>
#include <string_view>

#include <nlohmann/json.hpp>

#include "ringload/error.hpp"

namespace ringload {

struct JsonParseOptions {
  // At any depth. When false, a later duplicate replaces the earlier value (serde_json's rule).
  bool reject_duplicate_keys = true;
};

// Parses `text` (which starts at absolute file offset `base_offset`). Syntax errors and invalid
// UTF-8 are malformed_header at the offending byte; a repeated key is duplicate_name.
[[nodiscard]] Result<nlohmann::ordered_json> parse_json(std::string_view text, std::uint64_t base_offset,
                                                        const JsonParseOptions& options = {});

// dump() that cannot throw: invalid UTF-8 in strings (GGUF vocabularies have some) is replaced.
[[nodiscard]] std::string dump_json(const nlohmann::ordered_json& value, int indent = -1);

}  // namespace ringload
