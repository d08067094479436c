#include "ringload/metadata.hpp"

#include <algorithm>

namespace ringload {

const MetadataValue* MetadataValue::find(std::string_view key) const noexcept {
  const Object* members = if_object();
  if (members == nullptr) return nullptr;
  const auto it = std::find_if(members->begin(), members->end(),
                               [&](const MetadataMember& member) { return member.key == key; });
  return it != members->end() ? &it->value : nullptr;
}

std::size_t MetadataValue::size() const noexcept {
  if (const Array* elements = if_array()) return elements->size();
  if (const Object* members = if_object()) return members->size();
  return 0;
}

bool operator==(const MetadataValue& a, const MetadataValue& b) { return a.value_ == b.value_; }

}  // namespace ringload
