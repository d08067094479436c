#include "ringload/dtype.hpp"

#include <array>

namespace ringload {
namespace {

// Block sizes from ggml's block_* structs (shared/formats/GGUF.md §5) and the APR spec (§8–9).
constexpr std::array kDTypes = {
    DTypeInfo{DType::F64, "F64", 1, 8, 0},
    DTypeInfo{DType::F32, "F32", 1, 4, 0},
    DTypeInfo{DType::F16, "F16", 1, 2, 0},
    DTypeInfo{DType::BF16, "BF16", 1, 2, 0},
    DTypeInfo{DType::C64, "C64", 1, 8, 0},
    DTypeInfo{DType::I64, "I64", 1, 8, 0},
    DTypeInfo{DType::I32, "I32", 1, 4, 0},
    DTypeInfo{DType::I16, "I16", 1, 2, 0},
    DTypeInfo{DType::I8, "I8", 1, 1, 0},
    DTypeInfo{DType::U64, "U64", 1, 8, 0},
    DTypeInfo{DType::U32, "U32", 1, 4, 0},
    DTypeInfo{DType::U16, "U16", 1, 2, 0},
    DTypeInfo{DType::U8, "U8", 1, 1, 0},
    DTypeInfo{DType::BOOL, "BOOL", 1, 1, 0},
    DTypeInfo{DType::F8_E4M3, "F8_E4M3", 1, 1, 0},
    DTypeInfo{DType::F8_E5M2, "F8_E5M2", 1, 1, 0},
    DTypeInfo{DType::F8_E8M0, "F8_E8M0", 1, 1, 0},
    DTypeInfo{DType::F8_E4M3FNUZ, "F8_E4M3FNUZ", 1, 1, 0},
    DTypeInfo{DType::F8_E5M2FNUZ, "F8_E5M2FNUZ", 1, 1, 0},
    DTypeInfo{DType::F6_E2M3, "F6_E2M3", 4, 3, 0},
    DTypeInfo{DType::F6_E3M2, "F6_E3M2", 4, 3, 0},
    DTypeInfo{DType::F4, "F4", 2, 1, 0},
    DTypeInfo{DType::Q4_0, "Q4_0", 32, 18, 0},
    DTypeInfo{DType::Q4_1, "Q4_1", 32, 20, 0},
    DTypeInfo{DType::Q5_0, "Q5_0", 32, 22, 0},
    DTypeInfo{DType::Q5_1, "Q5_1", 32, 24, 0},
    DTypeInfo{DType::Q8_0, "Q8_0", 32, 34, 0},
    DTypeInfo{DType::Q8_1, "Q8_1", 32, 36, 0},
    DTypeInfo{DType::Q2_K, "Q2_K", 256, 84, 0},
    DTypeInfo{DType::Q3_K, "Q3_K", 256, 110, 0},
    DTypeInfo{DType::Q4_K, "Q4_K", 256, 144, 0},
    DTypeInfo{DType::Q5_K, "Q5_K", 256, 176, 0},
    DTypeInfo{DType::Q6_K, "Q6_K", 256, 210, 0},
    DTypeInfo{DType::Q8_K, "Q8_K", 256, 292, 0},
    DTypeInfo{DType::IQ2_XXS, "IQ2_XXS", 256, 66, 0},
    DTypeInfo{DType::IQ2_XS, "IQ2_XS", 256, 74, 0},
    DTypeInfo{DType::IQ3_XXS, "IQ3_XXS", 256, 98, 0},
    DTypeInfo{DType::IQ1_S, "IQ1_S", 256, 50, 0},
    DTypeInfo{DType::IQ4_NL, "IQ4_NL", 32, 18, 0},
    DTypeInfo{DType::IQ3_S, "IQ3_S", 256, 110, 0},
    DTypeInfo{DType::IQ2_S, "IQ2_S", 256, 82, 0},
    DTypeInfo{DType::IQ4_XS, "IQ4_XS", 256, 136, 0},
    DTypeInfo{DType::IQ1_M, "IQ1_M", 256, 56, 0},
    DTypeInfo{DType::TQ1_0, "TQ1_0", 256, 54, 0},
    DTypeInfo{DType::TQ2_0, "TQ2_0", 256, 66, 0},
    DTypeInfo{DType::MXFP4, "MXFP4", 32, 17, 0},
    DTypeInfo{DType::NVFP4, "NVFP4", 64, 36, 0},
    DTypeInfo{DType::Q1_0, "Q1_0", 128, 18, 0},
    DTypeInfo{DType::Q2_0, "Q2_0", 64, 18, 0},
    DTypeInfo{DType::APR_Q4, "APR_Q4", 32, 18, 0},
    DTypeInfo{DType::APR_Q8, "APR_Q8", 1, 1, 4},
};

constexpr bool table_matches_enum() {
  for (std::size_t i = 0; i < kDTypes.size(); ++i) {
    if (static_cast<std::size_t>(kDTypes[i].dtype) != i) return false;
  }
  return true;
}
static_assert(table_matches_enum(), "kDTypes must list DType in declaration order");

}  // namespace

const DTypeInfo& dtype_info(DType dtype) noexcept { return kDTypes[static_cast<std::size_t>(dtype)]; }

std::string_view dtype_name(DType dtype) noexcept { return dtype_info(dtype).name; }

std::optional<DType> dtype_from_name(std::string_view name) noexcept {
  for (const auto& info : kDTypes) {
    if (info.name == name) return info.dtype;
  }
  return std::nullopt;
}

std::span<const DTypeInfo> all_dtypes() noexcept { return kDTypes; }

std::optional<std::uint64_t> element_count(std::span<const std::uint64_t> shape) noexcept {
  std::uint64_t n = 1;
  for (std::uint64_t dim : shape) {
    if (__builtin_mul_overflow(n, dim, &n)) return std::nullopt;
  }
  return n;
}

std::optional<std::uint64_t> dtype_byte_size(DType dtype, std::uint64_t elements,
                                             BlockRounding rounding) noexcept {
  const DTypeInfo& info = dtype_info(dtype);
  std::uint64_t blocks = elements / info.block_elems;
  if (elements % info.block_elems != 0) {
    if (rounding == BlockRounding::exact) return std::nullopt;
    ++blocks;
  }
  std::uint64_t bytes = 0;
  if (__builtin_mul_overflow(blocks, std::uint64_t{info.block_bytes}, &bytes)) return std::nullopt;
  if (elements > 0 && __builtin_add_overflow(bytes, std::uint64_t{info.prefix_bytes}, &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

}  // namespace ringload
