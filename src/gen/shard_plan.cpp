// How `ringload gen --shards N` names its files and spreads the tensor plan over them.
#include <numeric>

#include <fmt/format.h>

#include "gen/gen.hpp"

namespace ringload::gen {

std::string shard_file_name(Format format, std::uint32_t number, std::uint32_t count) {
  return fmt::format("model-{:05}-of-{:05}.{}", number, count,
                     format == Format::gguf ? "gguf" : "safetensors");
}

Result<std::vector<std::size_t>> shard_starts(std::span<const TensorSpec> tensors, std::uint32_t shards) {
  if (shards == 0 || shards > kMaxShards) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("{} shards: a checkpoint has 1 to {} (split.count is a u16)", shards, kMaxShards));
  }
  if (tensors.size() < shards) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("{} shards need at least {} tensors, but the plan has {}: ask for more with "
                    "--tensors, or for fewer shards",
                    shards, shards, tensors.size()));
  }
  // Bytes fit easily: write_model's plans stay under 1 TiB, so doubling a sum cannot overflow.
  std::uint64_t left_bytes =
      std::accumulate(tensors.begin(), tensors.end(), std::uint64_t{0},
                      [](std::uint64_t sum, const TensorSpec& t) { return sum + t.size; });
  std::vector<std::size_t> starts;
  starts.reserve(shards);
  std::size_t next = 0;
  for (std::uint32_t shard = 0; shard < shards; ++shard) {
    starts.push_back(next);
    const std::uint32_t shards_left = shards - shard;
    if (shards_left == 1) break;  // the last shard takes the rest
    // Recomputing the share from what is left lets a shard that one large tensor overfilled
    // (an embedding) be made up by the shards after it, instead of leaving the last one short.
    const std::uint64_t share = left_bytes / shards_left;
    // Every later shard needs at least one tensor.
    const std::size_t end_limit = tensors.size() - (shards_left - 1);
    std::uint64_t bytes = tensors[next++].size;
    // Take the next tensor while that lands at least as close to the share as stopping does.
    while (next < end_limit && 2 * bytes + tensors[next].size <= 2 * share) bytes += tensors[next++].size;
    left_bytes -= bytes;
  }
  return starts;
}

}  // namespace ringload::gen
