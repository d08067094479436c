#include "slice_read.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "tensor_export.hpp"

namespace ringload::python {
namespace {

struct ByteRun {
  std::uint64_t file_offset = 0;
  std::uint64_t bytes = 0;
};

Error slice_error(ErrorKind kind, const Model& model, std::string_view name, std::string message) {
  Error e = make_error(kind, std::move(message), std::nullopt, std::string(name));
  e.path = model.path();
  return e;
}

// The selection as contiguous file runs, in file order, adjacent ones merged. Dims from `full`
// on are taken whole, so each run covers (count of dim full-1) x (their bytes) when that dim's
// step is 1, else one element's worth per selected index.
std::vector<ByteRun> byte_runs(std::uint64_t tensor_offset, std::span<const std::uint64_t> shape,
                               std::span<const DimSelection> dims, std::uint64_t item_bytes) {
  const std::size_t rank = shape.size();
  std::size_t full = rank;
  std::uint64_t inner_bytes = item_bytes;
  while (full > 0 && dims[full - 1].start == 0 && dims[full - 1].count == shape[full - 1] &&
         dims[full - 1].step == 1) {
    --full;
    inner_bytes *= shape[full];
  }
  if (full == 0) return {ByteRun{tensor_offset, inner_bytes}};
  // Row-major strides in bytes.
  std::vector<std::uint64_t> stride(rank, item_bytes);
  for (std::size_t i = rank; i-- > 1;) stride[i - 1] = stride[i] * shape[i];
  // The last partial dim becomes part of the run when its elements are adjacent.
  std::size_t outer = full;  // dims [0, outer) are iterated
  std::uint64_t run_bytes = inner_bytes;
  std::uint64_t run_start = 0;
  if (dims[full - 1].step == 1) {
    outer = full - 1;
    run_bytes = dims[full - 1].count * inner_bytes;
    run_start = dims[full - 1].start * stride[full - 1];
  }
  std::vector<ByteRun> runs;
  std::vector<std::uint64_t> at(outer, 0);  // odometer over the iterated dims' selected indices
  while (true) {
    std::uint64_t offset = tensor_offset + run_start;
    for (std::size_t i = 0; i < outer; ++i) offset += (dims[i].start + at[i] * dims[i].step) * stride[i];
    if (!runs.empty() && runs.back().file_offset + runs.back().bytes == offset) {
      runs.back().bytes += run_bytes;
    } else {
      runs.push_back(ByteRun{offset, run_bytes});
    }
    std::size_t d = outer;
    while (d > 0 && ++at[d - 1] == dims[d - 1].count) at[--d] = 0;
    if (d == 0) break;
  }
  return runs;
}

Result<void> pread_exactly(const Model& model, std::string_view name, ByteRun run, std::byte* out) {
  std::uint64_t done = 0;
  while (done < run.bytes) {
    const ssize_t n =
        ::pread(model.fd(), out + done, run.bytes - done, static_cast<off_t>(run.file_offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      Error e = sys_error(errno, "cannot read the slice", model.path(), run.file_offset + done);
      e.tensor = std::string(name);
      return e;
    }
    if (n == 0) {
      Error e = slice_error(ErrorKind::truncated, model, name,
                            "the file ended inside the tensor (it shrank after it was opened?)");
      e.offset = run.file_offset + done;
      return e;
    }
    done += static_cast<std::uint64_t>(n);
  }
  return {};
}

}  // namespace

Result<SliceRead> read_slice(const Model& model, std::string_view name, std::span<const DimSelection> dims,
                             bool release) {
  const TensorInfo info = RINGLOAD_TRY(model.tensor(name));
  const bool raw = exported_as_raw_bytes(info.dtype);
  const std::vector<std::uint64_t> shape =
      raw ? std::vector<std::uint64_t>{info.size} : row_major_shape(model.format(), info);
  if (dims.size() != shape.size()) {
    return slice_error(
        ErrorKind::invalid_argument, model, name,
        "the slice has " + std::to_string(dims.size()) + " dims, the tensor " + std::to_string(shape.size()));
  }
  std::uint64_t elements = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const DimSelection& d = dims[i];
    const bool inside =
        d.step >= 1 && (d.count == 0 || (d.start < shape[i] && (d.count - 1) * d.step < shape[i] - d.start));
    if (!inside) {
      return slice_error(ErrorKind::out_of_bounds, model, name,
                         "dim " + std::to_string(i) + " selection lies outside its " +
                             std::to_string(shape[i]) + " elements");
    }
    elements *= d.count;
  }
  const std::uint64_t item_bytes = raw ? 1 : dtype_info(info.dtype).block_bytes;
  std::vector<std::byte> bytes(elements * item_bytes);
  std::vector<std::uint64_t> counts;
  for (const DimSelection& d : dims) counts.push_back(d.count);
  SliceRead out;
  if (!bytes.empty()) {
    const std::vector<ByteRun> runs = byte_runs(info.offset, shape, dims, item_bytes);
    std::byte* next = bytes.data();
    const bool from_file = model.is_mmap() && model.fd() >= 0;
    // Readahead off for these reads only: the fd is the model's, which the pipeline reads too.
    if (from_file) (void)::posix_fadvise(model.fd(), 0, 0, POSIX_FADV_RANDOM);
    for (const ByteRun& run : runs) {
      if (from_file) {
        const auto read = pread_exactly(model, name, run, next);
        if (!read) {
          (void)::posix_fadvise(model.fd(), 0, 0, POSIX_FADV_NORMAL);
          return read.error();
        }
      } else {  // a compressed APR, decompressed on the heap when opened
        std::memcpy(next, model.image().data() + run.file_offset, run.bytes);
      }
      next += run.bytes;
      out.bytes_read += run.bytes;
    }
    if (from_file) {
      (void)::posix_fadvise(model.fd(), 0, 0, POSIX_FADV_NORMAL);
      if (release) {
        const ByteRun& last = runs.back();
        (void)::posix_fadvise(model.fd(), static_cast<off_t>(runs.front().file_offset),
                              static_cast<off_t>(last.file_offset + last.bytes - runs.front().file_offset),
                              POSIX_FADV_DONTNEED);
      }
    }
  }
  out.block = std::make_shared<TensorBlock>(
      BlockTensor{info.name, info.dtype, std::move(counts), bytes.size()}, std::move(bytes));
  return out;
}

}  // namespace ringload::python
