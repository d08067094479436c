#include "checkpoint/hf_index.hpp"

#include <algorithm>
#include <optional>
#include <set>
#include <unordered_map>

#include <fmt/format.h>

#include "base/json_reader.hpp"
#include "io/file.hpp"

namespace ringload {
namespace {

Error index_error(ErrorKind kind, std::string message, const std::filesystem::path& path,
                  std::string tensor = {}) {
  Error e = make_error(kind, std::move(message), std::nullopt, std::move(tensor));
  e.path = path.string();
  return e;
}

// Reads an index straight into an HfIndex, with the library's JSON reader (strict, duplicate keys
// refused, errors at their byte offset) and no document in between: a 20,000-tensor index is a
// 20,000-key object, and building it as a document first cost more than the rest of the open.
class IndexReader {
 public:
  IndexReader(std::string_view text, const std::filesystem::path& path)
      : json_(text, 0), index_{.path = path, .weight_map = {}, .shards = {}} {}

  Result<HfIndex> read() && {
    if (auto scanned = scan(); !scanned) {
      Error e = std::move(scanned).error();
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

  Result<void> scan() {
    JsonReader::Value root = RINGLOAD_TRY(json_.root());
    if (RINGLOAD_TRY(json_.type_of(root)) != JsonReader::Type::object) {
      RINGLOAD_TRY_VOID(json_.skip(root, 1));
      return json_.finish();
    }
    JsonKeySet keys;
    RINGLOAD_TRY_VOID(json_.for_each_member(root, 1, keys, true, [&](JsonMember& member) -> Result<void> {
      if (member.key != "weight_map" ||
          RINGLOAD_TRY(json_.type_of(member.value)) != JsonReader::Type::object) {
        return json_.skip(member.value, kMemberDepth);
      }
      has_map_ = true;
      JsonKeySet tensors;
      return json_.for_each_member(member.value, kMemberDepth, tensors, true,
                                   [&](JsonMember& entry) { return add(entry); });
    }));
    return json_.finish();
  }

  // One weight_map entry. The first that breaks a rule is kept and the scan goes on: a syntax
  // error later in the text wins, as it would in a parse before any rule was checked.
  Result<void> add(JsonMember& entry) {
    std::string_view file;
    if (RINGLOAD_TRY(json_.type_of(entry.value)) == JsonReader::Type::string) {
      file = RINGLOAD_TRY(json_.read_string(entry.value));
    } else {
      RINGLOAD_TRY_VOID(json_.skip(entry.value, kMemberDepth + 1));
    }
    // Empty, or a path with '/' that could reach outside the directory.
    if (file.empty() || file.find('/') != std::string_view::npos) {
      if (!broken_) {
        broken_ =
            index_error(ErrorKind::malformed_index,
                        "weight_map must map each tensor to a shard's file name in the index's directory",
                        index_.path, std::string(entry.key));
      }
      return {};
    }
    if (shards_.find(file) == shards_.end()) shards_.emplace(file);
    index_.weight_map.emplace_hint(index_.weight_map.end(), std::string(entry.key), std::string(file));
    return {};
  }

  JsonReader json_;
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
