#include "base/json.hpp"

#include <gtest/gtest.h>

namespace ringload {
namespace {

TEST(Json, ParsesAnObjectKeepingKeyOrder) {
  auto j = parse_json(R"({"b": 1, "a": [true, null, "x"], "c": {"d": -2.5}})", 0);
  ASSERT_TRUE(j) << j.error().to_string();
  EXPECT_EQ(dump_json(*j), R"({"b":1,"a":[true,null,"x"],"c":{"d":-2.5}})");
}

TEST(Json, DuplicateKeyIsDuplicateName) {
  auto j = parse_json(R"({"w": 1, "w": 2})", 100);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().kind, ErrorKind::duplicate_name);
  EXPECT_NE(j.error().message.find("\"w\""), std::string::npos);
}

TEST(Json, SyntaxErrorNamesTheAbsoluteOffset) {
  auto j = parse_json(R"({"a": 1,})", 8);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().kind, ErrorKind::malformed_header);
  EXPECT_EQ(j.error().offset, 8U + 8U);  // the '}' after the trailing comma
}

TEST(Json, InvalidUtf8InAStringIsMalformed) {
  auto j = parse_json("{\"a\": \"\xFF\"}", 0);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().kind, ErrorKind::malformed_header);
}

TEST(Json, DumpReplacesInvalidUtf8InsteadOfThrowing) {
  nlohmann::ordered_json j = std::string("ok\xFF");
  EXPECT_EQ(dump_json(j), "\"ok\xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace ringload
