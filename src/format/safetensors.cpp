// safetensors: u64 header length N, N bytes of UTF-8 JSON, then the data buffer that the tensors
// tile exactly (shared/formats/SAFETENSORS.md). We enforce what the reference crate's
// read_metadata + Metadata::validate enforce, so a file we accept is one it accepts.
//
// The header is decoded by a scanner (safetensors_scan.hpp) straight into tensors: building a
// JSON DOM first cost ten times the rest of Model::load.
//
// Offsets in errors are those of the DOM-based reader this replaced, which did not know where a
// value sat in the header: a malformed entry or an overflowing data_offsets field is reported at
// the header start (byte 8); every other problem with one tensor where its data starts
// (8 + N + begin).

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
#include "format/safetensors_scan.hpp"
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

// One tensor entry as the header spelled it. The scanner fills it while it reads the entry;
// check_entry then applies the rules in the order the DOM-based reader did, so the first error
// reported for an entry with several problems is the same.
enum class Found : std::uint8_t { missing, valid, invalid };

struct RawEntry {
  std::string name;
  std::string_view value_type = "object";  // the entry's JSON type
  Found dtype = Found::missing;
  std::string_view dtype_type;  // when invalid
  std::string dtype_name;       // when valid
  Found shape = Found::missing;
  std::vector<std::uint64_t> dims;
  std::string_view shape_text;  // raw JSON, for messages
  Found offsets = Found::missing;
  std::uint64_t begin = 0;  // relative to the data buffer
  std::uint64_t end = 0;
  std::string_view offsets_text;
};

Error entry_error(const std::string& name, std::string what) {
  return make_error(ErrorKind::malformed_header, fmt::format("header entry: {}", what), kHeaderStart, name);
}

// Raw JSON for a message: hostile text stays inert (the scanner let no raw control byte
// through), long text is cut at a UTF-8 boundary.
std::string excerpt(std::string_view json) {
  constexpr std::size_t kMaxBytes = 80;
  if (json.size() <= kMaxBytes) return std::string(json);
  std::size_t cut = kMaxBytes;
  while (cut > 0 && (static_cast<unsigned char>(json[cut]) & 0xC0) == 0x80) --cut;
  return fmt::format("{}...", json.substr(0, cut));
}

Result<void> check_fields(const RawEntry& entry) {
  const std::string& name = entry.name;
  if (entry.value_type != "object") {
    return entry_error(name, fmt::format("expected an object with dtype, shape and data_offsets, found {}",
                                         entry.value_type));
  }
  if (entry.dtype == Found::missing) {
    return entry_error(name, "\"dtype\" is missing (an entry needs dtype, shape and data_offsets)");
  }
  if (entry.dtype == Found::invalid) {
    return entry_error(name, fmt::format("\"dtype\" must be a string, found {}", entry.dtype_type));
  }
  if (entry.shape == Found::missing) return entry_error(name, "\"shape\" is missing");
  if (entry.shape == Found::invalid) {
    return entry_error(name, fmt::format("\"shape\" must be an array of non-negative integers, found {}",
                                         excerpt(entry.shape_text)));
  }
  if (entry.offsets == Found::missing) return entry_error(name, "\"data_offsets\" is missing");
  if (entry.offsets == Found::invalid) {
    return entry_error(name, fmt::format("\"data_offsets\" must be [begin, end] (two non-negative integers "
                                         "below 2^64), found {}",
                                         excerpt(entry.offsets_text)));
  }
  return {};
}

