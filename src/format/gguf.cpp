// GGUF v1/v2/v3 (little-endian) header → TensorTable. Layout and rules: shared/formats/GGUF.md.
// Every header field is read through ByteReader, every sum of header numbers is checked, and no
// container is sized by a count the file declares: a hostile header costs at most O(file size).
#include <array>
#include <cstdint>
#include <cstring>
#include <limits>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_set>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/byte_reader.hpp"
#include "base/checked.hpp"
#include "base/utf8.hpp"
#include "format/gguf_types.hpp"
#include "format/table.hpp"

namespace ringload {
namespace {

using gguf::kAlignmentKey;
using gguf::kDefaultAlignment;
using gguf::kGgmlTypes;
using gguf::kMaxDims;
using gguf::kMaxTensorNameBytes;
using gguf::kValueTypeCount;
using gguf::ValueType;

using gguf::fixed_value_bytes;

// A cursor that knows the version's integer widths: v1 stores counts, string and array lengths
// and dims as u32 where v2/v3 use u64.
class GgufCursor {
 public:
  GgufCursor(std::span<const std::byte> image, std::uint64_t pos, bool v1) : reader_(image, pos), v1_(v1) {}

  [[nodiscard]] std::uint64_t pos() const { return reader_.pos(); }
  [[nodiscard]] std::uint64_t remaining() const { return reader_.remaining(); }
  [[nodiscard]] std::uint64_t file_size() const { return reader_.size(); }
  [[nodiscard]] std::uint64_t length_bytes() const { return v1_ ? 4 : 8; }

  template <class T>
  Result<T> read(std::string_view what) {
    const std::uint64_t at = pos();
    T value{};
    if (!reader_.read(value)) return past_eof(what, at, sizeof(T));
    return value;
  }

  // A count, length or dim: u32 in v1, u64 otherwise.
  Result<std::uint64_t> read_length(std::string_view what) {
    if (v1_) return RINGLOAD_TRY(read<std::uint32_t>(what));
    return read<std::uint64_t>(what);
  }

  // A length-prefixed string. A length that claims more than remains is truncated at the
  // length field, checked before any byte is looked at.
  Result<std::string_view> read_string(std::string_view what) {
    const std::uint64_t at = pos();
    const std::uint64_t length = RINGLOAD_TRY(read_length(what));
    std::string_view text;
    if (!reader_.read_string(length, text)) {
      return make_error(ErrorKind::truncated,
                        fmt::format("{} declares {} bytes but only {} remain before the end of the file "
                                    "({} bytes)",
                                    what, length, remaining(), file_size()),
                        at);
    }
    return text;
  }

  Result<std::span<const std::byte>> read_bytes(std::uint64_t n, std::string_view what) {
    const std::uint64_t at = pos();
    std::span<const std::byte> bytes;
    if (!reader_.read_bytes(n, bytes)) return past_eof(what, at, n);
    return bytes;
  }

 private:
  Error past_eof(std::string_view what, std::uint64_t at, std::uint64_t need) const {
    return make_error(
        ErrorKind::truncated,
        fmt::format("{} needs {} bytes at byte {} but the file ends at byte {}", what, need, at, file_size()),
        at);
  }

