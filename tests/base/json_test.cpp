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

TEST(Json, RepeatedEmptyKeyIsDuplicateName) {
  auto j = parse_json(R"({"": 1, "": 2})", 0);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().kind, ErrorKind::duplicate_name);
}

TEST(Json, DuplicateKeyCanBeLastWins) {
  auto j = parse_json(R"({"w": 1, "x": 0, "w": 2})", 0, JsonParseOptions{.reject_duplicate_keys = false});
  ASSERT_TRUE(j) << j.error().to_string();
  EXPECT_EQ(dump_json(*j), R"({"w":2,"x":0})");
}

TEST(Json, RawNulIsMalformedEvenAfterAValidDocument) {
  const std::string text("{}\0{\"a\":1}", 9);
  auto j = parse_json(text, 8);
  ASSERT_FALSE(j);
  EXPECT_EQ(j.error().kind, ErrorKind::malformed_header);
  EXPECT_EQ(j.error().offset, 8U + 2U);
}

TEST(Json, LargeObjectsParseInLinearTime) {
  std::string text = "{";
  for (int i = 0; i < 50000; ++i)
    text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  text += "}";
  auto j = parse_json(text, 0);  // quadratic insertion would take tens of seconds here
  ASSERT_TRUE(j);
  EXPECT_EQ(j->size(), 50000U);
  EXPECT_EQ((*j)["k49999"], 49999);
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
