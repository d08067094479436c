// GGUF v3 writer (shared/formats/GGUF.md): header, typed KV pairs, tensor infos, then the data
// section laid out as ggml requires — tensors contiguous in info order, each zero-padded to the
// alignment, the file ending at the last tensor's padded end (as ggml's own writer does).
#include <algorithm>
#include <array>
#include <bit>
#include <cstring>
#include <limits>
#include <optional>

#include <fmt/format.h>

#include "base/json.hpp"
#include "format/gguf_types.hpp"
#include "gen/output_file.hpp"

namespace ringload::gen {
namespace {

constexpr std::uint32_t kVersion = 3;
constexpr auto kAlignment =
    static_cast<std::uint32_t>(gguf::kDefaultAlignment);  // written explicitly as general.alignment
constexpr std::uint32_t kQuantizationVersion = 2;         // ggml's GGML_QNT_VERSION
using gguf::ggml_type_id;
using gguf::kMaxDims;
using gguf::ValueType;
constexpr std::uint64_t kMaxNameBytes = gguf::kMaxTensorNameBytes;

bool is_block_type(DType dtype) { return dtype_info(dtype).block_elems > 1; }

std::uint64_t align_to(std::uint64_t x, std::uint64_t alignment) {
  return (x + alignment - 1) / alignment * alignment;
}

// Little-endian serialisation of the header part into memory (it is small next to the data).
class HeaderBytes {
 public:
  template <class T>
  void put(T value) {
    static_assert(std::is_arithmetic_v<T>);
    std::array<std::byte, sizeof(T)> raw{};
    static_assert(std::endian::native == std::endian::little, "GGUF is written little-endian");
    std::memcpy(raw.data(), &value, sizeof(T));
    bytes_.insert(bytes_.end(), raw.begin(), raw.end());
  }
  void put_string(std::string_view s) {
    put<std::uint64_t>(s.size());
    const auto* p = reinterpret_cast<const std::byte*>(s.data());
    bytes_.insert(bytes_.end(), p, p + s.size());
  }
  void put_type(ValueType type) { put(static_cast<std::uint32_t>(type)); }

  [[nodiscard]] std::vector<std::byte>& bytes() { return bytes_; }

