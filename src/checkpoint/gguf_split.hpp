// A llama.cpp GGUF split set checked as a whole: split.no (u16, 0-based) in file order,
// split.count (u16) the same in every split, split.tensors.count (i32, in the first) the sum of the
// splits' tensors — the keys llama.cpp's gguf-split writes.
#pragma once

#include <cstdint>
#include <optional>
#include <span>

#include "checkpoint/layout.hpp"
#include "ringload/checkpoint.hpp"

namespace ringload {

struct SplitKeys {
  std::optional<std::uint64_t> number;   // split.no
  std::optional<std::uint64_t> count;    // split.count
  std::optional<std::uint64_t> tensors;  // split.tensors.count
};

[[nodiscard]] SplitKeys read_split_keys(const ModelMetadata& metadata);

// split_count_mismatch, split_out_of_sequence or split_tensor_count, naming the files at fault.
[[nodiscard]] Result<void> check_split_set(const SplitName& name, std::span<const CheckpointFile> files,
                                           std::span<const SplitKeys> keys, std::uint64_t total_tensors);

}  // namespace ringload
