// Turns a model's tensors (after the name filter and shard slicing) into the chunks the readers
// fill: aligned, disjoint file ranges no larger than a staging slot, each with the pieces that
// say which bytes go to which tensor. No byte is read twice; unaligned tensor edges are read as
// part of an aligned superset and trimmed at the sink.
#pragma once

#include <cstdint>
#include <limits>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "ringload/model.hpp"
#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"

namespace ringload {

struct Piece {
  std::uint32_t tensor = 0;         // index into Plan::tensors
  std::uint64_t tensor_offset = 0;  // where in the tensor's destination the bytes go
  std::uint64_t chunk_offset = 0;   // where in the chunk (slot) they are
  std::uint64_t length = 0;
};

struct Chunk {
  std::uint32_t file = 0;         // the load's file it is read from (Plan::files)
  std::uint64_t file_offset = 0;  // aligned
  std::uint64_t length = 0;       // bytes to read (aligned; may run past EOF at the file's end)
  std::uint64_t valid = 0;        // bytes that exist in the file: min(length, file_size - file_offset)
  std::vector<Piece> pieces;
};

inline constexpr std::int64_t kUnplanned =
    std::numeric_limits<std::int64_t>::max();  // last_chunk of a tensor whose file is not planned yet

// One file of the load: its tensors in Plan::tensors, and its chunks once planned.
struct PlannedFile {
  std::uint32_t first_tensor = 0;  // [first_tensor, end_tensor) of Plan::tensors
  std::uint32_t end_tensor = 0;
  std::uint64_t bytes = 0;  // tensor bytes it delivers
  bool planned = false;
  std::uint32_t first_chunk = 0;  // [first_chunk, end_chunk) of Plan::chunks, once planned
  std::uint32_t end_chunk = 0;
};

// The file bytes a tensor's destination takes: `count` runs of `run_bytes`, one every
// `stride_bytes`, from SinkTensor::file_offset on (a whole or sharded tensor: one run).
struct TensorRuns {
  std::uint64_t run_bytes = 0;
  std::uint64_t stride_bytes = 0;
  std::uint64_t count = 0;
  // From the first run's first byte to the last run's end.
  [[nodiscard]] std::uint64_t extent() const noexcept {
    return count == 0 ? 0 : (count - 1) * stride_bytes + run_bytes;
  }
};

struct Plan {
  std::vector<SinkTensor> tensors;  // load order: file order, then offset
  std::vector<TensorRuns> runs;     // per tensor
  // What a sliced tensor's SinkTensor::info points to: the part's shape and size (heap-held, so
  // the pointers survive moving the plan).
  std::vector<std::unique_ptr<TensorInfo>> sliced_infos;
  // Per tensor: the chunk holding its last byte; for an empty tensor, its closest non-empty
  // predecessor's; -1 when nothing precedes it (ready before any chunk); kUnplanned until its
  // file is planned.
  std::vector<std::int64_t> last_chunk;
  std::vector<Chunk> chunks;       // the planned files', in load order
  std::vector<PlannedFile> files;  // the load's files, in load order
  std::uint64_t bytes = 0;         // tensor bytes to deliver
  std::uint64_t bytes_read = 0;    // sum of the planned chunks' valid lengths
};

// Which tensors, which of their bytes (selection), and how they are cut into chunks.
struct PlanOptions {
  std::uint64_t slot_size = 8ULL << 20;       // a multiple of alignment
  std::uint64_t alignment = 4096;             // chunk boundaries (O_DIRECT offset alignment)
  std::uint64_t max_gap = 1ULL << 20;         // unneeded bytes read rather than starting a new chunk
  bool per_tensor = false;                    // never two tensors in one chunk
  std::span<const std::string> tensor_names;  // empty: all
  std::uint32_t shard_rank = 0;
  std::uint32_t shard_world = 1;
  std::span<const SliceRule> slices;  // first match splits a tensor (see PipelineOptions::slices)
  std::uint32_t slice_rank = 0;
  std::uint32_t slice_world = 1;
  // Each file's format (by TensorInfo::file), which says its dim order: GGUF's shapes are
  // innermost first. A file past the end is row-major.
  std::span<const Format> file_formats;
};

// The selection part of PlanOptions as a load's options ask for it (names, shard, slice rules with
// rank and world), for the files of `file_formats`; the chunk geometry stays at its defaults. The
// load itself, `ringload load --verify` and a collective load's plan select alike through it.
// The spans point into `options` and `file_formats`, which must outlive the result.
[[nodiscard]] PlanOptions selection_options(const PipelineOptions& options,
                                            std::span<const Format> file_formats);

// The tensors a load takes from `all` (load order; TensorInfo::file < file_count): the name filter
// and each tensor's shard slice, across every file. No chunk yet: plan_file makes them, file by
// file, when the file is opened (its alignment is known only then). `path` names the set in errors.
// Errors: an unknown name in tensor_names is not_found naming it; a shard that does not exist, a
// slice that cannot be cut (slice_geometry's errors) and slices with shard_world > 1
// invalid_argument.
[[nodiscard]] Result<Plan> select_tensors(std::span<const TensorInfo> all, std::size_t file_count,
                                          const PlanOptions& options, const std::string& path);

// Appends the chunks of `file` (the next unplanned file, in order), whose size is `file_size`, cut
// by `options` (slot_size, alignment, max_gap, per_tensor), and fills its tensors' last_chunk.
[[nodiscard]] Result<void> plan_file(Plan& plan, std::uint32_t file, std::uint64_t file_size,
                                     const PlanOptions& options);

// Both steps for one file.
[[nodiscard]] Result<Plan> make_plan(const Model& model, const PlanOptions& options);

// Whether bytes wanted from `next` on are read in one stretch with bytes wanted up to `end` (next
// at or after the previous start): they overlap, share an `alignment` block (a new chunk could not
// start before it without reading that block twice), or the hole between them is at most
// `max_gap`. A chunk extends over such a gap (slot size permitting); a file image spans it
// (file_images.hpp), so every chunk lies inside one image.
[[nodiscard]] bool read_through(std::uint64_t end, std::uint64_t next, std::uint64_t alignment,
                                std::uint64_t max_gap) noexcept;

}  // namespace ringload
