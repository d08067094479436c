// safetensors: u64 header length N, N bytes of UTF-8 JSON, then the data buffer that the tensors
// tile exactly (shared/formats/SAFETENSORS.md). We enforce what the reference crate's
// read_metadata + Metadata::validate enforce, so a file we accept is one it accepts.
//
// Offsets in errors: the JSON DOM does not remember where a value sat in the header, so a
// malformed entry or an overflowing data_offsets field is reported at the header start (byte 8);
// every other problem with one tensor is reported where its data starts (8 + N + begin).

#include <algorithm>
#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/byte_reader.hpp"
#include "base/checked.hpp"
#include "base/json.hpp"
#include "base/utf8.hpp"
#include "format/table.hpp"

namespace ringload {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::uint64_t kLengthFieldBytes = 8;
constexpr std::uint64_t kHeaderStart = kLengthFieldBytes;
// The reference crate's MAX_HEADER_SIZE: a bigger header is refused before it is read.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;
constexpr std::string_view kMetadataKey = "__metadata__";

struct SafetensorsDType {
  std::string_view name;
  DType dtype;
  std::uint64_t bits;
};

// Only the safetensors spellings (§3): dtype_from_name also knows GGUF/APR names such as Q4_K,
// which a safetensors reader must reject.
constexpr std::array kDTypes = {
    SafetensorsDType{"BOOL", DType::BOOL, 8},
    SafetensorsDType{"F4", DType::F4, 4},
    SafetensorsDType{"F6_E2M3", DType::F6_E2M3, 6},
    SafetensorsDType{"F6_E3M2", DType::F6_E3M2, 6},
    SafetensorsDType{"U8", DType::U8, 8},
    SafetensorsDType{"I8", DType::I8, 8},
    SafetensorsDType{"F8_E5M2", DType::F8_E5M2, 8},
    SafetensorsDType{"F8_E4M3", DType::F8_E4M3, 8},
    SafetensorsDType{"F8_E8M0", DType::F8_E8M0, 8},
    SafetensorsDType{"F8_E4M3FNUZ", DType::F8_E4M3FNUZ, 8},
    SafetensorsDType{"F8_E5M2FNUZ", DType::F8_E5M2FNUZ, 8},
    SafetensorsDType{"I16", DType::I16, 16},
    SafetensorsDType{"U16", DType::U16, 16},
    SafetensorsDType{"F16", DType::F16, 16},
    SafetensorsDType{"BF16", DType::BF16, 16},
    SafetensorsDType{"I32", DType::I32, 32},
    SafetensorsDType{"U32", DType::U32, 32},
    SafetensorsDType{"F32", DType::F32, 32},
    SafetensorsDType{"C64", DType::C64, 64},
    SafetensorsDType{"F64", DType::F64, 64},
    SafetensorsDType{"I64", DType::I64, 64},
    SafetensorsDType{"U64", DType::U64, 64},
};

std::optional<SafetensorsDType> find_dtype(std::string_view name) noexcept {
  for (const auto& entry : kDTypes) {
    if (entry.name == name) return entry;  // exact, case-sensitive, as the reference
  }
  return std::nullopt;
}

// One header entry after its JSON shape has been checked; offsets still relative to the buffer.
struct Entry {
  std::string name;
  std::string dtype_name;
  std::vector<std::uint64_t> shape;
  std::uint64_t begin = 0;  // relative to the data buffer
  std::uint64_t end = 0;
};

Error entry_error(const std::string& name, std::string what) {
  return make_error(ErrorKind::malformed_header, fmt::format("header entry: {}", what), kHeaderStart, name);
}

// A JSON array of non-negative integers that fit u64 (nlohmann parses those as unsigned; a
// negative number is number_integer, a fraction or a number past 2^64-1 is number_float).
std::optional<std::vector<std::uint64_t>> unsigned_array(const Json& value) {
  if (!value.is_array()) return std::nullopt;
  std::vector<std::uint64_t> out;
  out.reserve(value.size());  // bounded by the header bytes already parsed
  for (const Json& item : value) {
    if (!item.is_number_unsigned()) return std::nullopt;
    out.push_back(item.get_ref<const Json::number_unsigned_t&>());
  }
  return out;
}

Result<Entry> read_entry(const std::string& name, const Json& value) {
  if (!value.is_object()) {
    return entry_error(name, fmt::format("expected an object with dtype, shape and data_offsets, found {}",
                                         value.type_name()));
  }
  Entry entry;
  entry.name = name;

  const auto dtype = value.find("dtype");
  if (dtype == value.end()) {
    return entry_error(name, "\"dtype\" is missing (an entry needs dtype, shape and data_offsets)");
  }
  if (!dtype->is_string()) {
    return entry_error(name, fmt::format("\"dtype\" must be a string, found {}", dtype->type_name()));
  }
  entry.dtype_name = dtype->get_ref<const std::string&>();

  const auto shape = value.find("shape");
  if (shape == value.end()) return entry_error(name, "\"shape\" is missing");
  auto dims = unsigned_array(*shape);
  if (!dims) {
    return entry_error(name, fmt::format("\"shape\" must be an array of non-negative integers, found {}",
                                         dump_json(*shape)));
  }
  entry.shape = std::move(*dims);

  const auto offsets = value.find("data_offsets");
  if (offsets == value.end()) return entry_error(name, "\"data_offsets\" is missing");
  auto range = unsigned_array(*offsets);
  if (!range || range->size() != 2) {
    return entry_error(name, fmt::format("\"data_offsets\" must be [begin, end] (two non-negative integers "
                                         "below 2^64), found {}",
                                         dump_json(*offsets)));
  }
  entry.begin = (*range)[0];
  entry.end = (*range)[1];
  return entry;
}

Result<Json> read_metadata(const Json& value) {
  // The reference types it Option<HashMap<String, String>>: null means "no metadata".
  if (value.is_null()) return Json::object();
  if (!value.is_object()) {
    return make_error(
        ErrorKind::malformed_header,
        fmt::format("\"{}\" must be an object of string values, found {}", kMetadataKey, value.type_name()),
        kHeaderStart);
  }
  for (const auto& [key, item] : value.items()) {
    if (!item.is_string()) {
      // dump_json escapes the key: metadata is hostile text and must stay inert when printed.
      return make_error(ErrorKind::malformed_header,
                        fmt::format("\"{}\" value for key {} must be a string, found {}", kMetadataKey,
                                    dump_json(Json(key)), item.type_name()),
                        kHeaderStart);
    }
  }
  return value;
}

// Turns a checked entry into a TensorInfo with absolute offsets; every per-tensor rule of
// Metadata::validate except the tiling, which needs all tensors.
Result<TensorInfo> to_tensor(Entry entry, std::uint64_t data_offset) {
  const auto abs_begin = checked_add(data_offset, entry.begin);
  if (!abs_begin) {
    return make_error(
        ErrorKind::overflow,
        fmt::format("data_offsets begin {} + data start {} overflows 64 bits", entry.begin, data_offset),
        kHeaderStart, entry.name);
  }
  if (entry.end < entry.begin) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("data_offsets [{}, {}] ends before it begins", entry.begin, entry.end),
                      *abs_begin, entry.name);
  }
  if (!checked_add(data_offset, entry.end)) {
    return make_error(
        ErrorKind::overflow,
        fmt::format("data_offsets end {} + data start {} overflows 64 bits", entry.end, data_offset),
        kHeaderStart, entry.name);
  }
  const auto dtype = find_dtype(entry.dtype_name);
  if (!dtype) {
    return make_error(ErrorKind::unknown_dtype,
                      fmt::format("dtype {} is not a safetensors dtype (names are exact and upper-case, "
                                  "e.g. F32, BF16, I64)",
                                  dump_json(Json(entry.dtype_name))),
                      *abs_begin, entry.name);
  }
  const auto elements = element_count(entry.shape);
  const auto bits = elements ? checked_mul(*elements, dtype->bits) : std::nullopt;
  if (!bits) {
    return make_error(ErrorKind::invalid_shape,
                      fmt::format("shape {} of {} has more bits than 64 bits can count",
                                  dump_json(Json(entry.shape)), dtype->name),
                      *abs_begin, entry.name);
  }
  if (*bits % 8 != 0) {
    return make_error(ErrorKind::invalid_shape,
                      fmt::format("shape {} of {} is {} bits, not a whole number of bytes",
                                  dump_json(Json(entry.shape)), dtype->name, *bits),
                      *abs_begin, entry.name);
  }
  const std::uint64_t size_bytes = *bits / 8;
  if (entry.end - entry.begin != size_bytes) {
    return make_error(ErrorKind::size_mismatch,
                      fmt::format("data_offsets [{}, {}] hold {} bytes, but {} x shape {} needs {} bytes",
                                  entry.begin, entry.end, entry.end - entry.begin, dtype->name,
                                  dump_json(Json(entry.shape)), size_bytes),
                      *abs_begin, entry.name);
  }
  return TensorInfo{.name = std::move(entry.name),
                    .dtype = dtype->dtype,
                    .shape = std::move(entry.shape),
                    .offset = *abs_begin,
                    .size = size_bytes};
}

