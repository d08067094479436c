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

// The selected element count, or out_of_bounds naming the dim whose selection leaves the tensor.
Result<std::uint64_t> selected_elements(const Model& model, std::string_view name,
                                        std::span<const std::uint64_t> shape,
                                        std::span<const DimSelection> dims) {
  if (dims.size() != shape.size()) {
    return slice_error(
        ErrorKind::invalid_argument, model, name,
        "the slice has " + std::to_string(dims.size()) + " dims, the tensor " + std::to_string(shape.size()));
  }
  std::uint64_t elements = 1;
  for (std::size_t i = 0; i < dims.size(); ++i) {
    const DimSelection& d = dims[i];
    std::uint64_t last = 0;  // offset of the last selected index from the first
    const bool inside =
        d.step >= 1 &&
        (d.count == 0 || (d.start < shape[i] && !__builtin_mul_overflow(d.count - 1, d.step, &last) &&
                          last < shape[i] - d.start));
    if (!inside) {
      return slice_error(ErrorKind::out_of_bounds, model, name,
                         "dim " + std::to_string(i) + " selection lies outside its " +
                             std::to_string(shape[i]) + " elements");
    }
    elements *= d.count;  // no overflow: each count fits its dim, and the dims' product fits the file
  }
  return elements;
}

// Readahead off while the runs are read (the kernel would read past each run), back on after:
// the fd is the model's, which the pipeline reads too.
class NoReadahead {
 public:
  explicit NoReadahead(int fd) : fd_(fd) { (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_RANDOM); }
  NoReadahead(const NoReadahead&) = delete;
  NoReadahead& operator=(const NoReadahead&) = delete;
  ~NoReadahead() { (void)::posix_fadvise(fd_, 0, 0, POSIX_FADV_NORMAL); }

 private:
  int fd_;
};

Result<void> read_runs(const Model& model, std::string_view name, std::span<const ByteRun> runs,
                       std::byte* out, bool release) {
  if (!model.is_mmap() || model.fd() < 0) {  // a compressed APR, decompressed onto the heap when opened
    for (const ByteRun& run : runs) {
      std::memcpy(out, model.image().data() + run.file_offset, run.bytes);
      out += run.bytes;
    }
    return {};
  }
  {
    const NoReadahead exact(model.fd());
    for (const ByteRun& run : runs) {
      RINGLOAD_TRY_VOID(pread_exactly(model, name, run, out));
      out += run.bytes;
    }
  }
  if (release && !runs.empty()) {
    const std::uint64_t first = runs.front().file_offset;
    const std::uint64_t end = runs.back().file_offset + runs.back().bytes;
    (void)::posix_fadvise(model.fd(), static_cast<off_t>(first), static_cast<off_t>(end - first),
                          POSIX_FADV_DONTNEED);
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
  const std::uint64_t elements = RINGLOAD_TRY(selected_elements(model, name, shape, dims));
  const std::uint64_t item_bytes = raw ? 1 : dtype_info(info.dtype).block_bytes;
  std::vector<std::byte> bytes(elements * item_bytes);
  SliceRead out;
  if (!bytes.empty()) {
    const std::vector<ByteRun> runs = byte_runs(info.offset, shape, dims, item_bytes);
    RINGLOAD_TRY_VOID(read_runs(model, name, runs, bytes.data(), release));
    out.bytes_read = bytes.size();
  }
  std::vector<std::uint64_t> counts;
  for (const DimSelection& d : dims) counts.push_back(d.count);
  out.block = std::make_shared<TensorBlock>(
      BlockTensor{info.name, info.dtype, std::move(counts), bytes.size()}, std::move(bytes));
  return out;
}

}  // namespace ringload::python
