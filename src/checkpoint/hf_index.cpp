#include "checkpoint/hf_index.hpp"

#include <algorithm>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "base/json.hpp"
#include "io/file.hpp"

namespace ringload {
namespace {

Error index_error(ErrorKind kind, std::string message, const std::filesystem::path& path,
                  std::string tensor = {}) {
  Error e = make_error(kind, std::move(message), std::nullopt, std::move(tensor));
  e.path = path.string();
  return e;
}

}  // namespace

Result<HfIndex> read_hf_index(const std::filesystem::path& path) {
  const auto bytes = RINGLOAD_TRY(read_file(path));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  auto doc = parse_json(text, 0);
  if (!doc) {
    Error e = std::move(doc).error();
    e.kind = ErrorKind::malformed_index;
    e.message = "the checkpoint index is not valid JSON: " + e.message;
    e.path = path.string();
    return e;
  }
  const auto map = doc->find("weight_map");
  if (!doc->is_object() || map == doc->end() || !map->is_object()) {
    return index_error(ErrorKind::malformed_index,
                       "the checkpoint index has no \"weight_map\" object (tensor name -> shard file)", path);
  }
  HfIndex index{.path = path};
  std::set<std::string> shards;
  for (const auto& [tensor, shard] : map->items()) {
    if (!shard.is_string() || shard.get_ref<const std::string&>().empty() ||
        shard.get_ref<const std::string&>().find('/') != std::string::npos) {
      return index_error(ErrorKind::malformed_index,
                         "weight_map must map each tensor to a shard's file name in the index's directory",
                         path, tensor);
    }
    index.weight_map.emplace(tensor, shard.get<std::string>());
    shards.insert(shard.get<std::string>());
  }
  if (index.weight_map.empty()) {
    return index_error(ErrorKind::malformed_index, "the checkpoint index's weight_map is empty", path);
  }
  index.shards.assign(shards.begin(), shards.end());  // std::set<std::string>: bytewise order
  return index;
}

Result<void> check_against_index(const HfIndex& index, std::span<const CheckpointFile> files,
                                 std::span<const TensorInfo> tensors) {
  std::unordered_map<std::string_view, std::uint32_t> found;  // tensor -> file
  for (const TensorInfo& t : tensors) found.emplace(t.name, t.file);
  auto shard_name = [&](std::uint32_t file) {
    return std::filesystem::path(files[file].path).filename().string();
  };
  for (const TensorInfo& t : tensors) {
    if (!index.weight_map.contains(t.name)) {
      return index_error(
          ErrorKind::unlisted_tensor,
          fmt::format("{} holds this tensor but the index does not list it", files[t.file].path), index.path,
          t.name);
    }
  }
  for (const auto& [tensor, shard] : index.weight_map) {
    const auto it = found.find(tensor);
    if (it != found.end() && shard_name(it->second) == shard) continue;
    const std::string where = it == found.end() ? "no shard the index names holds it"
                                                : fmt::format("it is in {}", files[it->second].path);
    return index_error(ErrorKind::misplaced_tensor,
                       fmt::format("the index maps this tensor to {}, which does not hold it ({})",
                                   (index.path.parent_path() / shard).string(), where),
                       index.path, tensor);
  }
  return {};
}

}  // namespace ringload
