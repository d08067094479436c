// What a checkpoint path stands for: a directory's one index wins, else its one split set, else its
// model files in bytewise name order; two candidates are ambiguous (both listed); nothing is
// not_found. Checked through Checkpoint::open, which opens what the rules chose.
#include "checkpoint/layout.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "ringload/checkpoint.hpp"
#include "support/checkpoints.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::TempDir;

std::vector<std::string> file_names(const Checkpoint& ckpt) {
  std::vector<std::string> names;
  for (const CheckpointFile& f : ckpt.files())
    names.push_back(std::filesystem::path(f.path).filename().string());
  return names;
}

bool mentions(const Error& e, const std::string& text) { return e.message.find(text) != std::string::npos; }

TEST(CheckpointLayout, ADirectorysOneIndexWinsOverItsOtherModelFiles) {
  TempDir tmp;
  test::generate_or_fail(tmp.path(), test::small_checkpoint(Format::safetensors, 2));
  test::write_named_tensors(tmp.file("stray.gguf"), Format::gguf, {"stray"});
  test::write_named_tensors(tmp.file("unlisted.safetensors"), Format::safetensors, {"other"});
  auto ckpt = Checkpoint::open(tmp.path());
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  EXPECT_EQ(ckpt->layout(), CheckpointLayout::hf_index);
  EXPECT_EQ(file_names(*ckpt), (std::vector<std::string>{"model-00001-of-00002.safetensors",
                                                         "model-00002-of-00002.safetensors"}));
}

TEST(CheckpointLayout, ADirectorysOneSplitSetWinsOverItsOtherModelFiles) {
  TempDir tmp;
  test::generate_or_fail(tmp.path(), test::small_checkpoint(Format::gguf, 3));
  test::write_named_tensors(tmp.file("stray.safetensors"), Format::safetensors, {"stray"});
  auto ckpt = Checkpoint::open(tmp.path());
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  EXPECT_EQ(ckpt->layout(), CheckpointLayout::gguf_split);
  EXPECT_EQ(file_names(*ckpt),
            (std::vector<std::string>{"model-00001-of-00003.gguf", "model-00002-of-00003.gguf",
                                      "model-00003-of-00003.gguf"}));
}

TEST(CheckpointLayout, ADirectoryWithoutIndexOrSplitSetIsItsModelFilesInBytewiseOrder) {
  TempDir tmp;
  // Bytewise: 'B' 0x42 < '_' 0x5F < 'a' 0x61 < 'b' 0x62 < 'z' 0x7A < "é" 0xC3 0xA9. A locale's
  // collation would put "é" before "z" and fold the cases.
  test::write_named_tensors(tmp.file("b.safetensors"), Format::safetensors, {"b"});
  test::write_named_tensors(tmp.file("\xC3\xA9.gguf"), Format::gguf, {"e-acute"});
  test::write_named_tensors(tmp.file("z.apr"), Format::apr, {"z"});
  test::write_named_tensors(tmp.file("a.gguf"), Format::gguf, {"a"});
  test::write_named_tensors(tmp.file("_c.apr"), Format::apr, {"c"});
  test::write_named_tensors(tmp.file("B.safetensors"), Format::safetensors, {"B"});
  test::write_text(tmp.file("README.md"), "not a model\n");
  std::filesystem::create_directory(tmp.file("sub.safetensors"));  // a directory, not a model file
  auto ckpt = Checkpoint::open(tmp.path());
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  EXPECT_EQ(ckpt->layout(), CheckpointLayout::directory);
  EXPECT_EQ(file_names(*ckpt), (std::vector<std::string>{"B.safetensors", "_c.apr", "a.gguf", "b.safetensors",
                                                         "z.apr", "\xC3\xA9.gguf"}));
  std::vector<std::string> tensors;
  for (const TensorInfo& t : ckpt->tensors()) tensors.push_back(fmt::format("{}@{}", t.name, t.file));
  EXPECT_EQ(tensors, (std::vector<std::string>{"B@0", "c@1", "a@2", "b@3", "z@4", "e-acute@5"}));
}