  ByteReader reader_;
  bool v1_;
};

struct Preamble {
  std::uint32_t version = 0;
  std::uint64_t tensor_count = 0;
  std::uint64_t kv_count = 0;
  std::uint64_t tensor_count_at = 0;
  std::uint64_t kv_count_at = 0;
  std::uint64_t end = 0;
};

Result<std::uint32_t> read_version(std::span<const std::byte> image) {
  if (image.size() < 4) {
    return make_error(ErrorKind::truncated,
                      fmt::format("file has {} bytes, too short for the 4-byte GGUF magic", image.size()), 0);
  }
  if (std::memcmp(image.data(), "GGUF", 4) != 0) {
    return make_error(ErrorKind::bad_magic, "expected the magic 'GGUF' (47 47 55 46) at byte 0", 0);
  }
  ByteReader reader(image, 4);
  std::uint32_t version = 0;
  if (!reader.read(version)) {
    return make_error(
        ErrorKind::truncated,
        fmt::format("the u32 version at byte 4 is cut off: the file has {} bytes", image.size()), 4);
  }
  if (version == 0) {
    return make_error(ErrorKind::unsupported_version, "GGUF version 0 does not exist; expected 1, 2 or 3", 4);
  }
  // No marker says a file is big-endian; ggml's heuristic: a version whose low 16 bits are all
  // zero is a small number stored in the other byte order.
  if ((version & 0xFFFFu) == 0) {
    return make_error(ErrorKind::unsupported_feature,
                      fmt::format("version field reads 0x{:08x}: this is a big-endian GGUF file "
                                  "(version {}); only little-endian files are supported, convert it "
                                  "with gguf-py's gguf_convert_endian.py",
                                  version, __builtin_bswap32(version)),
                      4);
  }
  if (version > 3) {
    return make_error(ErrorKind::unsupported_version,
                      fmt::format("GGUF version {} is newer than this reader (1, 2 and 3)", version), 4);
  }
  return version;
}

// Rejects counts that cannot fit in the bytes left, before any loop runs or container grows.
Result<void> check_count_fits(std::uint64_t count, std::uint64_t min_bytes_each, std::uint64_t remaining,
                              std::string_view what, std::uint64_t count_at) {
  const auto need = checked_mul(count, min_bytes_each);
  if (!need || *need > remaining) {
    return make_error(ErrorKind::truncated,
                      fmt::format("header declares {} {}, which need at least {} bytes each, but only {} "
                                  "bytes follow the header counts",
                                  count, what, min_bytes_each, remaining),
                      count_at);
  }
  return {};
}

Result<Preamble> read_preamble(std::span<const std::byte> image) {
  Preamble p;
  p.version = RINGLOAD_TRY(read_version(image));
  GgufCursor cursor(image, 8, p.version == 1);
  p.tensor_count_at = cursor.pos();
  p.tensor_count = RINGLOAD_TRY(cursor.read_length("tensor count"));
  p.kv_count_at = cursor.pos();
  p.kv_count = RINGLOAD_TRY(cursor.read_length("metadata key/value count"));
  p.end = cursor.pos();
  // Smallest encodings: a tensor info is name length + n_dims + type + offset; a key/value pair
  // is key length + value type + a 1-byte value.
  const std::uint64_t len = cursor.length_bytes();
  RINGLOAD_TRY_VOID(
      check_count_fits(p.tensor_count, len + 4 + 4 + 8, cursor.remaining(), "tensors", p.tensor_count_at));
  RINGLOAD_TRY_VOID(check_count_fits(p.kv_count, len + 4 + 1, cursor.remaining(), "metadata key/value pairs",
                                     p.kv_count_at));
  return p;
}

Result<ValueType> read_value_type(GgufCursor& cursor, std::string_view what) {
  const std::uint64_t at = cursor.pos();
  const auto raw = RINGLOAD_TRY(cursor.read<std::uint32_t>(what));
  if (raw >= kValueTypeCount) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("unknown {} {}; GGUF defines 0..12", what, raw), at);
  }
  return static_cast<ValueType>(raw);
}

// Decodes one fixed-width value; `p` points at sizeof-type bytes already bounds-checked.
MetadataValue decode_fixed(ValueType type, const std::byte* p) {
  switch (type) {
    case ValueType::u8: return load_le<std::uint8_t>(p);
    case ValueType::i8: return load_le<std::int8_t>(p);
    case ValueType::u16: return load_le<std::uint16_t>(p);
    case ValueType::i16: return load_le<std::int16_t>(p);
    case ValueType::u32: return load_le<std::uint32_t>(p);
    case ValueType::i32: return load_le<std::int32_t>(p);
    case ValueType::f32: return static_cast<double>(load_le<float>(p));
    // The spec allows only 0 and 1; ggml reads any non-zero byte as true, and so do we.
    case ValueType::boolean: return load_le<std::uint8_t>(p) != 0;
    case ValueType::u64: return load_le<std::uint64_t>(p);
    case ValueType::i64: return load_le<std::int64_t>(p);
    case ValueType::f64: return load_le<double>(p);
    case ValueType::string:
    case ValueType::array: break;
  }
  return {};
}

