// Damaged files whose bytes (or whose paths) are not UTF-8: every error Model::load gives is valid
// UTF-8 in each field and in to_string(), so a terminal, a log pipeline or a JSON encoder (the
// service example's replies) never sees raw bytes from the file.
#include <gtest/gtest.h>

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "base/utf8.hpp"
#include "gen/gen.hpp"
#include "ringload/model.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::TempDir;

// A byte that starts a 3-byte UTF-8 sequence; followed by ASCII, it is invalid.
constexpr char kBadByte = '\xE7';

void expect_valid_utf8(const Error& e) {
  const std::string line = e.to_string();
  EXPECT_FALSE(first_invalid_utf8(line).has_value()) << "to_string(): " << line;
  EXPECT_FALSE(first_invalid_utf8(e.path).has_value()) << "path: " << e.path;
  EXPECT_FALSE(first_invalid_utf8(e.tensor).has_value()) << "tensor: " << e.tensor;
  EXPECT_FALSE(first_invalid_utf8(e.message).has_value()) << "message: " << e.message;
}

std::string read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

void write_all(const std::filesystem::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  ASSERT_TRUE(out.good()) << path;
}

// A valid file of `format` with one small F32 tensor named `tensor_name` and `metadata`.
std::filesystem::path generate(const TempDir& dir, Format format, const std::string& file_name,
                               const std::string& tensor_name, const nlohmann::ordered_json& metadata) {
  const std::vector<gen::TensorSpec> tensors = {
      gen::TensorSpec{.name = tensor_name, .dtype = DType::F32, .shape = {16}, .size = 64}};
  std::filesystem::path path = dir.file(file_name);
  gen::GenOptions options;
  options.format = format;
  auto written = gen::write_model(path, options, tensors, metadata);
  EXPECT_TRUE(written) << written.error().to_string();
  return path;
}

// Replaces the first byte of the only occurrence of `marker` in the file with kBadByte; returns
// the byte's absolute offset.
std::uint64_t damage(const std::filesystem::path& path, std::string_view marker) {
  std::string bytes = read_all(path);
  const std::size_t at = bytes.find(marker);
  EXPECT_NE(at, std::string::npos) << marker << " not in " << path;
  EXPECT_EQ(bytes.find(marker, at + 1), std::string::npos) << marker << " twice in " << path;
  bytes[at] = kBadByte;
  write_all(path, bytes);
  return at;
}

TEST(DamagedUtf8, GgufTensorNameNotUtf8) {
  const TempDir dir;
  const auto path = generate(dir, Format::gguf, "m.gguf", "blk.0.@weight", nlohmann::ordered_json::object());
  const std::uint64_t bad_at = damage(path, "@weight");
  auto model = Model::load(path);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::invalid_name);
  // GGUF.md: a string is a u64 length, then its bytes; the error points at the length.
  EXPECT_EQ(model.error().offset, bad_at - std::string_view("blk.0.").size() - 8);
  expect_valid_utf8(model.error());
}

TEST(DamagedUtf8, SafetensorsHeaderNotUtf8) {
  const TempDir dir;
  const auto path =
      generate(dir, Format::safetensors, "m.safetensors", "w@", nlohmann::ordered_json::object());
  const std::uint64_t bad_at = damage(path, "@\"");
  auto model = Model::load(path);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::malformed_header);
  EXPECT_EQ(model.error().offset, bad_at);
  expect_valid_utf8(model.error());
}

TEST(DamagedUtf8, AprMetadataBlobWithByteE7) {
  // The JSON parser's own message quotes the text around the bad byte: the escaped byte must be
  // there, as \xE7, rather than dropped or passed through raw.
  const TempDir dir;
  const auto path = generate(dir, Format::apr, "m.apr", "w",
                             nlohmann::ordered_json{{"note", "@bc"}, {"model_type", "test"}});
  const std::uint64_t bad_at = damage(path, "@bc");
  auto model = Model::load(path);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::malformed_header);
  ASSERT_TRUE(model.error().offset.has_value());
  // The parser sees the sequence is broken at the byte after the lead byte.
  EXPECT_GE(*model.error().offset, bad_at);
  EXPECT_LE(*model.error().offset, bad_at + 1);
  expect_valid_utf8(model.error());
  EXPECT_NE(model.error().to_string().find("\\xE7"), std::string::npos) << model.error().to_string();
}

TEST(DamagedUtf8, PathNotUtf8FileMissing) {
  const TempDir dir;
  auto model = Model::load(dir.file(std::string("absent") + kBadByte + ".safetensors"));
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::not_found);
  expect_valid_utf8(model.error());
  EXPECT_NE(model.error().path.find("absent\\xE7.safetensors"), std::string::npos) << model.error().path;
}

TEST(DamagedUtf8, PathNotUtf8FileNotAModel) {
  const TempDir dir;
  const auto path = dir.file(std::string("bad") + kBadByte + "name.gguf");
  write_all(path, "not a model at all, just text\n");
  auto model = Model::load(path);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::bad_magic);
  expect_valid_utf8(model.error());
  EXPECT_NE(model.error().to_string().find("bad\\xE7name.gguf"), std::string::npos)
      << model.error().to_string();
}

TEST(DamagedUtf8, PathNotUtf8ValidFileDamagedInside) {
  // Both at once: the path and the file's bytes.
  const TempDir dir;
  const auto path = generate(dir, Format::safetensors, std::string("m") + kBadByte + ".safetensors", "w@",
                             nlohmann::ordered_json::object());
  const std::uint64_t bad_at = damage(path, "@\"");
  auto model = Model::load(path);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::malformed_header);
  EXPECT_EQ(model.error().offset, bad_at);
  expect_valid_utf8(model.error());
  EXPECT_NE(model.error().path.find("m\\xE7.safetensors"), std::string::npos) << model.error().path;
}

}  // namespace
}  // namespace ringload