 private:
  std::vector<std::byte> bytes_;
};

bool fits_u32(const nlohmann::ordered_json& v) {
  return v.get_ref<const nlohmann::ordered_json::number_unsigned_t&>() <=
         std::numeric_limits<std::uint32_t>::max();
}
bool fits_i32(const nlohmann::ordered_json& v) {
  const auto x = v.get_ref<const nlohmann::ordered_json::number_integer_t&>();
  return x >= std::numeric_limits<std::int32_t>::min() && x <= std::numeric_limits<std::int32_t>::max();
}

// The GGUF type a JSON scalar is written as; nullopt for values written as JSON text.
std::optional<ValueType> scalar_type(const nlohmann::ordered_json& v) {
  if (v.is_string()) return ValueType::string;
  if (v.is_boolean()) return ValueType::boolean;
  if (v.is_number_unsigned()) return fits_u32(v) ? ValueType::u32 : ValueType::u64;
  if (v.is_number_integer()) return fits_i32(v) ? ValueType::i32 : ValueType::i64;
  // FLOAT32, as llama.cpp's hyperparameters (rms epsilon, rope theta) are.
  if (v.is_number_float()) return ValueType::f32;
  return std::nullopt;
}

// One element type for a whole array: the widest integer any element needs; nullopt if mixed.
std::optional<ValueType> array_type(const nlohmann::ordered_json& array) {
  if (array.empty()) return ValueType::string;
  std::optional<ValueType> common;
  for (const auto& v : array) {
    auto t = scalar_type(v);
    if (!t) return std::nullopt;
    if (!common || *common == *t) {
      common = t;
      continue;
    }
    const auto is_int = [](ValueType x) {
      return x == ValueType::u32 || x == ValueType::u64 || x == ValueType::i32 || x == ValueType::i64;
    };
    if (!is_int(*common) || !is_int(*t)) return std::nullopt;
    const bool any_signed = *common == ValueType::i32 || *common == ValueType::i64 || *t == ValueType::i32 ||
                            *t == ValueType::i64;
    // Mixed widths or signedness: the 64-bit type that holds them all (values past i64 aside).
    common = any_signed ? ValueType::i64 : ValueType::u64;
  }
  return common;
}

void put_scalar(HeaderBytes& out, ValueType type, const nlohmann::ordered_json& v) {
  switch (type) {
    case ValueType::string: out.put_string(v.get_ref<const std::string&>()); break;
    case ValueType::boolean: out.put<std::uint8_t>(v.get<bool>() ? 1 : 0); break;
    case ValueType::u32: out.put(v.get<std::uint32_t>()); break;
    case ValueType::u64: out.put(v.get<std::uint64_t>()); break;
    case ValueType::i32: out.put(v.get<std::int32_t>()); break;
    case ValueType::i64: out.put(v.get<std::int64_t>()); break;
    case ValueType::f32: out.put(v.get<float>()); break;
    default: break;
  }
}

// Strings, booleans and numbers keep their type; arrays of one kind become GGUF arrays; objects,
// nulls and mixed arrays are written as their JSON text.
void put_kv(HeaderBytes& out, std::string_view key, const nlohmann::ordered_json& v) {
  out.put_string(key);
  if (auto type = scalar_type(v)) {
    out.put_type(*type);
    put_scalar(out, *type, v);
    return;
  }
  if (v.is_array()) {
    if (auto element = array_type(v)) {
      out.put_type(ValueType::array);
      out.put_type(*element);
      out.put<std::uint64_t>(v.size());
      for (const auto& e : v) put_scalar(out, *element, e);
      return;
    }
  }
  out.put_type(ValueType::string);
  out.put_string(dump_json(v));
}

std::string string_or(const nlohmann::ordered_json& metadata, const char* key, std::string_view fallback) {
  auto it = metadata.find(key);
  return it != metadata.end() && it->is_string() ? it->get_ref<const std::string&>() : std::string(fallback);
}

Result<void> check_gguf_tensor(const TensorSpec& t) {
  const auto fail = [&](std::string message) {
    return make_error(ErrorKind::invalid_argument, std::move(message), std::nullopt, t.name);
  };
  if (t.name.size() > kMaxNameBytes) {
    return fail(fmt::format("GGUF tensor names have at most {} bytes; this one has {}", kMaxNameBytes,
                            t.name.size()));
  }
  if (t.shape.size() > kMaxDims) return fail(fmt::format("GGUF tensors have at most {} dims", kMaxDims));
  const std::uint32_t block = dtype_info(t.dtype).block_elems;
  if (!t.shape.empty() && t.shape[0] % block != 0) {
    return fail(fmt::format("ne[0] = {} is not a whole number of {}-element {} blocks", t.shape[0], block,
                            dtype_name(t.dtype)));
  }
  return {};
}

// The keys of the split set, typed as llama.cpp's gguf-split writes them (u16, u16, i32).
void put_split_keys(HeaderBytes& out, const GgufSplit& split) {
  out.put_string("split.no");
  out.put_type(ValueType::u16);
  out.put(split.number);
  out.put_string("split.count");
  out.put_type(ValueType::u16);
  out.put(split.count);
  out.put_string("split.tensors.count");
  out.put_type(ValueType::i32);
  out.put(split.tensor_count);
}
constexpr std::uint64_t kSplitKeyCount = 3;

// A split after the first carries the split keys only, as gguf-split writes it: the model's keys
// live in the first split, and readers take the default alignment (ours) from the absent key.
Result<std::vector<std::byte>> gguf_header(std::span<const TensorSpec> tensors,
                                           const nlohmann::ordered_json& metadata,
                                           const std::optional<GgufSplit>& split) {
  constexpr std::array kWrittenFirst = {"general.architecture", "general.name", "general.alignment",
                                        "general.quantization_version"};
  const bool model_keys = !split || split->number == 0;
  const bool quantized =
      std::any_of(tensors.begin(), tensors.end(), [](const TensorSpec& t) { return is_block_type(t.dtype); });
  std::uint64_t kv_count = split ? kSplitKeyCount : 0;
  if (model_keys) {
    kv_count += 3 + (quantized ? 1 : 0);
    for (const auto& [key, value] : metadata.items()) {
      if (key.empty()) return make_error(ErrorKind::invalid_argument, "GGUF metadata keys cannot be empty");
      if (std::find(kWrittenFirst.begin(), kWrittenFirst.end(), key) == kWrittenFirst.end()) ++kv_count;
    }
  }

  HeaderBytes out;
  for (char c : std::string_view("GGUF")) out.put(static_cast<std::uint8_t>(c));
  out.put(kVersion);
  out.put<std::uint64_t>(tensors.size());
  out.put(kv_count);
  if (model_keys) {
    put_kv(out, "general.architecture", string_or(metadata, "general.architecture", "llama"));
    put_kv(out, "general.name", string_or(metadata, "general.name", "ringload-gen"));
    out.put_string("general.alignment");
    out.put_type(ValueType::u32);
    out.put(kAlignment);
    if (quantized) {
      out.put_string("general.quantization_version");
      out.put_type(ValueType::u32);
      out.put(kQuantizationVersion);
    }
    for (const auto& [key, value] : metadata.items()) {
      if (std::find(kWrittenFirst.begin(), kWrittenFirst.end(), key) == kWrittenFirst.end()) {
        put_kv(out, key, value);
      }
    }
  }
  // After the model's keys, as gguf-split adds them.
  if (split) put_split_keys(out, *split);

  std::uint64_t offset = 0;
  for (const TensorSpec& t : tensors) {
    RINGLOAD_TRY_VOID(check_gguf_tensor(t));
    out.put_string(t.name);
    out.put(static_cast<std::uint32_t>(t.shape.size()));
    for (std::uint64_t dim : t.shape) out.put(dim);
    out.put(*ggml_type_id(t.dtype));  // check_tensor_specs let only GGUF dtypes through
    out.put(offset);
    offset += align_to(t.size, kAlignment);
  }
  // The data section starts at the next aligned absolute offset.
  out.bytes().resize(align_to(out.bytes().size(), kAlignment), std::byte{0});
  return std::move(out.bytes());
}

}  // namespace

Result<GenReport> write_gguf(const std::filesystem::path& out, const GenOptions& options,
                             std::span<const TensorSpec> tensors, const nlohmann::ordered_json& metadata,
                             const std::optional<GgufSplit>& split) {
  const std::vector<std::byte> header = RINGLOAD_TRY(gguf_header(tensors, metadata, split));

  GenReport report;
  report.tensor_count = static_cast<std::uint32_t>(tensors.size());
  report.file_bytes = header.size();
  for (const TensorSpec& t : tensors) {
    report.tensor_bytes += t.size;
    report.file_bytes += align_to(t.size, kAlignment);
  }

  auto file = RINGLOAD_TRY(OutputFile::create(out));
  ProgressMeter progress(options.progress, report.file_bytes);
  RINGLOAD_TRY_VOID(file.write(header));
  progress.add(header.size());
  std::vector<std::byte> scratch(kChunkBytes);
  for (const TensorSpec& t : tensors) {
    RINGLOAD_TRY_VOID(
        write_tensor_data(file, tensor_key(options.seed, t.name), t.dtype, t.size, scratch, progress));
    const std::uint64_t padding = align_to(t.size, kAlignment) - t.size;
    RINGLOAD_TRY_VOID(file.write_zeros(padding));
    progress.add(padding);
  }
  RINGLOAD_TRY_VOID(file.commit());
  progress.finish();
  return report;
}

}  // namespace ringload::gen
