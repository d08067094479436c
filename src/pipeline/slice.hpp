// Tensor-parallel slices: which rule splits a tensor, and which of its file bytes make the part a
// rank takes. A part of dim d of a row-major shape is, in the file, `runs` runs of `run_bytes`
// every `stride_bytes` (one run per index of the dims before d); the plan reads only those.
#pragma once

#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "ringload/error.hpp"
#include "ringload/model.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

// The first rule whose pattern matches `name` (fnmatch(3) with flags 0), or nullptr.
[[nodiscard]] const SliceRule* matching_slice_rule(std::string_view name,
                                                   std::span<const SliceRule> rules) noexcept;

// The shape outermost first: GGUF's ne[] reversed, the others as stored.
[[nodiscard]] std::vector<std::uint64_t> row_major_dims(Format format, std::span<const std::uint64_t> shape);

// Rows [first, second) of `rows` that part `rank` of `world` takes, as numpy.array_split cuts them:
// the first rows % world parts get one more row. world > 0, rank < world.
[[nodiscard]] std::pair<std::uint64_t, std::uint64_t> split_rows(std::uint64_t rows, std::uint32_t rank,
                                                                 std::uint32_t world) noexcept;

// Where a tensor's part lies in its bytes. A part that is one contiguous range (an outer split, or
// every run adjacent to the next) is one run.
struct SliceGeometry {
  std::vector<std::uint64_t> shape;  // the part's shape, in the format's own order
  std::uint64_t first_byte = 0;      // of the first run, from the tensor's first byte
  std::uint64_t run_bytes = 0;
  std::uint64_t stride_bytes = 0;  // from one run's first byte to the next's
  std::uint64_t runs = 0;
  [[nodiscard]] std::uint64_t bytes() const noexcept { return run_bytes * runs; }
};

// Part `rank` of `world` of `tensor` split along row-major dim `dim`. invalid_argument (naming the
// tensor and its row-major shape) for: no such dim (a scalar has none), rank ≥ world or world 0,
// a dtype with a per-tensor prefix (APR_Q8's scale), or a split that cuts a quantization block
// (a part boundary of the innermost dim that is not a multiple of the block's elements).
[[nodiscard]] Result<SliceGeometry> slice_geometry(const TensorInfo& tensor, Format format, std::uint32_t dim,
                                                   std::uint32_t rank, std::uint32_t world);

// The part cut out of the whole tensor's bytes by copying it row by row (an independent check of
// the plan's runs: `ringload load --verify`). Errors as slice_geometry.
[[nodiscard]] Result<std::vector<std::byte>> copy_slice_rows(std::span<const std::byte> whole,
                                                             const TensorInfo& tensor, Format format,
                                                             std::uint32_t dim, std::uint32_t rank,
                                                             std::uint32_t world);

}  // namespace ringload