Result<MetadataValue> read_array(GgufCursor& cursor) {
  const std::uint64_t at = cursor.pos();
  const ValueType elem_type = RINGLOAD_TRY(read_value_type(cursor, "array element type"));
  if (elem_type == ValueType::array) {
    return make_error(ErrorKind::malformed_header,
                      "array of arrays: nested arrays are not supported (ggml rejects them too)", at);
  }
  const std::uint64_t count = RINGLOAD_TRY(cursor.read_length("array length"));
  const std::uint64_t fixed = fixed_value_bytes(elem_type);
  // A string element is at least its length field.
  const std::uint64_t min_each = fixed != 0 ? fixed : cursor.length_bytes();
  const auto need = checked_mul(count, min_each);
  if (!need || *need > cursor.remaining()) {
    return make_error(ErrorKind::truncated,
                      fmt::format("array of {} elements needs at least {} bytes each, but only {} bytes "
                                  "remain before the end of the file",
                                  count, min_each, cursor.remaining()),
                      at);
  }
  MetadataValue::Array elems;
  if (fixed != 0) {
    const auto bytes = RINGLOAD_TRY(cursor.read_bytes(*need, "array elements"));
    for (std::uint64_t i = 0; i < count; ++i) {
      elems.push_back(decode_fixed(elem_type, bytes.data() + i * fixed));
    }
    return MetadataValue(std::move(elems));
  }
  for (std::uint64_t i = 0; i < count; ++i) {
    elems.emplace_back(RINGLOAD_TRY(cursor.read_string("string array element")));
  }
  return MetadataValue(std::move(elems));
}

Result<MetadataValue> read_value(GgufCursor& cursor, ValueType type) {
  if (type == ValueType::string) return MetadataValue(RINGLOAD_TRY(cursor.read_string("string value")));
  if (type == ValueType::array) return read_array(cursor);
  const auto bytes = RINGLOAD_TRY(cursor.read_bytes(fixed_value_bytes(type), "metadata value"));
  return decode_fixed(type, bytes.data());
}

// general.alignment must be a u32 non-zero power of two (ggml's rule; the spec's "multiple of 8"
// is looser but no writer relies on it).
Result<std::uint64_t> check_alignment(ValueType type, std::uint64_t type_at, const MetadataValue& value,
                                      std::uint64_t value_at) {
  if (type != ValueType::u32) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("{} has value type {}; it must be a u32 (type 4)", kAlignmentKey,
                                  static_cast<std::uint32_t>(type)),
                      type_at);
  }
  const std::uint64_t* alignment = value.if_uint64();
  if (alignment == nullptr || !is_power_of_two(*alignment)) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("{} is {}; it must be a non-zero power of two", kAlignmentKey,
                                  alignment != nullptr ? *alignment : 0),
                      value_at);
  }
  return *alignment;
}

struct MetadataResult {
  MetadataValue::Object metadata;
  std::uint64_t alignment = kDefaultAlignment;
};

Result<MetadataResult> read_metadata(GgufCursor& cursor, std::uint64_t kv_count) {
  MetadataResult out;
  // Views into the image, which outlives the parse; a hash set keeps duplicate checks O(1).
  std::unordered_set<std::string_view> seen;
  for (std::uint64_t i = 0; i < kv_count; ++i) {
    const std::uint64_t key_at = cursor.pos();
    const std::string_view key = RINGLOAD_TRY(cursor.read_string("metadata key"));
    if (key.empty()) {
      return make_error(ErrorKind::invalid_name, fmt::format("metadata key #{} is empty", i), key_at);
    }
    if (!seen.insert(key).second) {
      return make_error(ErrorKind::duplicate_name,
                        fmt::format("metadata key '{}' appears twice; keys must be unique", key), key_at);
    }
    const std::uint64_t type_at = cursor.pos();
    const ValueType type = RINGLOAD_TRY(read_value_type(cursor, "metadata value type"));
    const std::uint64_t value_at = cursor.pos();
    MetadataValue value = RINGLOAD_TRY(read_value(cursor, type));
    if (key == kAlignmentKey) out.alignment = RINGLOAD_TRY(check_alignment(type, type_at, value, value_at));
    out.metadata.push_back({std::string(key), std::move(value)});
  }
  return out;
}

// A tensor info as read, placed once the data section's start is known.
struct PendingTensor {
  TensorInfo info;
  std::uint64_t relative_offset = 0;
  std::uint64_t offset_field_at = 0;
};

