// Whole checkpoints opened as a set: the real 6-shard fixture as a directory and as its index,
// every tensor byte-exact against the shard's own reads, in load order, each naming its file.
#include "ringload/checkpoint.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <string>
#include <vector>

#include "support/build_bytes.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

std::filesystem::path sharded_fixture() {
  const auto dir = test::fixtures_dir();
  return dir ? *dir / "sharded-safetensors-jl" : std::filesystem::path();
}

void expect_whole_set(const Checkpoint& ckpt, const std::filesystem::path& dir) {
  ASSERT_EQ(ckpt.files().size(), 6U);
  for (std::size_t f = 0; f < ckpt.files().size(); ++f) {
    EXPECT_EQ(std::filesystem::path(ckpt.files()[f].path).filename().string(),
              "model-0000" + std::to_string(f + 1) + "-of-00006.safetensors");
  }
  std::size_t total = 0;
  for (std::size_t f = 0; f < ckpt.files().size(); ++f) {
    auto model = Model::load(dir / std::filesystem::path(ckpt.files()[f].path).filename());
    ASSERT_TRUE(model) << model.error().to_string();
    const CheckpointFile& file = ckpt.files()[f];
    ASSERT_EQ(file.tensor_count, model->tensors().size());
    for (std::uint32_t i = 0; i < file.tensor_count; ++i) {
      const TensorInfo& t = ckpt.tensors()[file.first_tensor + i];
      EXPECT_EQ(t.file, f);
      EXPECT_EQ(t.name, model->tensors()[i].name) << "load order: file order, then offset";
      auto want = model->tensor_bytes(t.name);
      auto got = ckpt.tensor_bytes(t.name);
      ASSERT_TRUE(want && got) << t.name;
      ASSERT_EQ(got->size(), want->size());
      EXPECT_TRUE(std::equal(got->begin(), got->end(), want->begin())) << t.name;
    }
    total += file.tensor_count;
  }
  EXPECT_EQ(ckpt.tensors().size(), total);
}

TEST(Checkpoint, TheShardedFixtureOpensAsADirectoryAndAsItsIndex) {
  const auto dir = sharded_fixture();
  if (dir.empty() || !std::filesystem::exists(dir))
    GTEST_SKIP() << "fixtures not found (set RINGLOAD_FIXTURES)";
  auto by_dir = Checkpoint::open(dir);
  ASSERT_TRUE(by_dir) << by_dir.error().to_string();
  EXPECT_EQ(by_dir->layout(), CheckpointLayout::hf_index);
  expect_whole_set(*by_dir, dir);
  auto by_index = Checkpoint::open(dir / "model.safetensors.index.json");
  ASSERT_TRUE(by_index) << by_index.error().to_string();
  expect_whole_set(*by_index, dir);
}

// Header-only open still refuses a name twice in one file, as Model::load does.
TEST(Checkpoint, ANameTwiceInOneFileIsADuplicate) {
  test::TempDir tmp;
  test::ByteBuilder gguf;
  gguf.str("GGUF").u32(3).u64(2).u64(0);
  for (std::uint64_t offset : {0U, 32U}) gguf.u64(1).str("x").u32(1).u64(4).u32(0).u64(offset);
  gguf.pad_to(32).zeros(64);
  const auto path = test::write_file(tmp.file("twice.gguf"), gguf.bytes());
  auto model = Model::load(path);
  ASSERT_FALSE(model);
  auto ckpt = Checkpoint::open(path);
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::duplicate_name);
  EXPECT_EQ(ckpt.error().kind, model.error().kind);
  EXPECT_EQ(ckpt.error().tensor, "x");
  EXPECT_EQ(ckpt.error().path, path.string());
}

}  // namespace
}  // namespace ringload
