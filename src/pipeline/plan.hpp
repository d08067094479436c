// Turns a model's tensors (after the name filter and shard slicing) into the chunks the readers
// fill: aligned, disjoint file ranges no larger than a staging slot, each with the pieces that
// say which bytes go to which tensor. No byte is read twice; unaligned tensor edges are read as
// part of an aligned superset and trimmed at the sink.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "ringload/model.hpp"
#include "ringload/sink.hpp"

namespace ringload {

struct Piece {
  std::uint32_t tensor = 0;         // index into Plan::tensors
  std::uint64_t tensor_offset = 0;  // where in the tensor's destination the bytes go
  std::uint64_t chunk_offset = 0;   // where in the chunk (slot) they are
  std::uint64_t length = 0;
};

struct Chunk {
  std::uint64_t file_offset = 0;  // aligned
  std::uint64_t length = 0;       // bytes to read (aligned; may run past EOF at the file's end)
  std::uint64_t valid = 0;        // bytes that exist in the file: min(length, file_size - file_offset)
  std::vector<Piece> pieces;
};

struct Plan {
  std::vector<SinkTensor> tensors;  // file order
  // Per tensor: the chunk holding its last byte; for an empty tensor, its closest non-empty
  // predecessor's; -1 when nothing precedes it (ready before any chunk).
  std::vector<std::int64_t> last_chunk;
  std::vector<Chunk> chunks;     // file order
  std::uint64_t bytes = 0;       // tensor bytes to deliver
  std::uint64_t bytes_read = 0;  // sum of chunk valid lengths
};

struct PlanOptions {
  std::uint64_t slot_size = 8ULL << 20;       // a multiple of alignment
  std::uint64_t alignment = 4096;             // chunk boundaries (O_DIRECT offset alignment)
  std::uint64_t max_gap = 1ULL << 20;         // unneeded bytes read rather than starting a new chunk
  bool per_tensor = false;                    // never two tensors in one chunk
  std::span<const std::string> tensor_names;  // empty: all
  std::uint32_t shard_rank = 0;
  std::uint32_t shard_world = 1;
};

// Errors: an unknown name in tensor_names is not_found naming it; bad options invalid_argument.
[[nodiscard]] Result<Plan> make_plan(const Model& model, const PlanOptions& options);

}  // namespace ringload
