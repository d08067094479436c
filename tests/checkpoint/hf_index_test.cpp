// A Hugging Face sharded checkpoint that disagrees with its index: one case per rule, each from a
// `gen --shards` checkpoint damaged one way, asserting the kind and that the error names the
// files (and the tensor) involved.
#include "checkpoint/hf_index.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include <nlohmann/json.hpp>

#include "ringload/checkpoint.hpp"
#include "support/checkpoints.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::TempDir;

constexpr const char* kShard1 = "model-00001-of-00003.safetensors";
constexpr const char* kShard2 = "model-00002-of-00003.safetensors";

struct Sharded {
  TempDir tmp;
  std::filesystem::path dir = tmp.path() / "ckpt";
  std::filesystem::path index = dir / "model.safetensors.index.json";

  Sharded() { test::generate_or_fail(dir, test::small_checkpoint(Format::safetensors, 3)); }

  [[nodiscard]] nlohmann::json index_json() const { return nlohmann::json::parse(test::read_text(index)); }
  void write_index(const nlohmann::json& doc) const { test::write_text(index, doc.dump(2)); }
  // A tensor the index maps to `shard`, as the shard itself lists it.
  [[nodiscard]] std::string first_tensor_of(const char* shard) const {
    auto model = Model::load(dir / shard);
    EXPECT_TRUE(model) << model.error().to_string();
    return model ? model->tensors().front().name : std::string();
  }
};

bool mentions(const Error& e, const std::string& text) {
  return e.path.find(text) != std::string::npos || e.message.find(text) != std::string::npos;
}

TEST(HfIndexSet, AShardTheIndexNamesIsMissing) {
  Sharded set;
  std::filesystem::remove(set.dir / kShard2);
  for (const auto& path : {set.dir, set.index}) {
    auto ckpt = Checkpoint::open(path);
    ASSERT_FALSE(ckpt) << path;
    EXPECT_EQ(ckpt.error().kind, ErrorKind::missing_shard);
    EXPECT_EQ(ckpt.error().path, set.index.string()) << "the index named the shard";
    EXPECT_TRUE(mentions(ckpt.error(), (set.dir / kShard2).string())) << ckpt.error().to_string();
  }
}

TEST(HfIndexSet, TheIndexMapsATensorToAShardThatDoesNotHoldIt) {
  Sharded set;
  // From the shard of two or more tensors, so the index still names it.
  const std::string name = set.first_tensor_of(kShard2);
  nlohmann::json doc = set.index_json();
  ASSERT_EQ(doc["weight_map"][name], kShard2);
  ASSERT_GE(Model::load(set.dir / kShard2)->tensors().size(), 2U);
  doc["weight_map"][name] = kShard1;
  set.write_index(doc);
  auto ckpt = Checkpoint::open(set.dir);
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::misplaced_tensor);
  EXPECT_EQ(ckpt.error().tensor, name);
  EXPECT_EQ(ckpt.error().path, set.index.string());
  EXPECT_TRUE(mentions(ckpt.error(), kShard2)) << "where the index says: " << ckpt.error().to_string();
  EXPECT_TRUE(mentions(ckpt.error(), kShard1)) << "where it is: " << ckpt.error().to_string();
}

TEST(HfIndexSet, AShardHoldsATensorTheIndexDoesNotList) {
  Sharded set;
  const std::string name = set.first_tensor_of(kShard2);
  nlohmann::json doc = set.index_json();
  ASSERT_EQ(doc["weight_map"].erase(name), 1U);
  set.write_index(doc);
  auto ckpt = Checkpoint::open(set.index);
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::unlisted_tensor);
  EXPECT_EQ(ckpt.error().tensor, name);
  EXPECT_EQ(ckpt.error().path, set.index.string());
  EXPECT_TRUE(mentions(ckpt.error(), kShard2)) << "the shard holding it: " << ckpt.error().to_string();
}

TEST(HfIndexSet, OneTensorNameInTwoShardsIsADuplicate) {
  TempDir tmp;
  const auto a = test::write_named_tensors(tmp.file("model-00001-of-00002.safetensors"), Format::safetensors,
                                           {"a.weight", "b.weight"});
  const auto b = test::write_named_tensors(tmp.file("model-00002-of-00002.safetensors"), Format::safetensors,
                                           {"b.weight", "c.weight"});
  test::write_text(
      tmp.file("model.safetensors.index.json"),
      R"({"metadata": {"total_size": 64}, "weight_map": {"a.weight": "model-00001-of-00002.safetensors",
                       "b.weight": "model-00001-of-00002.safetensors", "c.weight": "model-00002-of-00002.safetensors"}})");
  auto ckpt = Checkpoint::open(tmp.path());
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::duplicate_name);
  EXPECT_EQ(ckpt.error().tensor, "b.weight");
  EXPECT_TRUE(mentions(ckpt.error(), a.string())) << ckpt.error().to_string();
  EXPECT_TRUE(mentions(ckpt.error(), b.string())) << ckpt.error().to_string();
}

TEST(HfIndexSet, AnIndexThatIsNotJsonIsMalformed) {
  Sharded set;
  test::write_text(set.index, R"({"metadata": {"total_size": 1}, "weight_map": {"a": )");
  auto ckpt = Checkpoint::open(set.dir);
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::malformed_index);
  EXPECT_EQ(ckpt.error().path, set.index.string());
}

TEST(HfIndexSet, AnIndexWithoutWeightMapIsMalformed) {
  Sharded set;
  nlohmann::json doc = set.index_json();
  doc.erase("weight_map");
  set.write_index(doc);
  auto ckpt = Checkpoint::open(set.index);
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::malformed_index);
  EXPECT_EQ(ckpt.error().path, set.index.string());
  EXPECT_NE(ckpt.error().message.find("weight_map"), std::string::npos) << ckpt.error().to_string();
}

// A shard name with a directory in it could reach outside the checkpoint's directory.
TEST(HfIndexSet, AShardNameWithAPathIsMalformed) {
  Sharded set;
  nlohmann::json doc = set.index_json();
  const std::string name = set.first_tensor_of(kShard1);
  doc["weight_map"][name] = std::string("../elsewhere/") + kShard1;
  set.write_index(doc);
  auto ckpt = Checkpoint::open(set.index);
  ASSERT_FALSE(ckpt);
  EXPECT_EQ(ckpt.error().kind, ErrorKind::malformed_index);
  EXPECT_EQ(ckpt.error().tensor, name);
}

TEST(HfIndexRead, ShardsAreUniqueAndInBytewiseOrder) {
  TempDir tmp;
  test::write_text(tmp.file("x.index.json"), R"({"weight_map": {"t1": "b.safetensors", "t2": "B.safetensors",
      "t3": "b.safetensors", "t4": "a.safetensors"}})");
  auto index = read_hf_index(tmp.file("x.index.json"));
  ASSERT_TRUE(index) << index.error().to_string();
  EXPECT_EQ(index->shards, (std::vector<std::string>{"B.safetensors", "a.safetensors", "b.safetensors"}));
  EXPECT_EQ(index->weight_map.size(), 4U);
}

}  // namespace
}  // namespace ringload
