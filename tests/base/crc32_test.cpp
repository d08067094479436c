#include "base/crc32.hpp"

#include <gtest/gtest.h>

#include <string_view>
#include <vector>

namespace ringload {
namespace {

std::span<const std::byte> as_bytes(std::string_view s) {
  return {reinterpret_cast<const std::byte*>(s.data()), s.size()};
}

TEST(Crc32, MatchesTheIeeeCheckValue) { EXPECT_EQ(crc32(as_bytes("123456789")), 0xCBF43926U); }

TEST(Crc32, EmptyInputIsZero) { EXPECT_EQ(crc32({}), 0U); }

TEST(Crc32, IncrementalUpdateEqualsOneShotAtEverySplit) {
  std::vector<std::byte> data(1031);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>((i * 131 + 7) & 0xFF);
  const std::uint32_t whole = crc32(data);
  for (std::size_t split = 0; split <= data.size(); split += 97) {
    const std::span<const std::byte> all(data);
    EXPECT_EQ(crc32_update(crc32(all.first(split)), all.subspan(split)), whole) << "split " << split;
  }
}

TEST(Crc32, SlicedLoopAgreesWithBytewiseReference) {
  std::vector<std::byte> data(4099);
  for (std::size_t i = 0; i < data.size(); ++i) data[i] = static_cast<std::byte>((i * 2654435761U) >> 13);
  std::uint32_t c = 0xFFFFFFFFU;
  for (std::byte b : data) {
    c ^= static_cast<std::uint32_t>(b);
    for (int k = 0; k < 8; ++k) c = (c & 1U) ? 0xEDB88320U ^ (c >> 1) : c >> 1;
  }
  EXPECT_EQ(crc32(data), ~c);
}

}  // namespace
}  // namespace ringload
