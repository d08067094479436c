// Every element type of APR v2, safetensors and GGUF, with the block geometry that gives a
// tensor's byte size. Names are the formats' own upper-case spellings (F32, BF16, Q4_K, APR_Q4).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

namespace ringload {

enum class DType : std::uint8_t {
  // Element types (safetensors names; GGUF and APR share the common ones).
  F64,
  F32,
  F16,
  BF16,
  C64,
  I64,
  I32,
  I16,
  I8,
  U64,
  U32,
  U16,
  U8,
  BOOL,
  F8_E4M3,
  F8_E5M2,
  F8_E8M0,
  F8_E4M3FNUZ,
  F8_E5M2FNUZ,
  F6_E2M3,
  F6_E3M2,
  F4,
  // ggml block-quantized types (GGUF, and raw GGML blocks inside APR).
  Q4_0,
  Q4_1,
  Q5_0,
  Q5_1,
  Q8_0,
  Q8_1,
  Q2_K,
  Q3_K,
  Q4_K,
  Q5_K,
  Q6_K,
  Q8_K,
  IQ2_XXS,
  IQ2_XS,
  IQ3_XXS,
  IQ1_S,
  IQ4_NL,
  IQ3_S,
  IQ2_S,
  IQ4_XS,
  IQ1_M,
  TQ1_0,
  TQ2_0,
  MXFP4,
  NVFP4,
  Q1_0,
  Q2_0,
  // APR-native quantizations.
  APR_Q4,
  APR_Q8,
};

// A tensor of n elements takes prefix_bytes + (n / block_elems) * block_bytes bytes (the prefix
// only when n > 0: APR_Q8's per-tensor f32 scale). Sub-byte element types are blocks too:
// F4 packs 2 elements into 1 byte, F6 packs 4 into 3.
struct DTypeInfo {
  DType dtype;
  std::string_view name;
  std::uint32_t block_elems;
  std::uint32_t block_bytes;
  std::uint32_t prefix_bytes;
};

// How a final partial block is treated: GGUF and safetensors demand whole blocks (a row of
// Q4_K is a multiple of 256 elements); APR's writers zero-pad the last block.
enum class BlockRounding : std::uint8_t { exact, pad_last_block };

[[nodiscard]] const DTypeInfo& dtype_info(DType dtype) noexcept;
[[nodiscard]] std::string_view dtype_name(DType dtype) noexcept;
[[nodiscard]] std::optional<DType> dtype_from_name(std::string_view name) noexcept;
[[nodiscard]] std::span<const DTypeInfo> all_dtypes() noexcept;

// Product of dims; nullopt on u64 overflow. An empty shape is a scalar (1 element).
[[nodiscard]] std::optional<std::uint64_t> element_count(std::span<const std::uint64_t> shape) noexcept;

// Byte size of `elements` elements; nullopt on overflow or (exact) a partial block.
[[nodiscard]] std::optional<std::uint64_t> dtype_byte_size(
    DType dtype, std::uint64_t elements, BlockRounding rounding = BlockRounding::exact) noexcept;

}  // namespace ringload
