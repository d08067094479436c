// A Hugging Face sharded checkpoint's index (`model.safetensors.index.json`): which shard holds
// each tensor, and the checks that the shards agree with it.
#pragma once

#include <filesystem>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "ringload/checkpoint.hpp"
#include "ringload/error.hpp"

namespace ringload {

struct HfIndex {
  std::filesystem::path path;
  std::map<std::string, std::string, std::less<>> weight_map;  // tensor -> shard file name
  std::vector<std::string> shards;                             // unique, bytewise order: the load order
};

// malformed_index when the file is not JSON, has no object "weight_map", or maps a tensor to
// something other than a plain file name (a path with '/' could reach outside the directory).
[[nodiscard]] Result<HfIndex> read_hf_index(const std::filesystem::path& path);

// The shards (opened, in index order; their tensor names already unique) against the index:
// every tensor the index maps to a shard is there (else misplaced_tensor), and every tensor a
// shard holds is in the index (else unlisted_tensor).
[[nodiscard]] Result<void> check_against_index(const HfIndex& index, std::span<const CheckpointFile> files,
                                               std::span<const TensorInfo> tensors);

}  // namespace ringload
