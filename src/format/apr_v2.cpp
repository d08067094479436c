// APR v2 (aprender's tensor container): 64-byte header, JSON metadata, a binary tensor index,
// 64-byte aligned tensor data, CRC-32 footer. Layout and rules: shared/formats/APR_V2.md.
#include "format/apr_v2.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <string>
#include <string_view>

#include <fmt/format.h>

#include "base/byte_reader.hpp"
#include "base/checked.hpp"
#include "base/crc32.hpp"
#include "base/json.hpp"
#include "base/utf8.hpp"
#include "codec/codec.hpp"
#include "format/table.hpp"

namespace ringload {
namespace {

constexpr std::array<char, 4> kMagic = {'A', 'P', 'R', '\0'};
constexpr std::array<char, 4> kLegacyMagic = {'A', 'P', 'R', '2'};  // aprender until 2026-01
constexpr std::uint8_t kVersionMajor = 2;
constexpr std::uint64_t kAlignment = kAprAlignment;
constexpr std::uint8_t kMaxRank = kAprMaxRank;
constexpr std::uint64_t kFooterBytes = 4;
// Compressed payloads are decompressed onto the heap; past this we would rather fail than try.
constexpr std::uint64_t kMaxDecompressedBytes = std::uint64_t{1} << 40;

// Absolute offsets of the header fields (APR_V2.md §3).
namespace field {
constexpr std::uint64_t magic = 0;
constexpr std::uint64_t version_major = 4;
constexpr std::uint64_t version_minor = 5;
constexpr std::uint64_t flags = 6;
constexpr std::uint64_t tensor_count = 8;
constexpr std::uint64_t metadata_offset = 12;
constexpr std::uint64_t metadata_size = 20;
constexpr std::uint64_t tensor_index_offset = 24;
constexpr std::uint64_t data_offset = 32;
constexpr std::uint64_t checksum = 40;
constexpr std::uint64_t reserved = 44;
}  // namespace field

namespace flag = apr_flag;

struct Header {
  std::uint16_t flags = 0;
  std::uint32_t tensor_count = 0;
  std::uint64_t metadata_offset = 0;
  std::uint32_t metadata_size = 0;
  std::uint64_t tensor_index_offset = 0;
  std::uint64_t data_offset = 0;
};

bool has_magic(std::span<const std::byte> bytes, const std::array<char, 4>& magic) {
  return bytes.size() >= magic.size() && std::memcmp(bytes.data(), magic.data(), magic.size()) == 0;
}

// CRC-32 of the header with the checksum field cut out (not zeroed): bytes [0,40) ‖ [44,64).
std::uint32_t header_crc(std::span<const std::byte> header) {
  const std::uint32_t head = crc32(header.first(field::checksum));
  return crc32_update(head, header.subspan(field::reserved, kAprHeaderSize - field::reserved));
}

Error version_error(std::span<const std::byte> image) {
  const auto major = std::to_integer<unsigned>(image[field::version_major]);
  const auto minor = std::to_integer<unsigned>(image[field::version_minor]);
  if (major == 1 && has_magic(image, kMagic)) {
    return make_error(ErrorKind::unsupported_version,
                      "'APR\\0' followed by version 1: this is one of the ad-hoc APR formats (presentar "
                      "demo models, aprender-tsp, realizar's MmapAprTransformer), a different format "
                      "from APR v2 (byte 4 = 2); re-export the model as APR v2",
                      field::version_major);
  }
  return make_error(
      ErrorKind::unsupported_version,
      fmt::format("APR version {}.{}; this reader reads APR v2 only (byte 4 = 2)", major, minor),
      field::version_major);
}

// Magic, version, header CRC and flags: everything about the 64 header bytes on their own.
Result<Header> read_header(std::span<const std::byte> image) {
  if (image.size() < kAprHeaderSize) {
    return make_error(
        ErrorKind::truncated,
        fmt::format("the file has {} bytes, fewer than the 64-byte APR v2 header", image.size()), 0);
  }
  if (!has_magic(image, kMagic) && !has_magic(image, kLegacyMagic)) {
    return make_error(ErrorKind::bad_magic, "not an APR v2 file: expected magic 'APR\\0' (or legacy 'APR2')",
                      field::magic);
  }
  if (std::to_integer<std::uint8_t>(image[field::version_major]) != kVersionMajor)
    return version_error(image);

  const auto stored_crc = load_le<std::uint32_t>(image.data() + field::checksum);
  const std::uint32_t computed_crc = header_crc(image.first(kAprHeaderSize));
  if (stored_crc != computed_crc) {
    return make_error(
        ErrorKind::checksum_mismatch,
        fmt::format("header CRC-32 is {:#010x} but bytes [0,40)+[44,64) give {:#010x}: the header "
                    "is corrupt",
                    stored_crc, computed_crc),
        field::checksum);
  }

  Header h;
  h.flags = load_le<std::uint16_t>(image.data() + field::flags);
  if ((h.flags & flag::encrypted) != 0) {
    return make_error(ErrorKind::unsupported_feature,
                      "the ENCRYPTED flag (0x0004) is set; APR v2 defines no encryption layout, so the "
                      "tensors cannot be read",
                      field::flags);
  }
  if ((h.flags & flag::layout_column_major) != 0) {
    return make_error(ErrorKind::unsupported_feature,
                      "the LAYOUT_COLUMN_MAJOR flag (0x0800) is set: a column-major import that aprender "
                      "refuses too; re-export it row-major",
                      field::flags);
  }
  h.tensor_count = load_le<std::uint32_t>(image.data() + field::tensor_count);
  h.metadata_offset = load_le<std::uint64_t>(image.data() + field::metadata_offset);
  h.metadata_size = load_le<std::uint32_t>(image.data() + field::metadata_size);
  h.tensor_index_offset = load_le<std::uint64_t>(image.data() + field::tensor_index_offset);
  h.data_offset = load_le<std::uint64_t>(image.data() + field::data_offset);
  return h;
}

// Metadata, index and data must follow the header in that order without sharing bytes.
Result<void> check_sections(const Header& h, std::uint64_t image_bytes) {
  if (h.metadata_offset < kAprHeaderSize) {
    return make_error(ErrorKind::overlap,
                      fmt::format("metadata_offset {} lies inside the 64-byte header", h.metadata_offset),
                      field::metadata_offset);
  }
  const auto metadata_end = checked_add(h.metadata_offset, h.metadata_size);
  if (!metadata_end) {
    return make_error(ErrorKind::overflow,
                      fmt::format("metadata_offset {} + metadata_size {} overflows 64 bits",
                                  h.metadata_offset, h.metadata_size),
                      field::metadata_offset);
  }
  if (*metadata_end > image_bytes) {
    return make_error(ErrorKind::truncated,
                      fmt::format("the metadata ({} bytes) ends at byte {} but the file has {} bytes",
                                  h.metadata_size, *metadata_end, image_bytes),
                      h.metadata_offset);
  }
  if (h.tensor_index_offset < *metadata_end) {
    return make_error(ErrorKind::overlap,
                      fmt::format("tensor_index_offset {} lies before the end of the metadata (byte {})",
                                  h.tensor_index_offset, *metadata_end),
                      field::tensor_index_offset);
  }
  if (h.tensor_index_offset > image_bytes) {
    return make_error(ErrorKind::truncated,
                      fmt::format("the tensor index starts at byte {} but the file has {} bytes",
                                  h.tensor_index_offset, image_bytes),
                      h.tensor_index_offset);
  }
  if (h.data_offset < h.tensor_index_offset) {
    return make_error(ErrorKind::overlap,
                      fmt::format("data_offset {} lies before the tensor index (byte {})", h.data_offset,
                                  h.tensor_index_offset),
                      field::data_offset);
  }
  if (h.data_offset % kAlignment != 0) {
    return make_error(ErrorKind::misaligned,
                      fmt::format("data_offset {} is not a multiple of 64", h.data_offset),
                      field::data_offset);
  }
  return {};
}

Result<MetadataValue> parse_metadata(std::span<const std::byte> image, const Header& h) {
  if (h.metadata_size == 0) return MetadataValue::object();  // realizar's reading
  const std::string_view text(reinterpret_cast<const char*>(image.data() + h.metadata_offset),
                              h.metadata_size);
  // aprender parses metadata to a generic JSON value first, where a repeated key replaces the
  // earlier one; files it reads must load here too.
  auto metadata =
      RINGLOAD_TRY(read_json(text, h.metadata_offset, JsonParseOptions{.reject_duplicate_keys = false}));
  if (!metadata.is_object()) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("metadata is a JSON {}, expected a JSON object", json_type_name(metadata)),
                      h.metadata_offset);
  }
  return metadata;
}

