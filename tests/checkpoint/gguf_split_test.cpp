// llama.cpp GGUF split sets: opened whole from any of their files, and refused when damaged (one
// case per rule), each error naming the split at fault.
#include "checkpoint/gguf_split.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gen/output_file.hpp"
#include "ringload/checkpoint.hpp"
#include "support/checkpoints.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::TempDir;

std::filesystem::path split_file(const std::filesystem::path& dir, std::uint32_t number,
                                 std::uint32_t count) {
  return dir / fmt::format("m-{:05}-of-{:05}.gguf", number, count);
}

// Splits of two tensors each ("s<k>.a", "s<k>.b"), with the split keys given per file.
std::vector<std::filesystem::path> write_split_set(const std::filesystem::path& dir,
                                                   const std::vector<gen::GgufSplit>& keys) {
  std::vector<std::filesystem::path> files;
  const auto count = static_cast<std::uint32_t>(keys.size());
  for (std::uint32_t k = 0; k < count; ++k) {
    std::vector<gen::TensorSpec> specs;
    for (const char* part : {"a", "b"})
      specs.push_back({fmt::format("s{}.{}", k, part), DType::F32, {4}, 16});
    files.push_back(split_file(dir, k + 1, count));
    auto written = gen::write_gguf(files.back(), gen::GenOptions{.format = Format::gguf}, specs,
                                   nlohmann::ordered_json::object(), keys[k]);
    EXPECT_TRUE(written) << written.error().to_string();
  }
  return files;
}

gen::GgufSplit keys(std::uint16_t number, std::uint16_t count, std::int32_t tensors) {
  return gen::GgufSplit{.number = number, .count = count, .tensor_count = tensors};
}

TEST(GgufSplitSet, AWellFormedSetOpensWholeFromAnyOfItsFiles) {
  TempDir tmp;
  const auto files = write_split_set(tmp.path(), {keys(0, 3, 6), keys(1, 3, 6), keys(2, 3, 6)});
  for (const auto& opened : files) {
    auto ckpt = Checkpoint::open(opened);
    ASSERT_TRUE(ckpt) << opened << ": " << ckpt.error().to_string();
    EXPECT_EQ(ckpt->layout(), CheckpointLayout::gguf_split);
    ASSERT_EQ(ckpt->files().size(), 3U);
    for (std::size_t k = 0; k < 3; ++k) EXPECT_EQ(ckpt->files()[k].path, files[k].string());
    ASSERT_EQ(ckpt->tensors().size(), 6U);
    for (std::uint32_t i = 0; i < 6; ++i) {
      EXPECT_EQ(ckpt->tensors()[i].file, i / 2);
      EXPECT_EQ(ckpt->tensors()[i].name, fmt::format("s{}.{}", i / 2, i % 2 == 0 ? "a" : "b"));
    }
  }
}

TEST(GgufSplitSet, AMissingSplitIsNamed) {
  TempDir tmp;
  const auto files = write_split_set(tmp.path(), {keys(0, 3, 6), keys(1, 3, 6), keys(2, 3, 6)});
  std::filesystem::remove(files[1]);
  for (const auto& opened : {files[0], files[2], tmp.path()}) {
    auto ckpt = Checkpoint::open(opened);
    ASSERT_FALSE(ckpt) << opened;
    EXPECT_EQ(ckpt.error().kind, ErrorKind::missing_shard);
    EXPECT_NE(ckpt.error().message.find(files[1].string()), std::string::npos) << ckpt.error().to_string();
  }
}

TEST(GgufSplitSet, SplitCountDifferingBetweenSplitsIsRefusedAtTheSplitThatDiffers) {
  TempDir tmp;
  const auto files = write_split_set(tmp.path(), {keys(0, 3, 6), keys(1, 4, 6), keys(2, 3, 6)});
  auto ckpt = Checkpoint::open(files[0]);
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::split_count_mismatch);
  EXPECT_EQ(ckpt.error().path, files[1].string());
  EXPECT_NE(ckpt.error().message.find(files[0].string()), std::string::npos)
      << "names the split it disagrees with: " << ckpt.error().to_string();
}

TEST(GgufSplitSet, SplitNumbersOutOfSequenceAreRefusedAtTheFirstOutOfPlace) {
  TempDir tmp;
  const auto files = write_split_set(tmp.path(), {keys(0, 3, 6), keys(2, 3, 6), keys(1, 3, 6)});
  auto ckpt = Checkpoint::open(tmp.path());
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::split_out_of_sequence);
  EXPECT_EQ(ckpt.error().path, files[1].string());
}

TEST(GgufSplitSet, ATensorTotalOtherThanSplitTensorsCountIsRefused) {
  TempDir tmp;
  const auto files = write_split_set(tmp.path(), {keys(0, 3, 7), keys(1, 3, 7), keys(2, 3, 7)});
  auto ckpt = Checkpoint::open(files[2]);
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::split_tensor_count);
  EXPECT_EQ(ckpt.error().path, files[0].string()) << "the split that carries the count";
}

// llama.cpp's names, its own 1-based numbering in the name and 0-based split.no inside.
TEST(GgufSplitName, ParsesLlamaCppSplitNames) {
  const auto name = parse_split_name("/m/Qwen3-30B-Q4_K_M-00002-of-00003.gguf");
  ASSERT_TRUE(name);
  EXPECT_EQ(name->prefix, "/m/Qwen3-30B-Q4_K_M");
  EXPECT_EQ(name->number, 2U);
  EXPECT_EQ(name->count, 3U);
  EXPECT_EQ(split_path(*name, 3), "/m/Qwen3-30B-Q4_K_M-00003-of-00003.gguf");
  EXPECT_FALSE(parse_split_name("model-00004-of-00003.gguf"));
  EXPECT_FALSE(parse_split_name("model-00000-of-00003.gguf"));
  EXPECT_FALSE(parse_split_name("model-00001-of-00003.safetensors"));
  EXPECT_FALSE(parse_split_name("model-0001-of-00003.gguf"));
}

}  // namespace
}  // namespace ringload
