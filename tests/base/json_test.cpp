#include "base/json.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace ringload {
namespace {

using Array = MetadataValue::Array;
using Object = MetadataValue::Object;

void expect_malformed_at(std::string_view text, std::uint64_t base, std::uint64_t at) {
  SCOPED_TRACE(text);
  auto value = read_json(text, base);
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().kind, ErrorKind::malformed_header) << value.error().to_string();
  EXPECT_EQ(value.error().offset, at) << value.error().to_string();
}

TEST(Json, ReadsAnObjectKeepingKeyOrderAndNumberKinds) {
  auto value = read_json(R"({"b": 1, "a": [true, null, "x"], "c": {"d": -2.5}, "e": -0, "f": 1.0, "g": 1e2,
      "u64max": 18446744073709551615, "two64": 18446744073709551616,
      "i64min": -9223372036854775808, "below": -9223372036854775809})",
                         0);
  ASSERT_TRUE(value) << value.error().to_string();
  // Integers without a sign are unsigned, with one signed, and anything else (or too long for
  // 64 bits) a double: the kinds nlohmann gave, so inspect --json prints what it printed.
  const MetadataValue expected = Object{
      {"b", std::uint64_t{1}},
      {"a", Array{true, nullptr, "x"}},
      {"c", Object{{"d", -2.5}}},
      {"e", std::int64_t{0}},
      {"f", 1.0},
      {"g", 100.0},
      {"u64max", std::numeric_limits<std::uint64_t>::max()},
      {"two64", 18446744073709551616.0},
      {"i64min", std::numeric_limits<std::int64_t>::min()},
      {"below", -9223372036854775809.0},
  };
  EXPECT_EQ(*value, expected) << dump_json(to_json(*value));
}

TEST(Json, ReadsTopLevelScalarsAndSkipsOneByteOrderMark) {
  EXPECT_EQ(*read_json(R"( "x" )", 0), MetadataValue("x"));
  EXPECT_EQ(*read_json("\t3\n", 0), MetadataValue(std::uint64_t{3}));
  EXPECT_EQ(*read_json("\xEF\xBB\xBF{}", 0), MetadataValue::object());
  // Offsets after a byte-order mark still count it: the ']' is byte 3 + 3.
  expect_malformed_at("\xEF\xBB\xBF[1,]", 10, 10 + 6);
}

TEST(Json, DecodesEscapes) {
  auto value = read_json(R"(["a\u00e9\ud83d\ude00\n\"\\\/\b\f\r\t", "\u0000"])", 0);
  ASSERT_TRUE(value) << value.error().to_string();
  EXPECT_EQ(*value, MetadataValue(Array{"a\xC3\xA9\xF0\x9F\x98\x80\n\"\\/\b\f\r\t", std::string("\0", 1)}));
}

TEST(Json, DuplicateKeyIsDuplicateNameAtTheRepeatedKey) {
  const std::string text = R"({"w": 1, "x": [{"k": 1}, {"k": 2, "k": 3}], "w": 2})";
  auto value = read_json(text, 100);
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().kind, ErrorKind::duplicate_name);
  EXPECT_EQ(value.error().offset, 100 + text.rfind(R"("k")"));  // the nested one comes first
  EXPECT_NE(value.error().message.find("\"k\""), std::string::npos);
}

TEST(Json, RepeatedEmptyKeyIsDuplicateName) {
  auto value = read_json(R"({"": 1, "": 2})", 0);
  ASSERT_FALSE(value);
  EXPECT_EQ(value.error().kind, ErrorKind::duplicate_name);
  EXPECT_EQ(value.error().offset, 8U);
}

TEST(Json, DuplicateKeyCanBeLastWinsWhereTheFirstStood) {
  auto value = read_json(R"({"w": 1, "x": {"y": 0, "y": [1]}, "w": 2})", 0,
                         JsonParseOptions{.reject_duplicate_keys = false});
  ASSERT_TRUE(value) << value.error().to_string();
  EXPECT_EQ(*value,
            MetadataValue(Object{{"w", std::uint64_t{2}}, {"x", Object{{"y", Array{std::uint64_t{1}}}}}}));
}

TEST(Json, RawNulIsMalformedWhereItIsEvenAfterAValidDocument) {
  expect_malformed_at(std::string_view("{}\0{\"a\":1}", 9), 8, 8 + 2);
  expect_malformed_at(std::string_view("[\"a\0b\"]", 7), 0, 3);
}

