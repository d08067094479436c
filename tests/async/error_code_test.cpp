// The ringload error category: kinds compare as conditions, messages keep file, tensor, offset.
#include "ringload/error_code.hpp"

#include <gtest/gtest.h>

#include <boost/asio/error.hpp>

namespace ringload {
namespace {

TEST(ErrorCode, MessageKeepsFileTensorAndOffset) {
  Error e = make_error(ErrorKind::size_mismatch, "declares 12 bytes, F32 [4] needs 16", 4096, "w.0");
  e.path = "/models/m.safetensors";
  const auto ec = make_error_code(e);
  EXPECT_TRUE(ec.failed());
  EXPECT_EQ(&ec.category(), &error_category());
  EXPECT_EQ(ec.message(), e.to_string());
  EXPECT_NE(ec.message().find("/models/m.safetensors"), std::string::npos);
  EXPECT_NE(ec.message().find("w.0"), std::string::npos);
  EXPECT_NE(ec.message().find("4096"), std::string::npos);
}

TEST(ErrorCode, ComparesEqualToItsKindOnly) {
  const auto ec = make_error_code(make_error(ErrorKind::truncated, "ends early"));
  EXPECT_TRUE(ec == ErrorKind::truncated);
  EXPECT_FALSE(ec == ErrorKind::bad_magic);
  EXPECT_EQ(error_kind(ec), ErrorKind::truncated);
  // Two errors of one kind are different codes (different detail) but the same condition.
  const auto other = make_error_code(make_error(ErrorKind::truncated, "ends earlier"));
  EXPECT_NE(ec, other);
  EXPECT_EQ(ec.default_error_condition(), other.default_error_condition());
}

TEST(ErrorCode, EveryKindRoundTrips) {
  for (int k = 0; k <= static_cast<int>(kLastErrorKind); ++k) {
    const auto kind = static_cast<ErrorKind>(k);
    if (kind == ErrorKind::cancelled) continue;
    const auto ec = make_error_code(make_error(kind, "x"));
    EXPECT_TRUE(ec.failed()) << to_string(kind);
    EXPECT_EQ(error_kind(ec), kind);
    EXPECT_TRUE(ec == kind);
  }
}

TEST(ErrorCode, CancelledIsAsioOperationAborted) {
  const auto ec = make_error_code(make_error(ErrorKind::cancelled, "stop"));
  EXPECT_EQ(ec, boost::asio::error::operation_aborted);
  EXPECT_EQ(error_kind(ec), std::nullopt);
}

TEST(ErrorCode, OldCodesFallBackToTheKindName) {
  const auto first = make_error_code(make_error(ErrorKind::gap, "first"));
  for (int i = 0; i < kErrorCodeDetailKept; ++i) (void)make_error_code(make_error(ErrorKind::io, "newer"));
  EXPECT_EQ(first.message(), "ringload error [gap]");
  EXPECT_TRUE(first == ErrorKind::gap);
}

}  // namespace
}  // namespace ringload