Result<std::string_view> read_tensor_name(GgufCursor& cursor, std::uint64_t index,
                                          std::unordered_set<std::string_view>& seen) {
  const std::uint64_t at = cursor.pos();
  const std::string_view name = RINGLOAD_TRY(cursor.read_string("tensor name"));
  // An empty name is legal: ggml's reader accepts it (only length and uniqueness are checked).
  if (name.size() > kMaxTensorNameBytes) {
    return make_error(
        ErrorKind::invalid_name,
        fmt::format("tensor name is {} bytes; ggml allows at most {}", name.size(), kMaxTensorNameBytes), at,
        std::string(name));
  }
  if (auto bad = first_invalid_utf8(name)) {
    return make_error(
        ErrorKind::invalid_name,
        fmt::format("name of tensor #{} is not UTF-8 (invalid byte at index {} of the name)", index, *bad),
        at);
  }
  if (!seen.insert(name).second) {
    return make_error(ErrorKind::duplicate_name, "two tensors have this name", at, std::string(name));
  }
  return name;
}

// Reads n_dims and the dims (ne[0] first); rejects > 4 dims, dims ggml's int64 cannot hold and
// element counts that overflow. Returns the offset of ne[0] (or of n_dims for a scalar).
Result<std::uint64_t> read_dims(GgufCursor& cursor, const std::string& name,
                                std::vector<std::uint64_t>& shape) {
  const std::uint64_t n_dims_at = cursor.pos();
  const auto n_dims = RINGLOAD_TRY(cursor.read<std::uint32_t>("tensor n_dims"));
  if (n_dims > kMaxDims) {
    return make_error(ErrorKind::invalid_shape,
                      fmt::format("{} dimensions; GGUF allows at most {}", n_dims, kMaxDims), n_dims_at,
                      name);
  }
  const std::uint64_t first_dim_at = n_dims == 0 ? n_dims_at : cursor.pos();
  std::uint64_t elements = 1;
  for (std::uint32_t d = 0; d < n_dims; ++d) {
    const std::uint64_t dim_at = cursor.pos();
    const std::uint64_t dim = RINGLOAD_TRY(cursor.read_length("tensor dimension"));
    if (dim > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      return make_error(ErrorKind::invalid_shape,
                        fmt::format("ne[{}] = {} is negative as the int64 ggml reads it", d, dim), dim_at,
                        name);
    }
    const auto product = checked_mul(elements, dim);
    if (!product) {
      return make_error(ErrorKind::invalid_shape,
                        fmt::format("element count overflows 64 bits at ne[{}] = {}", d, dim), dim_at, name);
    }
    elements = *product;
    shape.push_back(dim);
  }
  return first_dim_at;
}

Result<DType> read_ggml_type(GgufCursor& cursor, const std::string& name) {
  const std::uint64_t at = cursor.pos();
  const auto id = RINGLOAD_TRY(cursor.read<std::uint32_t>("tensor type"));
  if (id >= kGgmlTypes.size()) {
    return make_error(ErrorKind::unknown_dtype,
                      fmt::format("unknown ggml type id {} (known: 0..{}); the file may come from a newer "
                                  "llama.cpp",
                                  id, kGgmlTypes.size() - 1),
                      at, name);
  }
  const gguf::GgmlType& type = kGgmlTypes[id];
  if (!type.dtype) {
    return make_error(ErrorKind::unknown_dtype,
                      fmt::format("ggml type id {} ({}) was removed from ggml and has no defined size; "
                                  "re-convert the model with a current llama.cpp",
                                  id, type.removed_name),
                      at, name);
  }
  return *type.dtype;
}

// ggml keeps quant blocks within a row: ne[0] must be a whole number of blocks.
Result<std::uint64_t> tensor_byte_size(const TensorInfo& t, std::uint64_t first_dim_at) {
  const DTypeInfo& info = dtype_info(t.dtype);
  const std::uint64_t row_elems = t.shape.empty() ? 1 : t.shape[0];
  if (row_elems % info.block_elems != 0) {
    return make_error(ErrorKind::invalid_shape,
                      fmt::format("ne[0] = {} is not a multiple of {}'s block of {} elements", row_elems,
                                  info.name, info.block_elems),
                      first_dim_at, t.name);
  }
  const auto elements = element_count(t.shape);  // cannot fail: read_dims checked the product
  const auto size = elements ? dtype_byte_size(t.dtype, *elements) : std::nullopt;
  if (!size) {
    return make_error(
        ErrorKind::invalid_shape,
        fmt::format("byte size of {} elements of {} overflows 64 bits", elements.value_or(0), info.name),
        first_dim_at, t.name);
  }
  return *size;
}