// One index entry as stored, with the absolute offsets of its fields for error reports.
struct IndexEntry {
  std::string_view name;
  std::uint8_t dtype_code = 0;
  std::vector<std::uint64_t> dims;
  std::uint64_t offset = 0;  // relative to data_offset
  std::uint64_t size = 0;
  std::uint64_t entry_at = 0;
  std::uint64_t dtype_at = 0;
  std::uint64_t dims_at = 0;
  std::uint64_t offset_at = 0;
};

// `reader` covers [0, min(data_offset, file end)): an entry may not run into the data section.
Result<IndexEntry> read_entry(ByteReader& reader, std::uint32_t index, const Header& h) {
  IndexEntry e;
  e.entry_at = reader.pos();
  const auto runs_past = [&]() {
    const bool at_data = h.data_offset <= reader.size();
    return make_error(
        ErrorKind::truncated,
        fmt::format("index entry {} of {} runs past {} (byte {})", index, h.tensor_count,
                    at_data ? "the start of the data section" : "the end of the file", reader.size()),
        e.entry_at);
  };
  std::uint16_t name_bytes = 0;
  if (!reader.read(name_bytes) || !reader.read_string(name_bytes, e.name)) return runs_past();
  e.dtype_at = reader.pos();
  std::uint8_t rank = 0;
  if (!reader.read(e.dtype_code) || !reader.read(rank)) return runs_past();
  if (rank > kMaxRank) {
    return make_error(ErrorKind::invalid_shape, fmt::format("ndim is {}, more than the limit of 8", rank),
                      e.dtype_at + 1, std::string(e.name));
  }
  e.dims_at = reader.pos();
  e.dims.resize(rank);
  for (std::uint64_t& dim : e.dims) {
    if (!reader.read(dim)) return runs_past();
  }
  e.offset_at = reader.pos();
  if (!reader.read(e.offset) || !reader.read(e.size)) return runs_past();
  return e;
}