TEST(CheckpointLayout, TwoIndexesAreAmbiguousAndBothNamed) {
  TempDir tmp;
  test::generate_or_fail(tmp.path(), test::small_checkpoint(Format::safetensors, 2));
  test::write_text(tmp.file("other.safetensors.index.json"),
                   test::read_text(tmp.file("model.safetensors.index.json")));
  auto ckpt = Checkpoint::open(tmp.path());
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::ambiguous_checkpoint);
  EXPECT_EQ(ckpt.error().path, tmp.path().string());
  EXPECT_TRUE(mentions(ckpt.error(), "model.safetensors.index.json")) << ckpt.error().to_string();
  EXPECT_TRUE(mentions(ckpt.error(), "other.safetensors.index.json")) << ckpt.error().to_string();
}

TEST(CheckpointLayout, TwoSplitSetsAreAmbiguousAndBothNamed) {
  TempDir tmp;
  for (int k = 1; k <= 2; ++k) {
    test::write_named_tensors(tmp.file(fmt::format("a-{:05}-of-00002.gguf", k)), Format::gguf,
                              {fmt::format("a{}", k)});
  }
  for (int k = 1; k <= 3; ++k) {
    test::write_named_tensors(tmp.file(fmt::format("b-{:05}-of-00003.gguf", k)), Format::gguf,
                              {fmt::format("b{}", k)});
  }
  auto ckpt = Checkpoint::open(tmp.path());
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::ambiguous_checkpoint);
  EXPECT_TRUE(mentions(ckpt.error(), "a-00001-of-00002.gguf")) << ckpt.error().to_string();
  EXPECT_TRUE(mentions(ckpt.error(), "b-00001-of-00003.gguf")) << ckpt.error().to_string();
}

TEST(CheckpointLayout, ADirectoryWithoutModelFilesIsNotFound) {
  TempDir tmp;
  auto empty = Checkpoint::open(tmp.path());
  ASSERT_FALSE(empty);
  EXPECT_EQ(empty.error().kind, ErrorKind::not_found);
  EXPECT_EQ(empty.error().path, tmp.path().string());
  test::write_text(tmp.file("notes.txt"), "weights come later\n");
  auto no_models = Checkpoint::open(tmp.path());
  ASSERT_FALSE(no_models);
  EXPECT_EQ(no_models.error().kind, ErrorKind::not_found);
}

TEST(CheckpointLayout, AnExplicitListKeepsItsOrder) {
  TempDir tmp;
  const auto a = test::write_named_tensors(tmp.file("a.safetensors"), Format::safetensors, {"a1", "a2"});
  const auto b = test::write_named_tensors(tmp.file("b.gguf"), Format::gguf, {"b1"});
  auto ckpt = Checkpoint::open_files({b, a});
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  EXPECT_EQ(ckpt->layout(), CheckpointLayout::file_list);
  EXPECT_EQ(file_names(*ckpt), (std::vector<std::string>{"b.gguf", "a.safetensors"}));
  ASSERT_EQ(ckpt->tensors().size(), 3U);
  EXPECT_EQ(ckpt->tensor("b1")->file, 0U);
  EXPECT_EQ(ckpt->tensor("a2")->file, 1U);
  EXPECT_EQ(ckpt->files()[1].first_tensor, 1U);
  EXPECT_EQ(ckpt->files()[1].tensor_count, 2U);
  EXPECT_EQ(ckpt->files()[1].format, Format::safetensors);

  auto duplicate = Checkpoint::open_files({a, b, a});
  ASSERT_FALSE(duplicate);
  EXPECT_EQ(duplicate.error().kind, ErrorKind::duplicate_name);

  auto none = Checkpoint::open_files({});
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::invalid_argument);
}

TEST(CheckpointLayout, OneFileIsASingleFileCheckpoint) {
  TempDir tmp;
  const auto a =
      test::write_named_tensors(tmp.file("model-00001-of-00002.safetensors"), Format::safetensors, {"x"});
  auto ckpt = Checkpoint::open(a);
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  EXPECT_EQ(ckpt->layout(), CheckpointLayout::single_file) << "only GGUF split names stand for a set";
  EXPECT_EQ(ckpt->files().size(), 1U);
}

}  // namespace
}  // namespace ringload
