#include "checkpoint/hf_index.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "format/safetensors_scan.hpp"
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

// Scanned, not parsed into a DOM: a 20,000-tensor index is a 20,000-key object, and inserting
// into an ordered_json object is linear in its keys (the whole parse quadratic: ~50 ms of a
// checkpoint open that otherwise takes ~12). The scanner is the safetensors header's: strict
// JSON, duplicate keys refused, errors at their byte offset.
Result<HfIndex> read_hf_index(const std::filesystem::path& path) {
  const auto bytes = RINGLOAD_TRY(read_file(path));
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()), bytes.size());
  JsonScanner json(text, 0);
  HfIndex index{.path = path, .weight_map = {}, .shards = {}};
  std::set<std::string, std::less<>> shards;
  std::optional<Error> broken;  // the first rule the index breaks; a later syntax error wins
  bool has_map = false;
  const auto scanned = [&]() -> bool {
    constexpr int kMemberDepth = 2;  // the value of a top-level member
    JsonToken token;
    if (!json.next(token)) return false;
    if (token.kind != JsonTokenKind::begin_object) return json.skip_value(token, 1) && json.expect_end();
    JsonKeySet keys;
    const bool ok = json.for_each_member(keys, [&](std::string_view key, const JsonToken& value) {
      if (key != "weight_map" || value.kind != JsonTokenKind::begin_object) {
        return json.skip_value(value, kMemberDepth);
      }
      has_map = true;
      JsonKeySet tensors;
      return json.for_each_member(tensors, [&](std::string_view tensor, const JsonToken& shard) {
        if (shard.kind != JsonTokenKind::string) {
          if (!broken)
            broken =
                index_error(ErrorKind::malformed_index,
                            "weight_map must map each tensor to a shard's file name in the index's directory",
                            path, std::string(tensor));
          return json.skip_value(shard, kMemberDepth + 1);
        }
        const std::string_view file = json.string_value(shard);
        if (file.empty() || file.find('/') != std::string_view::npos) {
          // A path with '/' could reach outside the directory.
          if (!broken)
            broken =
                index_error(ErrorKind::malformed_index,
                            "weight_map must map each tensor to a shard's file name in the index's directory",
                            path, std::string(tensor));
          return true;
        }
        if (shards.find(file) == shards.end()) shards.emplace(file);
        index.weight_map.emplace_hint(index.weight_map.end(), std::string(tensor), std::string(file));
        return true;
      });
    });
    return ok && json.expect_end();
  }();
  if (!scanned) {
    Error e = json.take_error();
    e.kind = ErrorKind::malformed_index;
    e.message = "the checkpoint index is not valid JSON: " + e.message;
    e.path = path.string();
    return e;
  }
  if (broken) return std::move(*broken);
  if (!has_map) {
    return index_error(ErrorKind::malformed_index,
                       "the checkpoint index has no \"weight_map\" object (tensor name -> shard file)", path);
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
  std::vector<std::string> shard_names;  // per file, once: not a path parse per tensor
  shard_names.reserve(files.size());
  for (const CheckpointFile& f : files)
    shard_names.push_back(std::filesystem::path(f.path).filename().string());
  for (const auto& [tensor, shard] : index.weight_map) {
    const auto it = found.find(tensor);
    if (it != found.end() && shard_names[it->second] == shard) continue;
    const std::string where = it == found.end() ? "no shard the index names holds it"
                                                : fmt::format("it is in {}", files[it->second].path);
    return index_error(ErrorKind::misplaced_tensor,
                       fmt::format("the index maps this tensor to {}, which does not hold it ({})",
                                   (index.path.parent_path() / shard).string(), where),
                       index.path, tensor);
  }
  // Every entry matched a tensor, and names are unique across the set: only a count above the
  // index's can hide a tensor it does not list.
  if (tensors.size() == index.weight_map.size()) return {};
  for (const TensorInfo& t : tensors) {
    if (!index.weight_map.contains(t.name)) {
      return index_error(
          ErrorKind::unlisted_tensor,
          fmt::format("{} holds this tensor but the index does not list it", files[t.file].path), index.path,
          t.name);
    }
  }
  return {};
}

}  // namespace ringload