// `previous` is the entry before `e` in the index, or null for the first.
Result<void> check_name(const IndexEntry& e, const IndexEntry* previous) {
  if (e.name.empty()) {
    return make_error(ErrorKind::invalid_name, "tensor name is empty (name_len 0)", e.entry_at);
  }
  if (auto bad = first_invalid_utf8(e.name)) {
    return make_error(ErrorKind::invalid_name,
                      fmt::format("tensor name is not UTF-8 (invalid byte {} of {})", *bad, e.name.size()),
                      e.entry_at + 2);
  }
  if (previous == nullptr) return {};
  // std::string_view compares like memcmp: the byte-wise order aprender sorts by.
  if (e.name == previous->name) {
    return make_error(ErrorKind::duplicate_name, "the tensor index lists this name twice", e.entry_at,
                      std::string(e.name));
  }
  if (e.name < previous->name) {
    return make_error(
        ErrorKind::unsorted_index,
        fmt::format("the tensor index is not sorted by name: this entry follows '{}'", previous->name),
        e.entry_at, std::string(e.name));
  }
  return {};
}

// The meanings a dtype code can have (APR_V2.md §8). Legacy codes 2, 3, 6, 7, 8 and 9 mean one
// thing to aprender and another (a GGML block type) to realizar's converter; the size decides.
struct DTypeMeanings {
  DType apr;
  std::optional<DType> ggml;
};

std::optional<DTypeMeanings> dtype_meanings(std::uint8_t code) {
  switch (code) {
    case 0: return DTypeMeanings{DType::F32, std::nullopt};
    case 1: return DTypeMeanings{DType::F16, std::nullopt};
    case 2: return DTypeMeanings{DType::BF16, DType::Q4_0};
    case 3: return DTypeMeanings{DType::F64, DType::Q4_1};
    case 4: return DTypeMeanings{DType::I32, std::nullopt};
    case 5: return DTypeMeanings{DType::I64, std::nullopt};
    case 6: return DTypeMeanings{DType::I8, DType::Q5_0};
    case 7: return DTypeMeanings{DType::U8, DType::Q5_1};
    case 8: return DTypeMeanings{DType::APR_Q4, DType::Q8_0};
    case 9: return DTypeMeanings{DType::APR_Q8, DType::Q8_1};
    case 10: return DTypeMeanings{DType::Q2_K, std::nullopt};
    case 11: return DTypeMeanings{DType::Q3_K, std::nullopt};
    case 12: return DTypeMeanings{DType::Q4_K, std::nullopt};
    case 13: return DTypeMeanings{DType::Q5_K, std::nullopt};
    case 14: return DTypeMeanings{DType::Q6_K, std::nullopt};
    case 16: return DTypeMeanings{DType::IQ2_XXS, std::nullopt};
    case 17: return DTypeMeanings{DType::IQ2_XS, std::nullopt};
    case 30: return DTypeMeanings{DType::BF16, std::nullopt};
    case 128: return DTypeMeanings{DType::APR_Q4, std::nullopt};
    case 129: return DTypeMeanings{DType::APR_Q8, std::nullopt};
    default: return std::nullopt;
  }
}