Result<PendingTensor> read_tensor_info(GgufCursor& cursor, std::uint64_t index,
                                       std::unordered_set<std::string_view>& seen) {
  PendingTensor t;
  t.info.name = std::string(RINGLOAD_TRY(read_tensor_name(cursor, index, seen)));
  const std::uint64_t first_dim_at = RINGLOAD_TRY(read_dims(cursor, t.info.name, t.info.shape));
  t.info.dtype = RINGLOAD_TRY(read_ggml_type(cursor, t.info.name));
  t.info.size = RINGLOAD_TRY(tensor_byte_size(t.info, first_dim_at));
  t.offset_field_at = cursor.pos();
  // Tensor offsets are u64 in every version, v1 included.
  t.relative_offset = RINGLOAD_TRY(cursor.read<std::uint64_t>("tensor data offset"));
  return t;
}

// Turns a relative offset into an absolute range inside the file. ggml additionally demands that
// tensors be contiguous in info order; other writers leave gaps, so we check only what a reader
// needs: aligned, in bounds, no overlap.
Result<TensorInfo> place_tensor(PendingTensor t, std::uint64_t data_start, std::uint64_t alignment,
                                std::uint64_t file_size) {
  const auto start = checked_add(data_start, t.relative_offset);
  const auto end = start ? checked_add(*start, t.info.size) : std::nullopt;
  if (!end) {
    return make_error(ErrorKind::overflow,
                      fmt::format("data start {} + offset {} + size {} overflows 64 bits", data_start,
                                  t.relative_offset, t.info.size),
                      t.offset_field_at, t.info.name);
  }
  if (t.relative_offset % alignment != 0) {
    return make_error(ErrorKind::misaligned,
                      fmt::format("offset {} in the data section is not a multiple of the alignment {}",
                                  t.relative_offset, alignment),
                      *start, t.info.name);
  }
  if (*end > file_size) {
    return make_error(ErrorKind::truncated,
                      fmt::format("tensor ends at byte {} but the file has {} bytes (interrupted download?)",
                                  *end, file_size),
                      *start, t.info.name);
  }
  t.info.offset = *start;
  return std::move(t.info);
}

}  // namespace

Result<TensorTable> parse_gguf(std::span<const std::byte> image) {
  const Preamble preamble = RINGLOAD_TRY(read_preamble(image));
  GgufCursor cursor(image, preamble.end, preamble.version == 1);

  MetadataResult meta = RINGLOAD_TRY(read_metadata(cursor, preamble.kv_count));

  std::vector<PendingTensor> pending;
  std::unordered_set<std::string_view> names;
  for (std::uint64_t i = 0; i < preamble.tensor_count; ++i) {
    pending.push_back(RINGLOAD_TRY(read_tensor_info(cursor, i, names)));
  }

  // Zero-tensor files (vocabulary-only GGUFs) end right after the infos; their aligned data
  // start may lie past EOF, which is fine as long as no tensor lives there.
  const std::uint64_t infos_end = cursor.pos();
  const auto data_start = align_up(infos_end, meta.alignment);
  if (!data_start) {
    return make_error(
        ErrorKind::overflow,
        fmt::format("aligning the data section start {} to {} overflows", infos_end, meta.alignment),
        infos_end);
  }

  TensorTable table;
  table.format = Format::gguf;
  table.version = preamble.version;
  table.metadata = std::move(meta.metadata);
  table.alignment = meta.alignment;
  table.data_offset = *data_start;
  for (PendingTensor& t : pending) {
    table.tensors.push_back(
        RINGLOAD_TRY(place_tensor(std::move(t), *data_start, meta.alignment, image.size())));
  }
  RINGLOAD_TRY_VOID(sort_and_check_overlaps(table.tensors));
  return table;
}

}  // namespace ringload