// The reference's "no holes" rule: sorted by (begin, end), the ranges tile [0, last end) exactly,
// and the buffer ends at EOF. It keeps polyglot files (hidden bytes between tensors) out.
Result<void> check_tiling(std::vector<TensorInfo> tensors, std::uint64_t data_offset,
                          std::uint64_t file_bytes) {
  std::sort(tensors.begin(), tensors.end(), [](const TensorInfo& a, const TensorInfo& b) {
    if (a.offset != b.offset) return a.offset < b.offset;
    if (a.size != b.size) return a.size < b.size;  // empty tensors first, as the reference's tuple sort
    return a.name < b.name;
  });
  std::uint64_t expected = data_offset;  // absolute; sums cannot overflow: to_tensor checked each end
  const TensorInfo* previous = nullptr;
  for (const TensorInfo& t : tensors) {
    if (t.offset > expected) {
      return make_error(ErrorKind::gap,
                        previous == nullptr
                            ? fmt::format("the first tensor starts {} bytes into the data buffer; it must "
                                          "start at data_offsets 0",
                                          t.offset - data_offset)
                            : fmt::format("{} bytes after tensor '{}' belong to no tensor; safetensors "
                                          "forbids holes",
                                          t.offset - expected, previous->name),
                        t.offset, t.name);
    }
    if (t.offset < expected) {
      return make_error(ErrorKind::overlap,
                        fmt::format("starts {} bytes before the end of tensor '{}'; tensors must not share "
                                    "bytes",
                                    expected - t.offset, previous->name),
                        t.offset, t.name);
    }
    expected = t.offset + t.size;
    previous = &t;
  }
  for (const TensorInfo& t : tensors) {
    if (t.offset + t.size > file_bytes) {
      return make_error(ErrorKind::truncated,
                        fmt::format("tensor data [{}, {}) runs past the end of the file ({} bytes); "
                                    "interrupted download?",
                                    t.offset, t.offset + t.size, file_bytes),
                        t.offset, t.name);
    }
  }
  if (expected < file_bytes) {
    return make_error(ErrorKind::gap,
                      fmt::format("{} trailing bytes after the last tensor (data ends at {}, the file has {} "
                                  "bytes); safetensors forbids bytes no tensor covers",
                                  file_bytes - expected, expected, file_bytes),
                      expected);
  }
  return {};
}

}  // namespace

