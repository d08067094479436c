// Which files a checkpoint path stands for (no file is opened here beyond listing a directory and
// reading an index): the resolution rules of include/ringload/checkpoint.hpp.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "ringload/checkpoint.hpp"
#include "ringload/error.hpp"

namespace ringload {

// llama.cpp's split naming: PREFIX-0000k-of-0000N.gguf (k from 1).
struct SplitName {
  std::string prefix;  // the path up to "-0000k-of-"
  std::uint32_t number = 0;
  std::uint32_t count = 0;
};
[[nodiscard]] std::optional<SplitName> parse_split_name(const std::filesystem::path& path);
[[nodiscard]] std::filesystem::path split_path(const SplitName& name, std::uint32_t number);

struct ResolvedCheckpoint {
  CheckpointLayout layout = CheckpointLayout::single_file;
  std::vector<std::filesystem::path> files;  // load order
  std::filesystem::path index;               // hf_index: the index file
  std::optional<SplitName> split;            // gguf_split: the set's name
};

[[nodiscard]] Result<ResolvedCheckpoint> resolve_checkpoint(const std::filesystem::path& path);

}  // namespace ringload
