// safetensors: u64 header length N, N bytes of UTF-8 JSON, then the data buffer that the tensors
// tile exactly (shared/formats/SAFETENSORS.md). We enforce what the reference crate's
// read_metadata + Metadata::validate enforce, so a file we accept is one it accepts.
//
// The header's JSON is decoded straight into entries (safetensors_header.hpp); this file holds
// the format's rules. Where errors point: a problem with what one entry says (a missing or
// mistyped field, an unknown dtype, a shape or data_offsets that do not add up) is reported at
// the entry's key in the header; a problem with where tensors lie (holes, overlaps, data past
// the end) where the tensor's data starts (8 + N + begin).

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
#include "format/safetensors_header.hpp"
#include "format/table.hpp"

namespace ringload {
namespace {

using Json = nlohmann::ordered_json;

constexpr std::uint64_t kLengthFieldBytes = 8;
constexpr std::uint64_t kHeaderStart = kLengthFieldBytes;
// The reference crate's MAX_HEADER_SIZE: a bigger header is refused before it is read.
constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;

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

Error entry_error(const SafetensorsEntry& entry, std::string what) {
  return make_error(ErrorKind::malformed_header, fmt::format("header entry: {}", what), entry.key_at,
                    entry.name);
}

// Raw JSON for a message: hostile text stays inert (the parser lets no raw control byte
// through), long text is cut at a UTF-8 boundary.
std::string excerpt(std::string_view json) {
  constexpr std::size_t kMaxBytes = 80;
  if (json.size() <= kMaxBytes) return std::string(json);
  std::size_t cut = kMaxBytes;
  while (cut > 0 && (static_cast<unsigned char>(json[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}...", json.substr(0, cut));
}

// In the order the DOM-based reader before this one checked them, so the first problem reported
// for an entry with several stays the same.
Result<void> check_fields(const SafetensorsEntry& entry) {
  if (entry.value_type != "object") {
    return entry_error(entry, fmt::format("expected an object with dtype, shape and data_offsets, found {}",
                                          entry.value_type));
  }
  if (entry.dtype == FieldState::missing) {
    return entry_error(entry, "\"dtype\" is missing (an entry needs dtype, shape and data_offsets)");
  }
  if (entry.dtype == FieldState::invalid) {
    return entry_error(entry, fmt::format("\"dtype\" must be a string, found {}", entry.dtype_type));
  }
  if (entry.shape == FieldState::missing) return entry_error(entry, "\"shape\" is missing");
  if (entry.shape == FieldState::invalid) {
    return entry_error(entry, fmt::format("\"shape\" must be an array of non-negative integers, found {}",
                                          excerpt(entry.shape_text)));
  }
  if (entry.offsets == FieldState::missing) return entry_error(entry, "\"data_offsets\" is missing");
  if (entry.offsets == FieldState::invalid) {
    return entry_error(entry, fmt::format("\"data_offsets\" must be [begin, end] (two non-negative integers "
                                          "below 2^64), found {}",
                                          excerpt(entry.offsets_text)));
  }
  return {};
}

// Turns an entry into a TensorInfo with absolute offsets; every per-tensor rule of
// Metadata::validate except the tiling, which needs all tensors.
Result<TensorInfo> to_tensor(SafetensorsEntry&& entry, std::uint64_t data_offset) {
  RINGLOAD_TRY_VOID(check_fields(entry));
  const auto abs_begin = checked_add(data_offset, entry.begin);
  if (!abs_begin) {
    return make_error(
        ErrorKind::overflow,
        fmt::format("data_offsets begin {} + data start {} overflows 64 bits", entry.begin, data_offset),
        entry.key_at, entry.name);
  }
  if (entry.end < entry.begin) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("data_offsets [{}, {}] ends before it begins", entry.begin, entry.end),
                      entry.key_at, entry.name);
  }
  if (!checked_add(data_offset, entry.end)) {
    return make_error(
        ErrorKind::overflow,
        fmt::format("data_offsets end {} + data start {} overflows 64 bits", entry.end, data_offset),
        entry.key_at, entry.name);
  }
  const auto dtype = find_dtype(entry.dtype_name);
  if (!dtype) {
    return make_error(ErrorKind::unknown_dtype,
                      fmt::format("dtype {} is not a safetensors dtype (names are exact and upper-case, "
                                  "e.g. F32, BF16, I64)",
                                  dump_json(Json(entry.dtype_name))),
                      entry.key_at, entry.name);
  }
  const auto elements = element_count(entry.dims);
  const auto bits = elements ? checked_mul(*elements, dtype->bits) : std::nullopt;
  if (!bits) {
    return make_error(ErrorKind::invalid_shape,
                      fmt::format("shape {} of {} has more bits than 64 bits can count",
                                  dump_json(Json(entry.dims)), dtype->name),
                      entry.key_at, entry.name);
  }
  if (*bits % 8 != 0) {
    return make_error(ErrorKind::invalid_shape,
                      fmt::format("shape {} of {} is {} bits, not a whole number of bytes",
                                  dump_json(Json(entry.dims)), dtype->name, *bits),
                      entry.key_at, entry.name);
  }
  const std::uint64_t size_bytes = *bits / 8;
  if (entry.end - entry.begin != size_bytes) {
    return make_error(
        ErrorKind::size_mismatch,
        fmt::format("data_offsets [{}, {}] hold {} bytes, but {} x shape {} needs {} bytes", entry.begin,
                    entry.end, entry.end - entry.begin, dtype->name, dump_json(Json(entry.dims)), size_bytes),
        entry.key_at, entry.name);
  }
  return TensorInfo{.name = std::move(entry.name),
                    .dtype = dtype->dtype,
                    .shape = std::move(entry.dims),
                    .offset = *abs_begin,
                    .size = size_bytes};
}

// The reference's "no holes" rule: sorted by (begin, end), the ranges tile [0, last end) exactly,
// and the buffer ends at EOF. It keeps polyglot files (hidden bytes between tensors) out.
// Sorts in place: sort_and_check_overlaps re-sorts by its own order afterwards, and a copy would
// cost two allocations per tensor.
Result<void> check_tiling(std::vector<TensorInfo>& tensors, std::uint64_t data_offset,
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

// The smallest entry a valid header can hold, {"":{"dtype":"U8","shape":[],"data_offsets":[0,0]}}
// plus a comma: header bytes / this bounds the tensor count without trusting anything declared.
constexpr std::size_t kMinEntryBytes = 50;
// Past this many, containers grow as they fill instead (a 100 MB header is mostly not tensors).
constexpr std::size_t kMaxReservedEntries = std::size_t{1} << 20;

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

  TensorTable table;
  table.format = Format::safetensors;
  table.version = 0;
  table.data_offset = *data_offset;
  table.alignment = 1;  // the format promises none
  const std::size_t expected_entries =
      std::min<std::size_t>(header.size() / kMinEntryBytes, kMaxReservedEntries);
  table.tensors.reserve(expected_entries);
  // JSON whitespace around the object is allowed: writers pad the header to align the data.
  table.metadata = RINGLOAD_TRY(decode_safetensors_header(
      header, kHeaderStart, expected_entries, [&](SafetensorsEntry&& entry) -> Result<void> {
        table.tensors.push_back(RINGLOAD_TRY(to_tensor(std::move(entry), *data_offset)));
        return {};
      }));

  RINGLOAD_TRY_VOID(check_tiling(table.tensors, *data_offset, image.size()));
  RINGLOAD_TRY_VOID(sort_and_check_overlaps(table.tensors));
  return table;
}

}  // namespace ringload
