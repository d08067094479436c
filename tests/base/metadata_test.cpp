#include "ringload/metadata.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>

#include "base/json.hpp"

namespace ringload {
namespace {

TEST(MetadataValue, ConstructorsKeepTheKindTheValueHad) {
  EXPECT_EQ(MetadataValue().kind(), MetadataValue::Kind::null);
  EXPECT_EQ(MetadataValue(nullptr).kind(), MetadataValue::Kind::null);
  EXPECT_EQ(MetadataValue(true).kind(), MetadataValue::Kind::boolean);
  EXPECT_EQ(MetadataValue(std::int8_t{-1}).kind(), MetadataValue::Kind::int64);
  EXPECT_EQ(MetadataValue(std::uint8_t{1}).kind(), MetadataValue::Kind::uint64);
  EXPECT_EQ(MetadataValue(1.5F).kind(), MetadataValue::Kind::float64);
  // A string literal is a string, not the bool a pointer would convert to.
  EXPECT_EQ(MetadataValue("x").kind(), MetadataValue::Kind::string);
  EXPECT_EQ(*MetadataValue(std::int32_t{-7}).if_int64(), -7);
  EXPECT_EQ(*MetadataValue(std::uint32_t{4000000000U}).if_uint64(), 4000000000U);
}

TEST(MetadataValue, KindsNeverCompareEqualAcrossEachOther) {
  EXPECT_NE(MetadataValue(std::int64_t{1}), MetadataValue(std::uint64_t{1}));
  EXPECT_NE(MetadataValue(std::uint64_t{1}), MetadataValue(1.0));
  EXPECT_NE(MetadataValue(true), MetadataValue(std::uint64_t{1}));
  EXPECT_NE(MetadataValue("1"), MetadataValue(std::uint64_t{1}));
  EXPECT_EQ(MetadataValue(MetadataValue::Array{1, "a"}), MetadataValue(MetadataValue::Array{1, "a"}));
  // Key order is part of an object's value: it is the file's.
  EXPECT_NE(MetadataValue(MetadataValue::Object{{"a", 1}, {"b", 2}}),
            MetadataValue(MetadataValue::Object{{"b", 2}, {"a", 1}}));
}

TEST(MetadataValue, FindLooksUpObjectMembersOnly) {
  const MetadataValue object = MetadataValue::Object{{"a", 1}, {"b", MetadataValue::Array{2, 3}}};
  ASSERT_NE(object.find("b"), nullptr);
  EXPECT_EQ(object.find("b")->size(), 2U);
  EXPECT_EQ(object.find("c"), nullptr);
  EXPECT_EQ(MetadataValue(MetadataValue::Array{"a"}).find("a"), nullptr);
  EXPECT_EQ(MetadataValue("a").find("a"), nullptr);
  EXPECT_EQ(object.size(), 2U);
  EXPECT_EQ(MetadataValue("abc").size(), 0U);  // a scalar has no elements
  EXPECT_TRUE(MetadataValue::object().empty());
  EXPECT_EQ(object.if_array(), nullptr);
  EXPECT_EQ(object.if_string(), nullptr);
}

TEST(MetadataValue, ToJsonKeepsKindsOrderAndBytes) {
  const MetadataValue value =
      MetadataValue::Object{{"z", std::uint64_t{1}},
                            {"a", std::int64_t{-1}},
                            {"f", 0.25},
                            {"s", std::string("h\xC3\xA9\xFF")},
                            {"n", nullptr},
                            {"l", MetadataValue::Array{false, MetadataValue::object()}}};
  const nlohmann::ordered_json json = to_json(value);
  EXPECT_TRUE(json["z"].is_number_unsigned());
  EXPECT_TRUE(json["a"].is_number_integer() && !json["a"].is_number_unsigned());
  EXPECT_TRUE(json["f"].is_number_float());
  EXPECT_EQ(json["s"].get<std::string>(),
            "h\xC3\xA9\xFF");  // dump_json replaces the bad byte, to_json does not
  EXPECT_EQ(dump_json(json),
            "{\"z\":1,\"a\":-1,\"f\":0.25,\"s\":\"h\xC3\xA9\xEF\xBF\xBD\",\"n\":null,\"l\":[false,{}]}");
}

}  // namespace
}  // namespace ringload
