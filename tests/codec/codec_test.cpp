#include "codec/codec.hpp"

#include <gtest/gtest.h>
#include <zstd.h>

#include <cstdint>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "support/build_bytes.hpp"

namespace ringload {
namespace {

using Bytes = std::vector<std::byte>;
using test::ByteBuilder;

constexpr std::uint64_t kNoLimit = std::numeric_limits<std::uint64_t>::max();

// Position-encoded bytes with some repetition, so both codecs find matches.
Bytes pattern(std::size_t n) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>((i / 7) * 31 + (i % 5));
  return out;
}

Bytes text_bytes(std::string_view s) {
  Bytes out(s.size());
  std::memcpy(out.data(), s.data(), s.size());
  return out;
}

Bytes zstd_frame(const Bytes& input, int level = 3) {
  Bytes out(ZSTD_compressBound(input.size()));
  const std::size_t n = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), level);
  EXPECT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
  out.resize(n);
  return out;
}

// ---- LZ4 (block format with a 4-byte LE size prefix, as lz4_flex's compress_prepend_size) ----

TEST(CodecLz4, RoundTripsWhenInputHasManySizes) {
  for (std::size_t n :
       {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{65536 + 3}, std::size_t{1} << 20}) {
    const Bytes input = pattern(n);
    auto packed = lz4_compress_size_prepended(input);
    ASSERT_TRUE(packed) << packed.error().to_string();
    std::uint32_t prefix = 0;
    std::memcpy(&prefix, packed->data(), 4);
    EXPECT_EQ(prefix, n);
    auto unpacked = lz4_decompress_size_prepended(*packed, kNoLimit);
    ASSERT_TRUE(unpacked) << unpacked.error().to_string();
    EXPECT_EQ(*unpacked, input) << "size " << n;
  }
}

TEST(CodecLz4, DecodesHandWrittenBlockWithLiteralsAndMatch) {
  // "abc", then a 9-byte match at distance 3, then 5 final literals: 17 bytes.
  ByteBuilder b;
  b.u32(17).u8(0x35).str("abc").u8(3).u8(0).u8(0x50).str("12345");
  auto out = lz4_decompress_size_prepended(b.bytes(), kNoLimit);
  ASSERT_TRUE(out) << out.error().to_string();
  EXPECT_EQ(*out, text_bytes("abcabcabcabc12345"));
}

TEST(CodecLz4, AcceptsBarePrefixForEmptyInput) {
  ByteBuilder b;
  b.u32(0);
  auto out = lz4_decompress_size_prepended(b.bytes(), kNoLimit);
  ASSERT_TRUE(out) << out.error().to_string();
  EXPECT_TRUE(out->empty());
}

TEST(CodecLz4, RejectsInputShorterThanPrefix) {
  const Bytes input = {std::byte{1}, std::byte{0}, std::byte{0}};
  auto out = lz4_decompress_size_prepended(input, kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 0u);
}

TEST(CodecLz4, RejectsDeclaredSizeAboveMaxOutput) {
  auto packed = lz4_compress_size_prepended(pattern(1000));
  ASSERT_TRUE(packed);
  auto out = lz4_decompress_size_prepended(*packed, 999);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 0u);
}

TEST(CodecLz4, RejectsDeclaredSizeOfTwoGiB) {
  ByteBuilder b;
  b.u32(0x80000000u).u8(0x50).str("12345");
  auto out = lz4_decompress_size_prepended(b.bytes(), kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 0u);
}

TEST(CodecLz4, RejectsDeclaredSizeBeyondMaximumExpansion) {
  // 6 body bytes can decode to at most 6 * 256; a 100 MB claim must fail before allocating.
  ByteBuilder b;
  b.u32(100'000'000).u8(0x50).str("12345");
  auto out = lz4_decompress_size_prepended(b.bytes(), kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 0u);
}

TEST(CodecLz4, RejectsBlockShorterThanDeclared) {
  ByteBuilder b;
  b.u32(8).u8(0x50).str("12345");
  auto out = lz4_decompress_size_prepended(b.bytes(), kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, b.size());
}

