#include "base/utf8.hpp"

#include <gtest/gtest.h>

#include <string>

namespace ringload {
namespace {

TEST(Utf8, AcceptsAsciiAndMultibyteText) {
  EXPECT_FALSE(first_invalid_utf8("blk.0.attn_q.weight").has_value());
  EXPECT_FALSE(first_invalid_utf8("\xC3\xA9t\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80").has_value());
  EXPECT_FALSE(first_invalid_utf8("").has_value());
}

TEST(Utf8, ReportsTheFirstBadByte) {
  EXPECT_EQ(first_invalid_utf8("ab\xFF"
                               "cd"),
            2U);
  EXPECT_EQ(first_invalid_utf8("abc\xC3"), 3U) << "truncated sequence";
  EXPECT_EQ(first_invalid_utf8("\xC0\xAF"), 0U) << "overlong";
  EXPECT_EQ(first_invalid_utf8("x\xED\xA0\x80"), 1U) << "surrogate";
  EXPECT_EQ(first_invalid_utf8("\xF4\x90\x80\x80"), 0U) << "beyond U+10FFFF";
  EXPECT_EQ(first_invalid_utf8(std::string("a\xE2\x28\xA1", 4)), 1U) << "bad continuation";
}

}  // namespace
}  // namespace ringload
