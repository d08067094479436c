// The ringload error category: a code is its kind and nothing more (the Error travels beside it,
// in the completion's report); kinds compare as conditions; a cancel is operation_aborted.
#include "ringload/error_code.hpp"

#include <gtest/gtest.h>

#include <string>

#include <boost/asio/error.hpp>

namespace ringload {
namespace {

TEST(ErrorCode, IsTheKindAloneAndNamesIt) {
  Error e = make_error(ErrorKind::size_mismatch, "declares 12 bytes, F32 [4] needs 16", 4096, "w.0");
  e.path = "/models/m.safetensors";
  const auto ec = make_error_code(e);
  EXPECT_TRUE(ec.failed());
  EXPECT_EQ(&ec.category(), &error_category());
  EXPECT_EQ(ec, make_error_code(ErrorKind::size_mismatch));
  EXPECT_NE(ec.message().find("size_mismatch"), std::string::npos) << ec.message();
  // Nothing of the Error's detail is kept anywhere the code could reach it.
  EXPECT_EQ(ec.message().find("/models/m.safetensors"), std::string::npos) << ec.message();
  EXPECT_EQ(ec.message().find("w.0"), std::string::npos) << ec.message();
}

TEST(ErrorCode, TwoErrorsOfOneKindAreTheSameCode) {
  const auto ec = make_error_code(make_error(ErrorKind::truncated, "ends early", 10, "a"));
  const auto other = make_error_code(make_error(ErrorKind::truncated, "ends earlier", 20, "b"));
  EXPECT_EQ(ec, other);
  EXPECT_EQ(ec.message(), other.message());
  EXPECT_TRUE(ec == ErrorKind::truncated);
  EXPECT_FALSE(ec == ErrorKind::bad_magic);
  EXPECT_EQ(error_kind(ec), ErrorKind::truncated);
}

TEST(ErrorCode, EveryKindRoundTripsWithItsOwnMessage) {
  for (int k = 0; k <= static_cast<int>(kLastErrorKind); ++k) {
    const auto kind = static_cast<ErrorKind>(k);
    if (kind == ErrorKind::cancelled) continue;
    const auto ec = make_error_code(make_error(kind, "x"));
    EXPECT_TRUE(ec.failed()) << to_string(kind);
    EXPECT_EQ(error_kind(ec), kind);
    EXPECT_TRUE(ec == kind);
    EXPECT_TRUE(ec.default_error_condition() == kind);
    EXPECT_NE(ec.message().find(to_string(kind)), std::string::npos) << ec.message();
  }
}

TEST(ErrorCode, CancelledIsAsioOperationAborted) {
  const auto ec = make_error_code(make_error(ErrorKind::cancelled, "stop"));
  EXPECT_EQ(ec, boost::asio::error::operation_aborted);
  EXPECT_EQ(make_error_code(ErrorKind::cancelled), boost::asio::error::operation_aborted);
  EXPECT_EQ(error_kind(ec), std::nullopt);
}

TEST(ErrorCode, OtherCategoriesHaveNoKind) {
  EXPECT_EQ(error_kind({}), std::nullopt);
  EXPECT_EQ(error_kind(boost::asio::error::eof), std::nullopt);
  EXPECT_FALSE(boost::system::error_code(boost::asio::error::eof) == ErrorKind::io);
}

}  // namespace
}  // namespace ringload
