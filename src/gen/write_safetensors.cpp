// safetensors writer (shared/formats/SAFETENSORS.md §5): u64 header length, compact JSON header
// padded with spaces to 8 bytes, tensors back to back in header order, nothing after.
#include <algorithm>
#include <array>
#include <iterator>
#include <numeric>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/json.hpp"
#include "gen/output_file.hpp"

namespace ringload::gen {
namespace {

constexpr std::uint64_t kMaxHeaderBytes = 100'000'000;  // the reference reader's MAX_HEADER_SIZE
constexpr std::uint64_t kHeaderAlignment = 8;

// The reference writer's dtype order ("increasing alignment"); it writes the largest first so
// every tensor stays aligned to its element size.
int alignment_rank(DType dtype) {
  constexpr std::array kOrder = {
      DType::BOOL,    DType::F4,      DType::F6_E2M3, DType::F6_E3M2,     DType::U8,          DType::I8,
      DType::F8_E5M2, DType::F8_E4M3, DType::F8_E8M0, DType::F8_E4M3FNUZ, DType::F8_E5M2FNUZ, DType::I16,
      DType::U16,     DType::F16,     DType::BF16,    DType::I32,         DType::U32,         DType::F32,
      DType::C64,     DType::F64,     DType::I64,     DType::U64,
  };
  const auto* it = std::find(kOrder.begin(), kOrder.end(), dtype);
  return static_cast<int>(it - kOrder.begin());
}

std::string json_string(std::string_view text) { return dump_json(nlohmann::ordered_json(text)); }

// __metadata__ holds strings only: other JSON values are written as their compact JSON text.
std::string metadata_entry(const nlohmann::ordered_json& metadata) {
  std::string out = "\"__metadata__\":{";
  bool first = true;
  for (const auto& [key, value] : metadata.items()) {
    if (!first) out += ',';
    first = false;
    out += json_string(key);
    out += ':';
    out +=
        value.is_string() ? json_string(value.get_ref<const std::string&>()) : json_string(dump_json(value));
  }
  out += '}';
  return out;
}

// Built as text rather than through a json object: ordered_json's insertion is linear in the
// number of keys, which a million-tensor header would make quadratic.
std::string header_json(std::span<const TensorSpec> tensors, std::span<const std::size_t> order,
                        const nlohmann::ordered_json& metadata) {
  std::string out = "{";
  if (!metadata.empty()) out += metadata_entry(metadata);
  std::uint64_t offset = 0;
  for (std::size_t i : order) {
    const TensorSpec& t = tensors[i];
    if (out.size() > 1) out += ',';
    fmt::format_to(std::back_inserter(out), "{}:{{\"dtype\":\"{}\",\"shape\":[{}],\"data_offsets\":[{},{}]}}",
                   json_string(t.name), dtype_name(t.dtype), fmt::join(t.shape, ","), offset,
                   offset + t.size);
    offset += t.size;
  }
  out += '}';
  return out;
}

}  // namespace

Result<GenReport> write_safetensors(const std::filesystem::path& out, const GenOptions& options,
                                    std::span<const TensorSpec> tensors,
                                    const nlohmann::ordered_json& metadata) {
  for (const TensorSpec& t : tensors) {
    if (t.name == "__metadata__") {
      return make_error(ErrorKind::invalid_argument, "__metadata__ is reserved in safetensors headers",
                        std::nullopt, t.name);
    }
  }
  std::vector<std::size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), std::size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
    const int ra = alignment_rank(tensors[a].dtype);
    const int rb = alignment_rank(tensors[b].dtype);
    return ra != rb ? ra > rb : tensors[a].name < tensors[b].name;
  });

  std::string header = header_json(tensors, order, metadata);
  header.resize((header.size() + kHeaderAlignment - 1) / kHeaderAlignment * kHeaderAlignment, ' ');
  if (header.size() > kMaxHeaderBytes) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("the safetensors header would be {} bytes; readers refuse more than {}",
                                  header.size(), kMaxHeaderBytes));
  }

  GenReport report;
  for (const TensorSpec& t : tensors) report.tensor_bytes += t.size;
  report.tensor_count = static_cast<std::uint32_t>(tensors.size());
  report.file_bytes = 8 + header.size() + report.tensor_bytes;

  auto file = RINGLOAD_TRY(OutputFile::create(out));
  ProgressMeter progress(options.progress, report.file_bytes);
  std::array<std::byte, 8> length{};
  for (std::size_t i = 0; i < 8; ++i) length[i] = std::byte(header.size() >> (8 * i));
  RINGLOAD_TRY_VOID(file.write(length));
  RINGLOAD_TRY_VOID(file.write(std::as_bytes(std::span(header))));
  progress.add(8 + header.size());

  std::vector<std::byte> scratch(kChunkBytes);
  for (std::size_t i : order) {
    const TensorSpec& t = tensors[i];
    RINGLOAD_TRY_VOID(
        write_tensor_data(file, tensor_key(options.seed, t.name), t.dtype, t.size, scratch, progress));
  }
  RINGLOAD_TRY_VOID(file.commit());
  progress.finish();
  return report;
}

}  // namespace ringload::gen
