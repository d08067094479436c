// GGUF's numbers that the reader and the writer must agree on (shared/formats/GGUF.md): value
// type codes, ggml_type ids, and ggml's limits.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string_view>

#include "ringload/dtype.hpp"

namespace ringload::gguf {

inline constexpr std::uint64_t kDefaultAlignment = 32;
inline constexpr std::uint64_t kMaxDims = 4;              // GGML_MAX_DIMS
inline constexpr std::uint64_t kMaxTensorNameBytes = 63;  // GGML_MAX_NAME 64, minus room for the NUL
inline constexpr std::string_view kAlignmentKey = "general.alignment";

enum class ValueType : std::uint32_t {
  u8 = 0,
  i8 = 1,
  u16 = 2,
  i16 = 3,
  u32 = 4,
  i32 = 5,
  f32 = 6,
  boolean = 7,
  string = 8,
  array = 9,
  u64 = 10,
  i64 = 11,
  f64 = 12,
};
inline constexpr std::uint32_t kValueTypeCount = 13;

// Encoded size of a fixed-width value type; 0 for string and array.
constexpr std::uint64_t fixed_value_bytes(ValueType type) noexcept {
  switch (type) {
    case ValueType::u8:
    case ValueType::i8:
    case ValueType::boolean: return 1;
    case ValueType::u16:
    case ValueType::i16: return 2;
    case ValueType::u32:
    case ValueType::i32:
    case ValueType::f32: return 4;
    case ValueType::u64:
    case ValueType::i64:
    case ValueType::f64: return 8;
    case ValueType::string:
    case ValueType::array: return 0;
  }
  return 0;
}

// ggml_type id → DType (GGUF.md §5). Removed ids (Q4_2, Q4_0_4_4, ...) have no size and no entry.
struct GgmlType {
  std::optional<DType> dtype;
  std::string_view removed_name;  // set for ids ggml once had and dropped
};
inline constexpr std::array<GgmlType, 43> kGgmlTypes = {{
    {DType::F32, {}},    {DType::F16, {}},     {DType::Q4_0, {}},   {DType::Q4_1, {}},    {{}, "Q4_2"},
    {{}, "Q4_3"},        {DType::Q5_0, {}},    {DType::Q5_1, {}},   {DType::Q8_0, {}},    {DType::Q8_1, {}},
    {DType::Q2_K, {}},   {DType::Q3_K, {}},    {DType::Q4_K, {}},   {DType::Q5_K, {}},    {DType::Q6_K, {}},
    {DType::Q8_K, {}},   {DType::IQ2_XXS, {}}, {DType::IQ2_XS, {}}, {DType::IQ3_XXS, {}}, {DType::IQ1_S, {}},
    {DType::IQ4_NL, {}}, {DType::IQ3_S, {}},   {DType::IQ2_S, {}},  {DType::IQ4_XS, {}},  {DType::I8, {}},
    {DType::I16, {}},    {DType::I32, {}},     {DType::I64, {}},    {DType::F64, {}},     {DType::IQ1_M, {}},
    {DType::BF16, {}},   {{}, "Q4_0_4_4"},     {{}, "Q4_0_4_8"},    {{}, "Q4_0_8_8"},     {DType::TQ1_0, {}},
    {DType::TQ2_0, {}},  {{}, "IQ4_NL_4_4"},   {{}, "IQ4_NL_4_8"},  {{}, "IQ4_NL_8_8"},   {DType::MXFP4, {}},
    {DType::NVFP4, {}},  {DType::Q1_0, {}},    {DType::Q2_0, {}},
}};

// The ggml_type id of a dtype GGUF can hold; nullopt for the others (APR_Q4, C64, F8_*, ...).
[[nodiscard]] constexpr std::optional<std::uint32_t> ggml_type_id(DType dtype) noexcept {
  for (std::uint32_t id = 0; id < kGgmlTypes.size(); ++id) {
    if (kGgmlTypes[id].dtype == dtype) return id;
  }
  return std::nullopt;
}

}  // namespace ringload::gguf