// APR writers zero-pad a final partial block, so sizes round up to whole blocks.
std::optional<std::uint64_t> apr_byte_size(DType dtype, std::uint64_t elements) {
  return dtype_byte_size(dtype, elements, BlockRounding::pad_last_block);
}

// The dtype the entry's code and size agree on; never a guess.
Result<DType> resolve_dtype(const IndexEntry& e, std::uint64_t data_at) {
  const std::string tensor(e.name);
  const auto meanings = dtype_meanings(e.dtype_code);
  if (!meanings) {
    return make_error(ErrorKind::unknown_dtype,
                      fmt::format("dtype code {} is not an APR v2 dtype", e.dtype_code), e.dtype_at, tensor);
  }
  const auto elements = element_count(e.dims);
  const auto apr_bytes = elements ? apr_byte_size(meanings->apr, *elements) : std::nullopt;
  if (!apr_bytes) {
    return make_error(ErrorKind::invalid_shape, "the shape's byte size overflows 64 bits", e.dims_at, tensor);
  }
  if (*apr_bytes == e.size) return meanings->apr;
  if (!meanings->ggml) {
    return make_error(ErrorKind::size_mismatch,
                      fmt::format("size is {} bytes but {} x {} elements takes {}", e.size,
                                  dtype_name(meanings->apr), *elements, *apr_bytes),
                      data_at, tensor);
  }
  const auto ggml_bytes = apr_byte_size(*meanings->ggml, *elements);
  if (ggml_bytes && *ggml_bytes == e.size) return *meanings->ggml;
  return make_error(
      ErrorKind::unknown_dtype,
      fmt::format("legacy dtype code {} is {} ({} bytes for {} elements) or GGML {} ({} bytes), "
                  "but the size is {} bytes: neither fits",
                  e.dtype_code, dtype_name(meanings->apr), *apr_bytes, *elements, dtype_name(*meanings->ggml),
                  ggml_bytes.value_or(0), e.size),
      e.dtype_at, tensor);
}

// The tensor's absolute range: no overflow, aligned, dtype x shape = size, inside the image.
Result<TensorInfo> check_tensor(const IndexEntry& e, const Header& h, std::uint64_t image_bytes) {
  const std::string tensor(e.name);
  const auto data_at = checked_add(h.data_offset, e.offset);
  const auto data_end = data_at ? checked_add(*data_at, e.size) : std::nullopt;
  if (!data_end) {
    return make_error(ErrorKind::overflow,
                      fmt::format("data_offset {} + offset {} + size {} overflows 64 bits", h.data_offset,
                                  e.offset, e.size),
                      e.offset_at, tensor);
  }
  if (e.offset % kAlignment != 0) {
    return make_error(ErrorKind::misaligned, fmt::format("offset {} is not a multiple of 64", e.offset),
                      *data_at, tensor);
  }
  const DType dtype = RINGLOAD_TRY(resolve_dtype(e, *data_at));
  if (*data_end > image_bytes) {
    return make_error(ErrorKind::truncated,
                      fmt::format("data ends at byte {} but the file has {} bytes (interrupted download?)",
                                  *data_end, image_bytes),
                      *data_at, tensor);
  }
  return TensorInfo{.name = tensor, .dtype = dtype, .shape = e.dims, .offset = *data_at, .size = e.size};
}

// Reads all `tensor_count` entries first, so a cut index is reported as such before any tensor
// range is judged against the (then also short) file.
Result<std::vector<IndexEntry>> read_index(std::span<const std::byte> image, const Header& h) {
  const std::uint64_t index_end = std::min<std::uint64_t>(h.data_offset, image.size());
  ByteReader reader(image.first(index_end), h.tensor_index_offset);
  std::vector<IndexEntry> entries;
  // Every entry takes at least 20 bytes, which bounds the reservation by the bytes present.
  constexpr std::uint64_t kMinEntryBytes = 20;
  entries.reserve(std::min<std::uint64_t>(h.tensor_count, reader.remaining() / kMinEntryBytes));
  for (std::uint32_t i = 0; i < h.tensor_count; ++i) {
    IndexEntry entry = RINGLOAD_TRY(read_entry(reader, i, h));
    RINGLOAD_TRY_VOID(check_name(entry, entries.empty() ? nullptr : &entries.back()));
    entries.push_back(std::move(entry));
  }
  return entries;
}

