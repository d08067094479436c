#include "format/detect.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "support/build_bytes.hpp"

namespace ringload {
namespace {

using test::ByteBuilder;

Result<Format> detect(const std::vector<std::byte>& bytes) { return detect_format(bytes); }

TEST(Detect, RecognisesEachFormat) {
  EXPECT_EQ(*detect(ByteBuilder().str("GGUF").u32(3).take()), Format::gguf);
  EXPECT_EQ(*detect(ByteBuilder().str(std::string("APR\0", 4)).u8(2).take()), Format::apr);
  EXPECT_EQ(*detect(ByteBuilder().str("APR2").u8(2).take()), Format::apr);
  EXPECT_EQ(*detect(ByteBuilder().u64(2).str("{}").take()), Format::safetensors);
  EXPECT_EQ(*detect(ByteBuilder().u64(4).str("  {}").take()), Format::safetensors) << "leading whitespace";
}

TEST(Detect, EmptyFileIsTruncatedAtZero) {
  auto r = detect({});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::truncated);
  EXPECT_EQ(r.error().offset, 0U);
}

TEST(Detect, OtherAprFamiliesAreBadMagicWithAnExplanation) {
  for (const char* magic : {"APRN", "APR1"}) {
    auto r = detect(ByteBuilder().str(magic).zeros(60).take());
    ASSERT_FALSE(r) << magic;
    EXPECT_EQ(r.error().kind, ErrorKind::bad_magic);
    EXPECT_NE(r.error().message.find(magic), std::string::npos) << r.error().message;
  }
}

TEST(Detect, UnknownBytesAreBadMagic) {
  auto r = detect(ByteBuilder().str("PK\x03\x04").zeros(60).take());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::bad_magic);
  EXPECT_EQ(r.error().offset, 0U);
}

TEST(Detect, ShortUnknownFileIsTruncated) {
  auto r = detect(ByteBuilder().str("abc").take());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::truncated);
}

}  // namespace
}  // namespace ringload
