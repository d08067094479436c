// libFuzzer target for the one JSON reader (base/json_reader): any text either fails with an
// error that points into it, or reads to a value that survives a round trip through nlohmann's
// writer unchanged.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "base/json.hpp"

namespace {

using ringload::MetadataValue;

// Equal, except that a non-negative int64 matches the same uint64: nlohmann writes the integer
// -0 as 0, which reads back unsigned.
bool same_value(const MetadataValue& a, const MetadataValue& b) {
  if (const auto* i = a.if_int64(); i != nullptr && *i >= 0 && b.if_uint64() != nullptr) {
    return static_cast<std::uint64_t>(*i) == *b.if_uint64();
  }
  if (a.kind() != b.kind()) return false;
  if (const auto* elements = a.if_array()) {
    const auto& others = *b.if_array();
    if (elements->size() != others.size()) return false;
    for (std::size_t i = 0; i < elements->size(); ++i) {
      if (!same_value((*elements)[i], others[i])) return false;
    }
    return true;
  }
  if (const auto* members = a.if_object()) {
    const auto& others = *b.if_object();
    if (members->size() != others.size()) return false;
    for (std::size_t i = 0; i < members->size(); ++i) {
      if ((*members)[i].key != others[i].key || !same_value((*members)[i].value, others[i].value))
        return false;
    }
    return true;
  }
  return a == b;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::uint64_t kBase = 8;
  auto value = ringload::read_json(text, kBase);
  if (!value) {
    const ringload::Error& error = value.error();
    if (error.message.empty() || !error.offset || *error.offset < kBase || *error.offset > kBase + size) {
      std::abort();
    }
    return 0;
  }
  // Valid UTF-8 by now, so dump_json replaces nothing and the text reads back to the same value.
  auto again = ringload::read_json(ringload::dump_json(ringload::to_json(*value)), 0);
  if (!again || !same_value(*value, *again)) std::abort();
  return 0;
}
