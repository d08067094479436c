// The safetensors header's JSON, decoded straight into tensor entries (no document first: that
// cost ten times the rest of Model::load) through the library's one JSON parser. This knows the
// header's JSON shape; the format's rules are safetensors.cpp's.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "ringload/error.hpp"
#include "ringload/metadata.hpp"

namespace ringload {

// How an entry spelled one of its fields.
enum class FieldState : std::uint8_t { missing, valid, invalid };

// One tensor entry as the header spelled it; views point into the header text or the decoder
// and live as long as the callback that receives the entry.
struct SafetensorsEntry {
  std::string name;
  std::uint64_t key_at = 0;                // absolute offset of the entry's key (its opening quote)
  std::string_view value_type = "object";  // the entry's JSON type
  FieldState dtype = FieldState::missing;
  std::string_view dtype_type;  // its JSON type when invalid
  std::string_view dtype_name;  // when valid
  FieldState shape = FieldState::missing;
  std::vector<std::uint64_t> dims;
  std::string_view shape_text;  // the raw JSON, for messages
  FieldState offsets = FieldState::missing;
  std::uint64_t begin = 0;  // relative to the data buffer
  std::uint64_t end = 0;
  std::string_view offsets_text;
};

// Called with each tensor entry in header order; an error it returns is the header's unless
// an earlier one was, or the text turns out not to be JSON.
using SafetensorsEntryHandler = std::function<Result<void>(SafetensorsEntry&&)>;

// Decodes `header` (which starts at absolute offset `header_at`) and returns "__metadata__" as an
// object of strings (empty when absent or null). `expected_entries` sizes the name table.
// Invalid JSON anywhere in the text is reported before any entry's problem; among those, the
// first in header order wins (a "__metadata__" that is not an object of strings included).
[[nodiscard]] Result<MetadataValue> decode_safetensors_header(std::string_view header,
                                                              std::uint64_t header_at,
                                                              std::size_t expected_entries,
                                                              const SafetensorsEntryHandler& on_entry);

}  // namespace ringload
