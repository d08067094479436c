// fill_tensor_values: the bytes `gen` writes keep every float finite — element types and the
// scales inside quantized blocks — and differ from the raw counter bytes in nothing else. The
// layouts are restated here from ggml's block structs and IEEE 754, independently of content.cpp.
#include <cmath>
#include <cstring>
#include <vector>

#include <gtest/gtest.h>

#include "gen/gen.hpp"

namespace ringload::gen {
namespace {

constexpr std::uint64_t kKey = 0x5EED'0000'1234'5678ULL;

std::vector<std::byte> raw(std::size_t size, std::uint64_t position = 0) {
  std::vector<std::byte> out(size);
  fill_tensor_bytes(kKey, position, out);
  return out;
}
std::vector<std::byte> values(DType dtype, std::size_t size, std::uint64_t position = 0) {
  std::vector<std::byte> out(size);
  fill_tensor_values(kKey, dtype, position, out);
  return out;
}

std::uint16_t u16_at(const std::vector<std::byte>& bytes, std::size_t offset) {
  return static_cast<std::uint16_t>(std::to_integer<unsigned>(bytes[offset]) |
                                    (std::to_integer<unsigned>(bytes[offset + 1]) << 8));
}

// IEEE binary16: exponent bits 14..10 all ones is Inf or NaN.
bool half_finite(std::uint16_t h) { return ((h >> 10) & 0x1F) != 0x1F; }
// bfloat16 is the top half of a binary32: exponent bits 14..7.
bool bfloat_finite(std::uint16_t b) { return ((b >> 7) & 0xFF) != 0xFF; }

float f32_at(const std::vector<std::byte>& bytes, std::size_t offset) {
  float f = 0;
  std::memcpy(&f, bytes.data() + offset, sizeof f);  // the test host is little-endian, like GGUF
  return f;
}

TEST(GenValues, RawBytesHoldHalfInfinitiesAndNaNsThatValuesDoNot) {
  constexpr std::size_t kElements = 1 << 16;  // 1 in 32 random halves is Inf/NaN: ~2048 here
  const auto before = raw(2 * kElements);
  const auto after = values(DType::F16, 2 * kElements);
  std::size_t non_finite_before = 0;
  for (std::size_t i = 0; i < kElements; ++i) {
    if (!half_finite(u16_at(before, 2 * i))) ++non_finite_before;
    ASSERT_TRUE(half_finite(u16_at(after, 2 * i))) << "element " << i;
  }
  EXPECT_GT(non_finite_before, 1000U) << "the raw bytes are random: the mask has something to do";
}

TEST(GenValues, DifferFromRawBytesOnlyInTheTopExponentBitOfEachElement) {
  struct Case {
    DType dtype;
    std::size_t element_bytes;
  };
  for (const Case c : {Case{DType::F16, 2}, Case{DType::BF16, 2}, Case{DType::F32, 4}, Case{DType::F64, 8}}) {
    const auto before = raw(4096);
    const auto after = values(c.dtype, 4096);
    std::size_t changed = 0;
    for (std::size_t p = 0; p < before.size(); ++p) {
      const auto diff = std::to_integer<unsigned>(before[p] ^ after[p]);
      const bool top_byte = p % c.element_bytes == c.element_bytes - 1;
      ASSERT_EQ(diff & ~(top_byte ? 0x40U : 0U), 0U) << dtype_name(c.dtype) << " byte " << p;
      ASSERT_EQ(std::to_integer<unsigned>(after[p]) & (top_byte ? 0x40U : 0U), 0U);
      if (diff != 0) ++changed;
    }
    // About half the elements had the bit set.
    EXPECT_GT(changed, before.size() / c.element_bytes / 4) << dtype_name(c.dtype);
  }
}

TEST(GenValues, BfloatAndFloatValuesAreFiniteAndBelowTwo) {
  const auto bf = values(DType::BF16, 1 << 16);
  for (std::size_t p = 0; p < bf.size(); p += 2) ASSERT_TRUE(bfloat_finite(u16_at(bf, p))) << "byte " << p;
  const auto f = values(DType::F32, 1 << 16);
  bool negative = false;
  for (std::size_t p = 0; p < f.size(); p += 4) {
    const float x = f32_at(f, p);
    ASSERT_TRUE(std::isfinite(x)) << "byte " << p;
    ASSERT_LT(std::fabs(x), 2.0F) << "byte " << p;
    negative = negative || x < 0;
  }
  EXPECT_TRUE(negative) << "signs stay random";
}

// ggml-common.h: where each block keeps its f16 (or f32) scales.
struct BlockCase {
  DType dtype;
  std::size_t block_bytes;
  std::vector<std::size_t> half_scales;  // byte offsets of f16 fields
};

TEST(GenValues, QuantizedBlockScalesAreFiniteAndTheQuantsStayRaw) {
  const std::vector<BlockCase> cases{
      {DType::Q8_0, 34, {0}},       // d, qs[32]
      {DType::Q4_0, 18, {0}},       // d, qs[16]
      {DType::Q4_1, 20, {0, 2}},    // d, m, qs[16]
      {DType::Q4_K, 144, {0, 2}},   // d, dmin, scales[12], qs[128]
      {DType::Q5_K, 176, {0, 2}},   // d, dmin, scales[12], qh[32], qs[128]
      {DType::Q6_K, 210, {208}},    // ql[128], qh[64], scales[16], d
      {DType::Q2_K, 84, {80, 82}},  // scales[16], qs[64], d, dmin
      {DType::Q3_K, 110, {108}},    // hmask[32], qs[64], scales[12], d
      {DType::APR_Q4, 18, {0}},     // APR_V2.md §9: scale f16, nibbles[16]
  };
  for (const BlockCase& c : cases) {
    const std::size_t blocks = 4096;
    const auto before = raw(blocks * c.block_bytes);
    const auto after = values(c.dtype, blocks * c.block_bytes);
    std::size_t non_finite_before = 0;
    for (std::size_t b = 0; b < blocks; ++b) {
      const std::size_t base = b * c.block_bytes;
      for (std::size_t field : c.half_scales) {
        if (!half_finite(u16_at(before, base + field))) ++non_finite_before;
        ASSERT_TRUE(half_finite(u16_at(after, base + field))) << dtype_name(c.dtype) << " block " << b;
      }
    }
    EXPECT_GT(non_finite_before, 0U) << dtype_name(c.dtype);
    // Everything but the scales' top bytes is the raw stream.
    for (std::size_t p = 0; p < before.size(); ++p) {
      bool scale_top = false;
      for (std::size_t field : c.half_scales) scale_top = scale_top || p % c.block_bytes == field + 1;
      if (!scale_top) ASSERT_EQ(before[p], after[p]) << dtype_name(c.dtype) << " byte " << p;
    }
  }
}

TEST(GenValues, AprQ8ScaleIsFiniteAndItsQuantsStayRaw) {
  for (int seed_offset = 0; seed_offset < 64; ++seed_offset) {
    std::vector<std::byte> before(64);
    std::vector<std::byte> after(64);
    fill_tensor_bytes(kKey + seed_offset, 0, before);
    fill_tensor_values(kKey + seed_offset, DType::APR_Q8, 0, after);
    ASSERT_TRUE(std::isfinite(f32_at(after, 0)));
    EXPECT_TRUE(std::equal(before.begin() + 4, before.end(), after.begin() + 4));
  }
}

TEST(GenValues, IntegerTypesAreTheRawBytes) {
  for (DType dtype : {DType::I8, DType::I32, DType::U8, DType::BOOL}) {
    EXPECT_EQ(values(dtype, 1000), raw(1000)) << dtype_name(dtype);
  }
}

TEST(GenValues, AnyWindowEqualsTheSameBytesOfABigWindow) {
  for (DType dtype : {DType::F16, DType::F32, DType::Q4_K, DType::Q6_K, DType::APR_Q8}) {
    const auto big = values(dtype, 4096 + 300);
    for (std::uint64_t start : {0, 1, 2, 3, 4, 5, 143, 144, 145, 209, 210, 1000, 4095}) {
      for (std::size_t length : {0, 1, 2, 3, 7, 144, 211, 290}) {
        const auto window = values(dtype, length, start);
        ASSERT_TRUE(
            std::equal(window.begin(), window.end(), big.begin() + static_cast<std::ptrdiff_t>(start)))
            << dtype_name(dtype) << " window [" << start << ", +" << length << ")";
      }
    }
  }
}

}  // namespace
}  // namespace ringload::gen
