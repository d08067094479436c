#include "support/checkpoints.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace ringload::test {

gen::GenOptions small_checkpoint(Format format, std::uint32_t shards, std::uint32_t tensors,
                                 std::uint64_t bytes) {
  return gen::GenOptions{.format = format,
                         .target_bytes = bytes,
                         .tensor_count = tensors,
                         .dtype = DType::F32,
                         .shards = shards};
}

gen::GenReport generate_or_fail(const std::filesystem::path& out, const gen::GenOptions& options) {
  auto report = gen::generate(out, options);
  EXPECT_TRUE(report) << out << ": " << (report ? "" : report.error().to_string());
  return report ? std::move(report).value() : gen::GenReport{};
}

void write_uniform_checkpoint(const std::filesystem::path& dir, Format format, std::uint32_t shards,
                              std::uint32_t tensors, std::uint64_t tensor_bytes) {
  std::vector<gen::TensorSpec> specs;
  for (std::uint32_t i = 0; i < tensors; ++i) {
    specs.push_back(gen::TensorSpec{
        "layers." + std::to_string(i) + ".weight", DType::F32, {tensor_bytes / 4}, tensor_bytes / 4 * 4});
  }
  auto report = gen::write_checkpoint(dir, gen::GenOptions{.format = format, .shards = shards}, specs);
  EXPECT_TRUE(report) << dir << ": " << (report ? "" : report.error().to_string());
}

std::filesystem::path write_named_tensors(const std::filesystem::path& path, Format format,
                                          const std::vector<std::string>& names) {
  std::vector<gen::TensorSpec> specs;
  for (const auto& name : names) specs.push_back(gen::TensorSpec{name, DType::F32, {4}, 16});
  auto report = gen::write_model(path, gen::GenOptions{.format = format}, specs);
  EXPECT_TRUE(report) << path << ": " << (report ? "" : report.error().to_string());
  return path;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream text;
  text << in.rdbuf();
  EXPECT_TRUE(in.good() || in.eof()) << "cannot read " << path;
  return text.str();
}

void write_text(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  EXPECT_TRUE(out.good()) << "cannot write " << path;
}

}  // namespace ringload::test