TEST(CodecLz4, RejectsBlockLongerThanDeclared) {
  ByteBuilder b;
  b.u32(3).u8(0x50).str("12345");
  auto out = lz4_decompress_size_prepended(b.bytes(), kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 5u);  // LZ4 stops just past the token asking for too many literals
}

TEST(CodecLz4, RejectsTruncatedBlock) {
  // The token promises 5 literals; only 2 follow.
  ByteBuilder b;
  b.u32(5).u8(0x50).str("12");
  auto out = lz4_decompress_size_prepended(b.bytes(), kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 5u);  // just past the token whose literals are missing
}

TEST(CodecLz4, RejectsMatchBeforeStartOfOutput) {
  // "abc" then a match at distance 9: it would copy from before the first output byte.
  ByteBuilder b;
  b.u32(17).u8(0x35).str("abc").u8(9).u8(0).u8(0x50).str("12345");
  auto out = lz4_decompress_size_prepended(b.bytes(), kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 10u);  // just past the offending 2-byte match offset
}

// ---- zstd ----

TEST(CodecZstd, RoundTripsWhenInputHasManySizes) {
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, std::size_t{1} << 20}) {
    const Bytes input = pattern(n);
    auto out = zstd_decompress(zstd_frame(input), kNoLimit);
    ASSERT_TRUE(out) << out.error().to_string();
    EXPECT_EQ(*out, input) << "size " << n;
  }
}

TEST(CodecZstd, GrowsOutputForHighlyCompressibleInput) {
  const Bytes zeros(std::size_t{32} << 20);  // 32 MiB compresses to a few KiB
  const Bytes frame = zstd_frame(zeros);
  ASSERT_LT(frame.size(), std::size_t{64} << 10);
  auto out = zstd_decompress(frame, kNoLimit);
  ASSERT_TRUE(out) << out.error().to_string();
  EXPECT_EQ(*out, zeros);
}

TEST(CodecZstd, DecodesConcatenatedFrames) {
  const Bytes first = pattern(5000);
  const Bytes second = text_bytes("second frame");
  ByteBuilder b;
  b.append(zstd_frame(first)).append(zstd_frame(second, 19));
  auto out = zstd_decompress(b.bytes(), kNoLimit);
  ASSERT_TRUE(out) << out.error().to_string();
  Bytes expected = first;
  expected.insert(expected.end(), second.begin(), second.end());
  EXPECT_EQ(*out, expected);
}

TEST(CodecZstd, AcceptsOutputExactlyAtLimit) {
  const Bytes input = pattern(70000);
  auto out = zstd_decompress(zstd_frame(input), input.size());
  ASSERT_TRUE(out) << out.error().to_string();
  EXPECT_EQ(*out, input);
}

TEST(CodecZstd, RejectsOutputAboveLimit) {
  const Bytes input = pattern(70000);
  auto out = zstd_decompress(zstd_frame(input), input.size() - 1);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
}

TEST(CodecZstd, RejectsEmptyInput) {
  auto out = zstd_decompress({}, kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 0u);
}

TEST(CodecZstd, RejectsTruncatedFrame) {
  Bytes frame = zstd_frame(pattern(5000));
  frame.resize(frame.size() - 3);
  auto out = zstd_decompress(frame, kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, frame.size());
}

TEST(CodecZstd, RejectsInputWithoutFrameMagic) {
  auto out = zstd_decompress(text_bytes("this is not zstd at all"), kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, 0u);
}

TEST(CodecZstd, RejectsTrailingGarbageAfterFrame) {
  ByteBuilder b;
  b.append(zstd_frame(pattern(100))).str("garbage!");
  const std::size_t frame_bytes = b.size() - 8;
  auto out = zstd_decompress(b.bytes(), kNoLimit);
  ASSERT_FALSE(out);
  EXPECT_EQ(out.error().kind, ErrorKind::decompression);
  EXPECT_EQ(out.error().offset, frame_bytes);
}

}  // namespace
}  // namespace ringload