Result<std::vector<TensorInfo>> check_tensors(std::span<const IndexEntry> entries, const Header& h,
                                              std::uint64_t image_bytes) {
  std::vector<TensorInfo> tensors;
  tensors.reserve(entries.size());
  for (const IndexEntry& entry : entries)
    tensors.push_back(RINGLOAD_TRY(check_tensor(entry, h, image_bytes)));
  if (h.data_offset > image_bytes) {
    return make_error(ErrorKind::truncated,
                      fmt::format("the data section starts at byte {} but the file has {} bytes",
                                  h.data_offset, image_bytes),
                      h.data_offset);
  }
  return tensors;
}

// The footer is the CRC-32 of every byte before it; it must not sit on tensor data.
Result<void> verify_footer(std::span<const std::byte> image, std::uint64_t data_end) {
  const std::uint64_t footer_at = image.size() - kFooterBytes;  // image.size() >= 64
  if (data_end > footer_at) {
    return make_error(
        ErrorKind::checksum_mismatch,
        fmt::format("no room for the 4-byte CRC-32 footer: the data ends at byte {} and the file at "
                    "{} (files from realizar's converters have none); load without "
                    "verify_checksum",
                    data_end, image.size()),
        data_end);
  }
  const auto stored = load_le<std::uint32_t>(image.data() + footer_at);
  const std::uint32_t computed = crc32(image.first(footer_at));
  if (stored != computed) {
    return make_error(
        ErrorKind::checksum_mismatch,
        fmt::format("footer CRC-32 is {:#010x} but bytes [0,{}) give {:#010x}: the file is corrupt", stored,
                    footer_at, computed),
        footer_at);
  }
  return {};
}

}  // namespace

bool apr_is_compressed(std::span<const std::byte> head) noexcept {
  if (head.size() < field::flags + sizeof(std::uint16_t)) return false;
  return (load_le<std::uint16_t>(head.data() + field::flags) & (flag::lz4 | flag::zstd)) != 0;
}

Result<std::optional<std::vector<std::byte>>> apr_decompressed_image(std::span<const std::byte> file) {
  const Header h = RINGLOAD_TRY(read_header(file));
  if ((h.flags & (flag::lz4 | flag::zstd)) == 0) return std::optional<std::vector<std::byte>>{};
  const std::span<const std::byte> payload = file.subspan(kAprHeaderSize);
  const std::uint64_t max_payload = kMaxDecompressedBytes - kAprHeaderSize;
  // realizar tests LZ4 first when both bits are set.
  auto decoded = (h.flags & flag::lz4) != 0 ? lz4_decompress_size_prepended(payload, max_payload)
                                            : zstd_decompress(payload, max_payload);
  if (!decoded) {
    Error e = std::move(decoded).error();
    if (e.offset) *e.offset += kAprHeaderSize;  // the codec counts from the payload's start
    e.message = "compressed APR payload: " + e.message;
    return e;
  }
  // header(64) ‖ payload: every header offset indexes this image (APR_V2.md §5).
  std::vector<std::byte> image = std::move(decoded).value();
  image.insert(image.begin(), file.begin(), file.begin() + kAprHeaderSize);
  return std::optional<std::vector<std::byte>>(std::move(image));
}

Result<TensorTable> parse_apr_v2(std::span<const std::byte> image, const ParseOptions& options) {
  const Header h = RINGLOAD_TRY(read_header(image));
  RINGLOAD_TRY_VOID(check_sections(h, image.size()));
  TensorTable table;
  table.format = Format::apr;
  table.version = kVersionMajor;
  table.metadata = RINGLOAD_TRY(parse_metadata(image, h));
  const std::vector<IndexEntry> entries = RINGLOAD_TRY(read_index(image, h));
  table.tensors = RINGLOAD_TRY(check_tensors(entries, h, image.size()));
  table.data_offset = h.data_offset;
  table.alignment = kAlignment;
  std::uint64_t data_end = h.data_offset;
  for (const TensorInfo& t : table.tensors) data_end = std::max(data_end, t.offset + t.size);
  RINGLOAD_TRY_VOID(sort_and_check_overlaps(table.tensors));
  if (options.verify_checksum) RINGLOAD_TRY_VOID(verify_footer(image, data_end));
  return table;
}

}  // namespace ringload