TEST(Json, LargeObjectsParseInLinearTime) {
  std::string text = "{";
  for (int i = 0; i < 50000; ++i)
    text += (i ? ",\"k" : "\"k") + std::to_string(i) + "\":" + std::to_string(i);
  text += "}";
  auto value = read_json(text, 0);  // quadratic duplicate checks would take tens of seconds here
  ASSERT_TRUE(value);
  EXPECT_EQ(value->size(), 50000U);
  ASSERT_NE(value->find("k49999"), nullptr);
  EXPECT_EQ(*value->find("k49999"), MetadataValue(std::uint64_t{49999}));
}

TEST(Json, SyntaxErrorsAreAtTheFirstByteOfTheTokenAtFault) {
  struct Case {
    std::string_view text;
    std::uint64_t at;
  };
  for (const Case& c : {Case{R"({"a": 1,})", 8}, Case{"[1 2]", 3}, Case{R"({"a" 1})", 5}, Case{"[1,]", 3},
                        Case{R"({"a":[})", 6}, Case{"[01]", 1}, Case{"[1e999]", 1}, Case{"[-]", 1},
                        Case{"[tru]", 1}, Case{"[nulll]", 1}, Case{R"(["\x"])", 1}, Case{R"(["\ud800"])", 1},
                        Case{"{} x", 3}, Case{"1 2", 2}, Case{"]", 0}}) {
    expect_malformed_at(c.text, 8, 8 + c.at);
  }
}

TEST(Json, TextThatEndsEarlyIsMalformedWhereItEnds) {
  for (std::string_view text : {"", "  ", "[", R"({"a":1)", R"({"a":[1,)"}) {
    expect_malformed_at(text, 8, 8 + text.size());
  }
}

TEST(Json, InvalidUtf8IsMalformedAtTheFirstBadByte) {
  expect_malformed_at("{\"a\": \"\xFF\"}", 0, 7);
  expect_malformed_at("[\"ok\", \"\xC0\x80\"]", 0, 8);  // an overlong NUL
  expect_malformed_at("[\"\xED\xA0\x80\"] x", 0, 2);    // a UTF-8 surrogate, before the syntax error
}

TEST(Json, StringProblemsAreAtTheirByteOrQuote) {
  expect_malformed_at("[\"a\tb\"]", 0, 3);   // a raw control character
  expect_malformed_at(R"([1, "abc)", 0, 4);  // a string that never closes, at its opening quote
}

TEST(Json, NestingPast128IsMalformedAtTheBracketThatGoesTooDeep) {
  const auto nested = [](int levels) { return std::string(levels, '[') + std::string(levels, ']'); };
  ASSERT_TRUE(read_json(nested(128), 0));
  expect_malformed_at(nested(129), 0, 128);
  // Objects count too, and an unclosed hostile depth fails the same way.
  ASSERT_TRUE(read_json(std::string(127, '[') + "{}" + std::string(127, ']'), 0));
  expect_malformed_at(std::string(128, '[') + "{}" + std::string(128, ']'), 0, 128);
  expect_malformed_at(std::string(100'000, '['), 0, 128);
}

TEST(Json, ParseJsonGivesTheSameValueAsNlohmannJson) {
  const std::string text = R"({"b":1,"a":[true,null,"x"],"c":{"d":-2.5},"e":-3,"f":0.5})";
  auto json = parse_json(text, 0);
  ASSERT_TRUE(json) << json.error().to_string();
  EXPECT_EQ(dump_json(*json), text);
  EXPECT_TRUE((*json)["b"].is_number_unsigned());
  EXPECT_TRUE((*json)["e"].is_number_integer() && !(*json)["e"].is_number_unsigned());
  EXPECT_TRUE((*json)["f"].is_number_float());
  auto bad = parse_json("[1,]", 8);
  ASSERT_FALSE(bad);
  EXPECT_EQ(bad.error().offset, 8U + 3U);
}

TEST(Json, DumpReplacesInvalidUtf8InsteadOfThrowing) {
  nlohmann::ordered_json j = std::string("ok\xFF");
  EXPECT_EQ(dump_json(j), "\"ok\xEF\xBF\xBD\"");
}

}  // namespace
}  // namespace ringload
