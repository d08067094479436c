// Tensor contents of generated models: a counter-based generator, so any byte range of any
// tensor can be produced (or re-derived by a verifier) without the bytes before it.
#include "gen/gen.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <cstring>

namespace ringload::gen {
namespace {

// splitmix64's output function applied to a counter (Steele, Lea, Flood 2014): a bijection on
// u64 whose outputs for consecutive inputs pass BigCrush — random-looking bytes, so a
// misplaced 8-byte word never equals the word that belongs there.
constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The word's bytes in little-endian order, whatever the host.
inline void store_le64(std::byte* out, std::uint64_t word) noexcept {
  if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
  std::memcpy(out, &word, sizeof word);
}

// Where a dtype keeps floating-point numbers: in every block (dtype_info's block_bytes, after the
// prefix) the most significant byte of each float field, at `top_bytes`, is ANDed with
// `keep_mask`. Clearing the exponent's top bit (0x40 of the byte holding the sign and the high
// exponent bits) keeps the exponent below all-ones, so no value is Inf or NaN and |value| < 2,
// while every other bit stays as random as before.
struct FiniteRule {
  std::array<std::uint32_t, 2> top_bytes{};
  std::uint32_t fields = 0;       // how many of top_bytes are used
  std::uint32_t prefix_top = 0;   // > 0: byte prefix_top - 1 of the prefix is a float's top byte
  std::uint8_t keep_mask = 0xBF;  // clears 0x40
};

constexpr FiniteRule one_field(std::uint32_t top) { return {{top, 0}, 1, 0, 0xBF}; }
constexpr FiniteRule two_fields(std::uint32_t top0, std::uint32_t top1) { return {{top0, top1}, 2, 0, 0xBF}; }

// The float fields of each layout (ggml's ggml-common.h block structs; APR_V2.md §9). Integer
// types, F4/F6 (no Inf/NaN encodings) and blocks without a float scale (IQ1_M; NVFP4's UE4M3
// scales decode every byte to a finite value) need none.
constexpr FiniteRule finite_rule(DType dtype) {
  switch (dtype) {
    case DType::F64: return one_field(7);
    case DType::F32: return one_field(3);
    case DType::C64: return two_fields(3, 7);  // real and imaginary F32
    case DType::F16:
    case DType::BF16: return one_field(1);
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::F8_E8M0: return one_field(0);
    // FNUZ formats have one NaN, 0x80 (negative zero's pattern): clearing the sign removes it.
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ: return {{0, 0}, 1, 0, 0x7F};
    case DType::Q4_0:     // d f16, qs[16]
    case DType::Q5_0:     // d f16, qh[4], qs[16]
    case DType::Q8_0:     // d f16, qs[32]
    case DType::IQ2_XXS:  // every IQ block but IQ1_M starts with d f16
    case DType::IQ2_XS:
    case DType::IQ3_XXS:
    case DType::IQ1_S:
    case DType::IQ4_NL:
    case DType::IQ3_S:
    case DType::IQ2_S:
    case DType::IQ4_XS:
    case DType::Q1_0:  // d f16, then the bits
    case DType::Q2_0:
    case DType::APR_Q4: return one_field(1);          // scale f16, nibbles[16]
    case DType::Q4_1:                                 // d, m f16, qs[16]
    case DType::Q5_1:                                 // d, m f16, qh[4], qs[16]
    case DType::Q8_1:                                 // d, s f16, qs[32]
    case DType::Q4_K:                                 // d, dmin f16, scales[12], qs[128]
    case DType::Q5_K: return two_fields(1, 3);        // d, dmin f16, scales[12], qh[32], qs[128]
    case DType::Q2_K: return two_fields(81, 83);      // scales[16], qs[64], d, dmin f16
    case DType::Q3_K: return one_field(109);          // hmask[32], qs[64], scales[12], d f16
    case DType::Q6_K: return one_field(209);          // ql[128], qh[64], scales[16], d f16
    case DType::Q8_K: return one_field(3);            // d f32, qs[256], bsums[16]
    case DType::TQ1_0: return one_field(53);          // qs[48], qh[4], d f16
    case DType::TQ2_0: return one_field(65);          // qs[64], d f16
    case DType::MXFP4: return one_field(0);           // e E8M0 (0xFF is NaN), qs[16]
    case DType::APR_Q8: return {{0, 0}, 0, 4, 0xBF};  // one f32 scale before the i8 values
    default: return {};
  }
}

constexpr std::uint64_t kFnvOffset = 0xCBF29CE484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001B3ULL;

}  // namespace

std::uint64_t tensor_key(std::uint64_t seed, std::string_view name) noexcept {
  std::uint64_t h = kFnvOffset;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  // Mixing the seed through splitmix64 first makes keys of one name under nearby seeds unrelated.
  return splitmix64(h ^ splitmix64(seed));
}

void fill_tensor_bytes(std::uint64_t key, std::uint64_t position, std::span<std::byte> out) noexcept {
  std::byte* p = out.data();
  std::size_t left = out.size();
  std::uint64_t word_index = position / 8;

  // A window starting mid-word takes that word's tail.
  if (const auto skip = static_cast<std::size_t>(position % 8); skip != 0 && left > 0) {
    std::byte word[8];
    store_le64(word, splitmix64(key + word_index++));
    const std::size_t take = std::min(left, 8 - skip);
    std::memcpy(p, word + skip, take);
    p += take;
    left -= take;
  }
  // Whole words: one generator call per 8 bytes (the loop the throughput depends on).
  for (; left >= 8; left -= 8, p += 8) store_le64(p, splitmix64(key + word_index++));
  // And a window ending mid-word takes that word's head.
  if (left > 0) {
    std::byte word[8];
    store_le64(word, splitmix64(key + word_index));
    std::memcpy(p, word, left);
  }
}

void keep_values_finite(DType dtype, std::uint64_t position, std::span<std::byte> out) noexcept {
  const FiniteRule rule = finite_rule(dtype);
  const std::uint64_t end = position + out.size();
  if (rule.prefix_top > 0 && position < rule.prefix_top && end >= rule.prefix_top) {
    out[rule.prefix_top - 1 - position] &= std::byte{rule.keep_mask};
  }
  const std::uint64_t stride = dtype_info(dtype).block_bytes;
  for (std::uint32_t f = 0; f < rule.fields; ++f) {
    // The first byte at or after `position` that sits at top_bytes[f] of its block.
    std::uint64_t first = rule.prefix_top + rule.top_bytes[f];
    if (first < position) first += (position - first + stride - 1) / stride * stride;
    for (std::uint64_t p = first; p < end; p += stride) out[p - position] &= std::byte{rule.keep_mask};
  }
}

void fill_tensor_values(std::uint64_t key, DType dtype, std::uint64_t position,
                        std::span<std::byte> out) noexcept {
  fill_tensor_bytes(key, position, out);
  keep_values_finite(dtype, position, out);
}

}  // namespace ringload::gen