Result<TensorTable> parse_safetensors(std::span<const std::byte> image) {
  ByteReader reader(image);
  std::uint64_t header_bytes = 0;
  if (!reader.read(header_bytes)) {
    return make_error(ErrorKind::truncated,
                      fmt::format("file has {} bytes; a safetensors file starts with an 8-byte header length",
                                  image.size()),
                      0);
  }
  if (header_bytes > kMaxHeaderBytes) {
    return make_error(ErrorKind::header_too_large,
                      fmt::format("header length {} exceeds the safetensors limit of {} bytes", header_bytes,
                                  kMaxHeaderBytes),
                      0);
  }
  const auto data_offset = checked_add(kLengthFieldBytes, header_bytes);
  std::string_view header;
  if (!data_offset || !reader.read_string(header_bytes, header)) {
    return make_error(
        ErrorKind::truncated,
        fmt::format("header length is {} bytes, so the header would end at byte 8 + {}, but the "
                    "file has only {} bytes (interrupted download, or not a safetensors file?)",
                    header_bytes, header_bytes, image.size()),
        0);
  }

  if (const auto bad = first_invalid_utf8(header)) {
    return make_error(ErrorKind::malformed_header, "header is not valid UTF-8", kHeaderStart + *bad);
  }
  // JSON whitespace around the object is allowed: writers pad the header to align the data.
  const Json root = RINGLOAD_TRY(parse_json(header, kHeaderStart));
  if (!root.is_object()) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("header must be a JSON object, found {}", root.type_name()), kHeaderStart);
  }

  TensorTable table;
  table.format = Format::safetensors;
  table.version = 0;
  table.data_offset = *data_offset;
  table.alignment = 1;                 // the format promises none
  table.tensors.reserve(root.size());  // bounded by the header bytes already parsed
  for (const auto& [key, value] : root.items()) {
    if (key == kMetadataKey) {
      table.metadata = RINGLOAD_TRY(read_metadata(value));
      continue;
    }
    Entry entry = RINGLOAD_TRY(read_entry(key, value));
    table.tensors.push_back(RINGLOAD_TRY(to_tensor(std::move(entry), *data_offset)));
  }

  RINGLOAD_TRY_VOID(check_tiling(table.tensors, *data_offset, image.size()));
  RINGLOAD_TRY_VOID(sort_and_check_overlaps(table.tensors));
  return table;
}

}  // namespace ringload
