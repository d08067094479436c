#include "checkpoint/gguf_split.hpp"

#include <fmt/format.h>

namespace ringload {
namespace {

std::optional<std::uint64_t> unsigned_value(const ModelMetadata& metadata, const char* key) {
  const MetadataValue* value = metadata.find(key);
  if (value == nullptr) return std::nullopt;
  if (const std::uint64_t* u = value->if_uint64()) return *u;
  const std::int64_t* i = value->if_int64();
  return i != nullptr && *i >= 0 ? std::optional<std::uint64_t>(static_cast<std::uint64_t>(*i))
                                 : std::nullopt;
}

Error split_error(ErrorKind kind, std::string message, const CheckpointFile& file) {
  Error e = make_error(kind, std::move(message));
  e.path = file.path;
  return e;
}

std::string shown(const std::optional<std::uint64_t>& v) { return v ? std::to_string(*v) : "missing"; }

}  // namespace

SplitKeys read_split_keys(const ModelMetadata& metadata) {
  return SplitKeys{unsigned_value(metadata, "split.no"), unsigned_value(metadata, "split.count"),
                   unsigned_value(metadata, "split.tensors.count")};
}

Result<void> check_split_set(const SplitName& name, std::span<const CheckpointFile> files,
                             std::span<const SplitKeys> keys, std::uint64_t total_tensors) {
  for (std::size_t k = 0; k < files.size(); ++k) {
    if (keys[k].count != name.count) {
      return split_error(
          ErrorKind::split_count_mismatch,
          fmt::format("split.count is {} but the set {} has {} splits (its name says so, and {} "
                      "says split.count {})",
                      shown(keys[k].count), split_path(name, 1).filename().string(), name.count,
                      files.front().path, shown(keys.front().count)),
          files[k]);
    }
    if (keys[k].number != k) {
      return split_error(ErrorKind::split_out_of_sequence,
                         fmt::format("split.no is {} in split {} of {}: expected {} (0-based, in file order)",
                                     shown(keys[k].number), k + 1, files.size(), k),
                         files[k]);
    }
  }
  if (keys.front().tensors != total_tensors) {
    return split_error(ErrorKind::split_tensor_count,
                       fmt::format("split.tensors.count is {} but the {} splits hold {} tensors",
                                   shown(keys.front().tensors), files.size(), total_tensors),
                       files.front());
  }
  return {};
}

}  // namespace ringload
