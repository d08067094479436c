#include "pipeline/slice.hpp"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>
#include <optional>
#include <string>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/checked.hpp"

namespace ringload {
namespace {

// A tensor seen as [outer, rows, inner] elements around the split dim.
struct Around {
  std::uint64_t outer = 1;
  std::uint64_t rows = 0;
  std::uint64_t inner = 1;
  std::uint64_t elements = 0;
};

Error slice_error(const TensorInfo& t, std::span<const std::uint64_t> dims, std::string why) {
  return make_error(ErrorKind::invalid_argument,
                    fmt::format("cannot slice tensor '{}' of row-major shape [{}] ({}): {}", t.name,
                                fmt::join(dims, ", "), dtype_name(t.dtype), why),
                    t.offset, t.name);
}

// Byte offset of element `e` in the tensor, or nullopt inside a quantization block. The tensor's
// own end (`end_element`, when a part may end there) is a boundary too: APR zero-pads a short last
// block.
constexpr std::uint64_t kNoEnd = ~std::uint64_t{0};
std::optional<std::uint64_t> byte_of(const TensorInfo& t, const DTypeInfo& info, std::uint64_t e,
                                     std::uint64_t end_element) {
  if (e == end_element) return t.size;
  if (e % info.block_elems != 0) return std::nullopt;
  return checked_mul(e / info.block_elems, info.block_bytes);
}

Result<Around> check_split(const TensorInfo& t, std::span<const std::uint64_t> dims, std::uint32_t dim,
                           std::uint32_t rank, std::uint32_t world) {
  if (world == 0 || rank >= world) {
    return slice_error(t, dims, fmt::format("part {} of {} does not exist (need rank < world)", rank, world));
  }
  if (dims.empty()) return slice_error(t, dims, "a scalar has no dim to split");
  if (dim >= dims.size()) {
    return slice_error(t, dims, fmt::format("dim {} does not exist (it has {} dims)", dim, dims.size()));
  }
  const DTypeInfo& info = dtype_info(t.dtype);
  if (info.prefix_bytes != 0) {
    return slice_error(t, dims,
                       "its per-tensor scale prefix belongs to every part; load it whole (no --slice rule "
                       "for it)");
  }
  Around a;
  a.rows = dims[dim];
  for (std::uint32_t i = 0; i < dims.size(); ++i) {
    auto& factor = i < dim ? a.outer : a.inner;
    if (i == dim) continue;
    auto product = checked_mul(factor, dims[i]);
    if (!product) return slice_error(t, dims, "its element count overflows");
    factor = *product;
  }
  auto rows_inner = checked_mul(a.rows, a.inner);
  auto elements = rows_inner ? checked_mul(*rows_inner, a.outer) : std::nullopt;
  if (!elements) return slice_error(t, dims, "its element count overflows");
  a.elements = *elements;
  if (info.block_elems <= 1 || a.elements == 0) return a;
  // Every part boundary of every rank (not only this one's: all ranks agree on refusing) must be
  // a block boundary in every outer index, which holds when the rows of one outer index are whole
  // blocks and the boundary is one in the first.
  const auto boundary_ok = [&](std::uint64_t row) {
    return byte_of(t, info, row * a.inner, a.outer == 1 ? a.elements : kNoEnd).has_value();
  };
  bool ok = a.outer == 1 || *rows_inner % info.block_elems == 0;
  const std::uint64_t parts = std::min<std::uint64_t>(world, a.rows);
  for (std::uint64_t k = 0; ok && k < parts; ++k) ok = boundary_ok(split_rows(a.rows, k, world).first);
  if (!ok) {
    return slice_error(t, dims,
                       fmt::format("splitting dim {} of {} rows in {} parts cuts its {}-element "
                                   "quantization blocks; split another dim or choose a world whose parts "
                                   "are multiples of {} elements",
                                   dim, a.rows, world, info.block_elems, info.block_elems));
  }
  return a;
}

}  // namespace

const SliceRule* matching_slice_rule(std::string_view name, std::span<const SliceRule> rules) noexcept {
  const std::string subject(name);
  for (const SliceRule& rule : rules) {
    if (::fnmatch(rule.pattern.c_str(), subject.c_str(), 0) == 0) return &rule;
  }
  return nullptr;
}

std::vector<std::uint64_t> row_major_dims(Format format, std::span<const std::uint64_t> shape) {
  std::vector<std::uint64_t> dims(shape.begin(), shape.end());
  if (format == Format::gguf) std::reverse(dims.begin(), dims.end());
  return dims;
}

std::pair<std::uint64_t, std::uint64_t> split_rows(std::uint64_t rows, std::uint32_t rank,
                                                   std::uint32_t world) noexcept {
  const std::uint64_t base = rows / world;
  const std::uint64_t extra = rows % world;
  const std::uint64_t first = base * rank + std::min<std::uint64_t>(rank, extra);
  return {first, first + base + (rank < extra ? 1 : 0)};
}

Result<SliceGeometry> slice_geometry(const TensorInfo& tensor, Format format, std::uint32_t dim,
                                     std::uint32_t rank, std::uint32_t world) {
  std::vector<std::uint64_t> dims = row_major_dims(format, tensor.shape);
  const Around a = RINGLOAD_TRY(check_split(tensor, dims, dim, rank, world));
  const DTypeInfo& info = dtype_info(tensor.dtype);
  const auto [first, end] = split_rows(a.rows, rank, world);
  SliceGeometry g;
  dims[dim] = end - first;
  g.shape = row_major_dims(format, dims);  // reversing twice gives the format's order back
  if (end == first || a.outer == 0 || a.inner == 0) return g;
  // check_split proved these are block boundaries: byte_of has a value.
  const std::uint64_t tensor_end = a.outer == 1 ? a.elements : kNoEnd;
  g.first_byte = byte_of(tensor, info, first * a.inner, tensor_end).value_or(0);
  g.run_bytes = byte_of(tensor, info, end * a.inner, tensor_end).value_or(0) - g.first_byte;
  g.stride_bytes = a.outer == 1 ? g.run_bytes : byte_of(tensor, info, a.rows * a.inner, kNoEnd).value_or(0);
  g.runs = a.outer;
  if (g.runs == 1 || g.run_bytes == g.stride_bytes) {  // one contiguous range
    g.run_bytes *= g.runs;
    g.stride_bytes = g.run_bytes;
    g.runs = 1;
  }
  return g;
}

Result<std::vector<std::byte>> copy_slice_rows(std::span<const std::byte> whole, const TensorInfo& tensor,
                                               Format format, std::uint32_t dim, std::uint32_t rank,
                                               std::uint32_t world) {
  const std::vector<std::uint64_t> dims = row_major_dims(format, tensor.shape);
  const Around a = RINGLOAD_TRY(check_split(tensor, dims, dim, rank, world));
  const DTypeInfo& info = dtype_info(tensor.dtype);
  const auto [first, end] = split_rows(a.rows, rank, world);
  const std::uint64_t tensor_end = a.outer == 1 ? a.elements : kNoEnd;
  std::vector<std::byte> out;
  const auto copy = [&](std::uint64_t from_element, std::uint64_t to_element) {
    const std::uint64_t from = byte_of(tensor, info, from_element, tensor_end).value_or(0);
    const std::uint64_t to = byte_of(tensor, info, to_element, tensor_end).value_or(0);
    const auto bytes = whole.subspan(from, to - from);
    out.insert(out.end(), bytes.begin(), bytes.end());
  };
  // Row by row where a row is whole blocks; a row inside a block (the innermost dim of a
  // quantized type) is copied with its part's neighbours, which check_split put on block edges.
  const bool whole_rows = a.inner % info.block_elems == 0;
  for (std::uint64_t o = 0; o < a.outer && first < end; ++o) {
    const std::uint64_t base = o * a.rows;
    if (!whole_rows) {
      copy((base + first) * a.inner, (base + end) * a.inner);
      continue;
    }
    for (std::uint64_t r = first; r < end; ++r) copy((base + r) * a.inner, (base + r + 1) * a.inner);
  }
  return out;
}

}  // namespace ringload