// Turns an entry into a TensorInfo with absolute offsets; every per-tensor rule of
// Metadata::validate except the tiling, which needs all tensors.
Result<TensorInfo> to_tensor(RawEntry&& entry, std::uint64_t data_offset) {
  RINGLOAD_TRY_VOID(check_fields(entry));
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
  const auto elements = element_count(entry.dims);
  const auto bits = elements ? checked_mul(*elements, dtype->bits) : std::nullopt;
  if (!bits) {
    return make_error(ErrorKind::invalid_shape,
                      fmt::format("shape {} of {} has more bits than 64 bits can count",
                                  dump_json(Json(entry.dims)), dtype->name),
                      *abs_begin, entry.name);
  }
  if (*bits % 8 != 0) {
    return make_error(ErrorKind::invalid_shape,
                      fmt::format("shape {} of {} is {} bits, not a whole number of bytes",
                                  dump_json(Json(entry.dims)), dtype->name, *bits),
                      *abs_begin, entry.name);
  }
  const std::uint64_t size_bytes = *bits / 8;
  if (entry.end - entry.begin != size_bytes) {
    return make_error(
        ErrorKind::size_mismatch,
        fmt::format("data_offsets [{}, {}] hold {} bytes, but {} x shape {} needs {} bytes", entry.begin,
                    entry.end, entry.end - entry.begin, dtype->name, dump_json(Json(entry.dims)), size_bytes),
        *abs_begin, entry.name);
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

// Reads the header's top-level object straight into tensors and metadata. A syntax error stops
// the scan at once; the first entry that breaks a safetensors rule is remembered and the scan
// goes on, because a syntax error later in the text wins (the DOM was parsed before any rule
// was checked).
class HeaderDecoder {
 public:
  HeaderDecoder(std::string_view header, std::uint64_t data_offset, TensorTable& table)
      : json_(header, kHeaderStart), data_offset_(data_offset), table_(table) {}

  // The first error the DOM-based reader would have reported, if any.
  Result<void> decode(std::size_t expected_entries) {
    if (!decode_root(expected_entries)) return json_.take_error();
    if (first_error_) return std::move(*first_error_);
    return {};
  }

 private:
  bool decode_root(std::size_t expected_entries) {
    JsonToken token;
    if (!json_.next(token)) return false;
    if (token.kind != JsonTokenKind::begin_object) {
      if (!json_.skip_value(token, 1) || !json_.expect_end()) return false;
      fail(make_error(ErrorKind::malformed_header,
                      fmt::format("header must be a JSON object, found {}", json_type_name(token.kind)),
                      kHeaderStart));
      return true;
    }
    JsonKeySet names(expected_entries);
    const bool ok = json_.for_each_member(names, [&](std::string_view key, const JsonToken& value) {
      if (key == kMetadataKey) return decode_metadata(value);
      return decode_entry(key, value);
    });
    return ok && json_.expect_end();
  }

  bool decode_entry(std::string_view name, const JsonToken& value) {
    constexpr int kDepth = 2;  // the value of a top-level member
    if (first_error_) return json_.skip_value(value, kDepth);
    RawEntry entry;
    entry.name = name;
    if (value.kind != JsonTokenKind::begin_object) {
      entry.value_type = json_type_name(value.kind);
      if (!json_.skip_value(value, kDepth)) return false;
    } else {
      JsonKeySet fields;
      const bool ok = json_.for_each_member(fields, [&](std::string_view key, const JsonToken& field) {
        return decode_field(entry, key, field, kDepth + 1);
      });
      if (!ok) return false;
    }
    auto tensor = to_tensor(std::move(entry), data_offset_);
    if (!tensor) {
      fail(std::move(tensor).error());
    } else {
      table_.tensors.push_back(std::move(*tensor));
    }
    return true;
  }

  bool decode_field(RawEntry& entry, std::string_view key, const JsonToken& value, int depth) {
    if (key == "dtype") {
      if (value.kind == JsonTokenKind::string) {
        entry.dtype = Found::valid;
        entry.dtype_name = json_.string_value(value);
        return true;
      }
      entry.dtype = Found::invalid;
      entry.dtype_type = json_type_name(value.kind);
      return json_.skip_value(value, depth);
    }
    if (key == "shape") {
      entry.dims.clear();
      return read_u64_array(value, depth, entry.shape, entry.shape_text,
                            [&](std::uint64_t dim, std::size_t) { entry.dims.push_back(dim); });
    }
    if (key == "data_offsets") {
      std::size_t count = 0;
      const bool ok = read_u64_array(value, depth, entry.offsets, entry.offsets_text,
                                     [&](std::uint64_t offset, std::size_t index) {
                                       if (index == 0) entry.begin = offset;
                                       if (index == 1) entry.end = offset;
                                       count = index + 1;
                                     });
      if (entry.offsets == Found::valid && count != 2) entry.offsets = Found::invalid;
      return ok;
    }
    return json_.skip_value(value, depth);  // unknown fields are allowed, as the reference's serde
  }

  // An array of numbers that each fit u64 (nlohmann's number_unsigned: no sign, fraction or
  // exponent) goes to on_element(value, index) and is `valid`; anything else is `invalid`, and
  // the rest of the value is still checked for syntax.
  template <class OnElement>
  bool read_u64_array(const JsonToken& value, int depth, Found& found, std::string_view& text,
                      OnElement&& on_element) {
    found = Found::invalid;
    if (value.kind != JsonTokenKind::begin_array) {
      if (!json_.skip_value(value, depth)) return false;
      text = json_.raw_since(value.begin);
      return true;
    }
    bool valid = true;
    std::size_t index = 0;
    JsonToken token;
    if (!json_.next(token)) return false;
    if (token.kind != JsonTokenKind::end_array) {
      for (;; ++index) {
        if (valid && token.kind == JsonTokenKind::number && token.is_u64) {
          on_element(token.u64, index);
        } else {
          valid = false;
          if (!json_.skip_value(token, depth + 1)) return false;
        }
        if (!json_.next(token)) return false;
        if (token.kind == JsonTokenKind::end_array) break;
        if (token.kind != JsonTokenKind::comma) {
          return json_.unexpected(token, "',' or ']' after an array element");
        }
        if (!json_.next(token)) return false;
      }
    }
    text = json_.raw_since(value.begin);
    if (valid) found = Found::valid;
    return true;
  }

  // The reference types it Option<HashMap<String, String>>: null means "no metadata".
  bool decode_metadata(const JsonToken& value) {
    constexpr int kDepth = 2;
    if (first_error_ || value.kind == JsonTokenKind::null_literal) return json_.skip_value(value, kDepth);
    if (value.kind != JsonTokenKind::begin_object) {
      fail(make_error(ErrorKind::malformed_header,
                      fmt::format("\"{}\" must be an object of string values, found {}", kMetadataKey,
                                  json_type_name(value.kind)),
                      kHeaderStart));
      return json_.skip_value(value, kDepth);
    }
    Json metadata = Json::object();
    auto& members = metadata.get_ref<Json::object_t&>();
    JsonKeySet keys;
    const bool ok = json_.for_each_member(keys, [&](std::string_view key, const JsonToken& item) {
      if (item.kind != JsonTokenKind::string) {
        if (!first_error_) {
          // dump_json escapes the key: metadata is hostile text and must stay inert when printed.
          fail(make_error(ErrorKind::malformed_header,
                          fmt::format("\"{}\" value for key {} must be a string, found {}", kMetadataKey,
                                      dump_json(Json(std::string(key))), json_type_name(item.kind)),
                          kHeaderStart));
        }
        return json_.skip_value(item, kDepth + 1);
      }
      // ordered_map::emplace searches linearly for the key first; `keys` already proved it new.
      members.Container::emplace_back(std::string(key), Json(std::string(json_.string_value(item))));
      return true;
    });
    if (ok && !first_error_) table_.metadata = std::move(metadata);
    return ok;
  }

  void fail(Error error) {
    if (!first_error_) first_error_ = std::move(error);
  }

  JsonScanner json_;
  std::uint64_t data_offset_;
  TensorTable& table_;
  std::optional<Error> first_error_;
};

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
  RINGLOAD_TRY_VOID(HeaderDecoder(header, *data_offset, table).decode(expected_entries));

  RINGLOAD_TRY_VOID(check_tiling(table.tensors, *data_offset, image.size()));
  RINGLOAD_TRY_VOID(sort_and_check_overlaps(table.tensors));
  return table;
}

}  // namespace ringload
