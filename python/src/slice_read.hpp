// safe_open(...).get_slice(name)[...]: reads the selected elements of one tensor and no other
// bytes. Not through the pipeline: its filters take whole tensors (or equal byte shards), not rows
// and columns. pread of each contiguous run instead of copying from the mapping: a file that shrinks
// meanwhile gives a short read (an error value), not SIGBUS, and the kernel reads no more than asked
// (readahead is off for the read, FADV_RANDOM).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string_view>

#include "ringload/error.hpp"
#include "ringload/model.hpp"
#include "tensor_block.hpp"

namespace ringload::python {

// Elements start, start + step, ... (count of them) of one row-major dimension. step >= 1.
struct DimSelection {
  std::uint64_t start = 0;
  std::uint64_t count = 0;
  std::uint64_t step = 1;
};

struct SliceRead {
  std::shared_ptr<TensorBlock> block;  // one tensor: the selection, row-major, dims = counts
  std::uint64_t bytes_read = 0;        // file bytes read (= the selection's bytes)
};

// `dims` has one entry per row-major dim of the tensor; block-quantized and sub-byte tensors are
// one dim of raw bytes. `release`: drop the read range from the page cache afterwards.
[[nodiscard]] Result<SliceRead> read_slice(const Model& model, std::string_view name,
                                           std::span<const DimSelection> dims, bool release);

}  // namespace ringload::python
