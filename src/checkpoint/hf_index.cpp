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

// Reads an index straight into an HfIndex. Scanned, not parsed into a DOM: a 20,000-tensor index
// is a 20,000-key object, and inserting into an ordered_json object is linear in its keys (the
// whole parse quadratic: ~30 ms of a checkpoint open that otherwise takes ~10). The scanner is the
// safetensors header's: strict JSON, duplicate keys refused, errors at their byte offset.
class IndexReader {
 public:
  IndexReader(std::string_view text, const std::filesystem::path& path)
      : json_(text, 0), index_{.path = path, .weight_map = {}, .shards = {}} {}

  Result<HfIndex> read() && {
    if (!scan_root()) {
      Error e = json_.take_error();
      e.kind = ErrorKind::malformed_index;
      e.message = "the checkpoint index is not valid JSON: " + e.message;
      e.path = index_.path.string();
      return e;
    }
    if (broken_) return std::move(*broken_);
    if (!has_map_) {
      return index_error(ErrorKind::malformed_index,
                         "the checkpoint index has no \"weight_map\" object (tensor name -> shard file)",
                         index_.path);
    }
    if (index_.weight_map.empty()) {
      return index_error(ErrorKind::malformed_index, "the checkpoint index's weight_map is empty",
                         index_.path);
    }
    index_.shards.assign(shards_.begin(), shards_.end());  // std::set<std::string>: bytewise order
    return std::move(index_);
  }

 private:
  static constexpr int kMemberDepth = 2;  // the value of a top-level member

  bool scan_root() {
    JsonToken token;
    if (!json_.next(token)) return false;
    if (token.kind != JsonTokenKind::begin_object) return json_.skip_value(token, 1) && json_.expect_end();
    JsonKeySet keys;
    const bool ok = json_.for_each_member(keys, [&](std::string_view key, const JsonToken& value) {
      if (key != "weight_map" || value.kind != JsonTokenKind::begin_object) {
        return json_.skip_value(value, kMemberDepth);
      }
      has_map_ = true;
      JsonKeySet tensors;
      return json_.for_each_member(
          tensors, [&](std::string_view tensor, const JsonToken& shard) { return add(tensor, shard); });
    });
    return ok && json_.expect_end();
  }

  // One weight_map entry. The first that breaks a rule is kept and the scan goes on: a syntax
  // error later in the text wins, as it would have in a DOM parse.
  bool add(std::string_view tensor, const JsonToken& shard) {
    const std::string_view file =
        shard.kind == JsonTokenKind::string ? json_.string_value(shard) : std::string_view();
    // Empty, or a path with '/' that could reach outside the directory.
    if (file.empty() || file.find('/') != std::string_view::npos) {
      if (!broken_) {
        broken_ =
            index_error(ErrorKind::malformed_index,
                        "weight_map must map each tensor to a shard's file name in the index's directory",
                        index_.path, std::string(tensor));
      }
      return shard.kind == JsonTokenKind::string || json_.skip_value(shard, kMemberDepth + 1);
    }
    if (shards_.find(file) == shards_.end()) shards_.emplace(file);
    index_.weight_map.emplace_hint(index_.weight_map.end(), std::string(tensor), std::string(file));
    return true;
  }

  JsonScanner json_;
  HfIndex index_;
  std::set<std::string, std::less<>> shards_;
  std::optional<Error> broken_;
  bool has_map_ = false;
};

}  // namespace

Result<HfIndex> read_hf_index(const std::filesystem::path& path) {
  const auto bytes = RINGLOAD_TRY(read_file(path));
  return IndexReader(std::string_view(reinterpret_cast<const char*>(bytes.data()), bytes.size()), path)
      .read();
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
