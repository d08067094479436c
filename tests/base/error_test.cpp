#include "ringload/error.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <string>

#include "base/utf8.hpp"

namespace ringload {
namespace {

// Error text quotes bytes from files (names, JSON excerpts) and paths, none of which need be UTF-8;
// what reaches a terminal, a log or a JSON encoder must be. Bytes outside a valid sequence become
// `\xNN`; everything valid stays as it is.

TEST(ErrorText, MakeErrorEscapesInvalidBytesInMessageAndTensor) {
  const Error e = make_error(ErrorKind::malformed_header, "got \xE7 here", 7, "w\xFF");
  EXPECT_EQ(e.kind, ErrorKind::malformed_header);
  EXPECT_EQ(e.offset, 7U);
  EXPECT_EQ(e.message, "got \\xE7 here");
  EXPECT_EQ(e.tensor, "w\\xFF");
}

TEST(ErrorText, KeepsValidMultibyteTextIntact) {
  const std::string text = "caf\xC3\xA9 \xE2\x82\xAC \xF0\x9F\x98\x80 \xF4\x8F\xBF\xBF";  // é € 😀 U+10FFFF
  const Error e = make_error(ErrorKind::invalid_name, text, 1, text);
  EXPECT_EQ(e.message, text);
  EXPECT_EQ(e.tensor, text);
  EXPECT_NE(e.to_string().find(text), std::string::npos);
}

TEST(ErrorText, EscapesOverlongSurrogateAndOutOfRangeEncodingsByteByByte) {
  EXPECT_EQ(make_error(ErrorKind::io, "\xC0\xAF").message, "\\xC0\\xAF") << "overlong '/'";
  EXPECT_EQ(make_error(ErrorKind::io, "\xE0\x80\xAF").message, "\\xE0\\x80\\xAF") << "3-byte overlong";
  EXPECT_EQ(make_error(ErrorKind::io, "\xF0\x80\x80\xAF").message, "\\xF0\\x80\\x80\\xAF")
      << "4-byte overlong";
  EXPECT_EQ(make_error(ErrorKind::io, "x\xED\xA0\x80y").message, "x\\xED\\xA0\\x80y") << "surrogate U+D800";
  EXPECT_EQ(make_error(ErrorKind::io, "\xF4\x90\x80\x80").message, "\\xF4\\x90\\x80\\x80") << "past U+10FFFF";
  EXPECT_EQ(make_error(ErrorKind::io, "\xF8\x88\x80\x80\x80").message, "\\xF8\\x88\\x80\\x80\\x80")
      << "5-byte form";
}

TEST(ErrorText, EscapesCutSequencesButKeepsTheValidBytesAfterThem) {
  EXPECT_EQ(make_error(ErrorKind::io, "ab\xE2\x82").message, "ab\\xE2\\x82") << "cut at the end";
  EXPECT_EQ(make_error(ErrorKind::io, "\xE2(\xA1").message, "\\xE2(\\xA1") << "bad continuation";
  EXPECT_EQ(make_error(ErrorKind::io, "\xE2\x82\xC3\xA9").message, "\\xE2\\x82\xC3\xA9")
      << "a cut sequence, then a valid one";
  EXPECT_EQ(make_error(ErrorKind::io, std::string("a\0b", 3)).message, std::string("a\0b", 3))
      << "NUL is valid UTF-8";
}

TEST(ErrorText, EscapingTwiceChangesNothing) {
  const Error once = make_error(ErrorKind::io, "m\xE7", std::nullopt, "t\xFF");
  const Error twice = make_error(ErrorKind::io, once.message, std::nullopt, once.tensor);
  EXPECT_EQ(twice.message, "m\\xE7");
  EXPECT_EQ(twice.tensor, "t\\xFF");
}

TEST(ErrorText, SysErrorEscapesThePath) {
  const Error e = sys_error(ENOENT, "cannot open", "dir/m\xE7.gguf");
  EXPECT_EQ(e.kind, ErrorKind::not_found);
  EXPECT_EQ(e.os_errno, ENOENT);
  EXPECT_EQ(e.path, "dir/m\\xE7.gguf");
  EXPECT_FALSE(first_invalid_utf8(e.message).has_value()) << e.message;
}

TEST(ErrorText, ToStringEscapesFieldsAmendedAfterConstruction) {
  // Callers fill in the path later, or append to the message; the printed line is still UTF-8.
  Error e = make_error(ErrorKind::truncated, "file ended", 12);
  e.path = "m\xE7.safetensors";
  e.tensor = "t\xFF";
  e.message += " \xC3";
  const std::string line = e.to_string();
  EXPECT_FALSE(first_invalid_utf8(line).has_value()) << line;
  EXPECT_NE(line.find("m\\xE7.safetensors"), std::string::npos) << line;
  EXPECT_NE(line.find("'t\\xFF'"), std::string::npos) << line;
  EXPECT_NE(line.find("file ended \\xC3"), std::string::npos) << line;
}

TEST(ErrorText, ToStringEscapesAnErrorBuiltFieldByField) {
  const Error e{
      .kind = ErrorKind::bad_magic, .path = "\x80", .tensor = {}, .offset = 0, .message = "\xFE\xFF"};
  const std::string line = e.to_string();
  EXPECT_FALSE(first_invalid_utf8(line).has_value()) << line;
  EXPECT_EQ(line.find("\\x80"), 0U) << line;
  EXPECT_NE(line.find("\\xFE\\xFF"), std::string::npos) << line;
}

}  // namespace
}  // namespace ringload
