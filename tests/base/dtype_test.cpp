#include "ringload/dtype.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <vector>

namespace ringload {
namespace {

TEST(DType, NamesRoundTripForEveryDType) {
  for (const DTypeInfo& info : all_dtypes()) {
    auto back = dtype_from_name(info.name);
    ASSERT_TRUE(back.has_value()) << info.name;
    EXPECT_EQ(*back, info.dtype);
    EXPECT_EQ(dtype_name(info.dtype), info.name);
  }
  EXPECT_FALSE(dtype_from_name("f32").has_value()) << "names are case-sensitive";
  EXPECT_FALSE(dtype_from_name("Q4_2").has_value()) << "removed ggml type";
}

TEST(DType, BlockGeometryMatchesGgmlStructs) {
  EXPECT_EQ(dtype_byte_size(DType::Q4_0, 64), 36U);
  EXPECT_EQ(dtype_byte_size(DType::Q8_0, 32), 34U);
  EXPECT_EQ(dtype_byte_size(DType::Q4_K, 512), 288U);
  EXPECT_EQ(dtype_byte_size(DType::Q6_K, 256), 210U);
  EXPECT_EQ(dtype_byte_size(DType::IQ4_XS, 256), 136U);
  EXPECT_EQ(dtype_byte_size(DType::MXFP4, 32), 17U);
  EXPECT_EQ(dtype_byte_size(DType::NVFP4, 64), 36U);
  EXPECT_EQ(dtype_byte_size(DType::Q1_0, 128), 18U);
  EXPECT_EQ(dtype_byte_size(DType::BF16, 3), 6U);
  EXPECT_EQ(dtype_byte_size(DType::C64, 2), 16U);
}

TEST(DType, ExactRoundingRejectsPartialBlocks) {
  EXPECT_FALSE(dtype_byte_size(DType::Q4_K, 255).has_value());
  EXPECT_FALSE(dtype_byte_size(DType::F4, 3).has_value()) << "3 x 4 bits is not whole bytes";
  EXPECT_EQ(dtype_byte_size(DType::F4, 4), 2U);
  EXPECT_FALSE(dtype_byte_size(DType::F6_E2M3, 2).has_value());
  EXPECT_EQ(dtype_byte_size(DType::F6_E3M2, 8), 6U);
}

TEST(DType, AprPaddingRoundsTheLastBlockUp) {
  EXPECT_EQ(dtype_byte_size(DType::APR_Q4, 33, BlockRounding::pad_last_block), 36U);
  EXPECT_EQ(dtype_byte_size(DType::Q4_K, 300, BlockRounding::pad_last_block), 288U);
  EXPECT_EQ(dtype_byte_size(DType::APR_Q8, 10, BlockRounding::pad_last_block), 14U) << "f32 scale + n";
  EXPECT_EQ(dtype_byte_size(DType::APR_Q8, 0, BlockRounding::pad_last_block), 0U) << "empty tensor";
}

TEST(DType, OverflowIsReportedNotWrapped) {
  const std::uint64_t huge = std::numeric_limits<std::uint64_t>::max() / 2;
  EXPECT_FALSE(dtype_byte_size(DType::F32, huge).has_value());
  std::vector<std::uint64_t> shape{1ULL << 33, 1ULL << 33};
  EXPECT_FALSE(element_count(shape).has_value());
  EXPECT_EQ(element_count(std::vector<std::uint64_t>{}), 1U) << "a scalar";
  EXPECT_EQ(element_count(std::vector<std::uint64_t>{3, 0, 5}), 0U);
}

}  // namespace
}  // namespace ringload
