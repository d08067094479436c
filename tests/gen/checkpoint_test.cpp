// `ringload gen --shards N`: how tensors spread over shards, and the checkpoints it writes: every
// tensor byte-equal to a single-file gen of the same options, an HF index with total_size and a
// sorted weight_map, llama.cpp's split keys typed as gguf-split writes them.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include "gen/gen.hpp"
#include "io/file.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/model.hpp"
#include "support/checkpoints.hpp"
#include "support/temp_dir.hpp"

namespace ringload::gen {
namespace {

using test::TempDir;

std::vector<TensorSpec> sized(const std::vector<std::uint64_t>& sizes) {
  std::vector<TensorSpec> specs;
  for (std::size_t i = 0; i < sizes.size(); ++i)
    specs.push_back({fmt::format("t{}", i), DType::U8, {sizes[i]}, sizes[i]});
  return specs;
}

std::vector<std::size_t> starts_of(const std::vector<std::uint64_t>& sizes, std::uint32_t shards) {
  auto starts = shard_starts(sized(sizes), shards);
  EXPECT_TRUE(starts) << starts.error().to_string();
  return starts ? *starts : std::vector<std::size_t>{};
}

// Expected splits worked out by hand from the rule: each shard takes tensors in order while that
// brings it at least as close to (bytes left) / (shards left), leaving one tensor per later shard.
TEST(GenShardPlan, RunsInPlanOrderEachNearestItsShareOfWhatIsLeft) {
  EXPECT_EQ(starts_of({10, 10, 10, 10, 10, 10}, 3), (std::vector<std::size_t>{0, 2, 4}));
  // The 40 overfills the first share (33); the other two split the rest evenly.
  EXPECT_EQ(starts_of({40, 10, 10, 10, 10, 10, 10}, 3), (std::vector<std::size_t>{0, 1, 4}));
  // Share 51: three small ones, and the 100 would overshoot by more than it undershoots.
  EXPECT_EQ(starts_of({1, 1, 1, 100}, 2), (std::vector<std::size_t>{0, 3}));
  // Every shard gets a tensor even when one shard could take them all.
  EXPECT_EQ(starts_of({1, 1, 100}, 3), (std::vector<std::size_t>{0, 1, 2}));
  EXPECT_EQ(starts_of({7}, 1), (std::vector<std::size_t>{0}));
}

TEST(GenShardPlan, RefusesMoreShardsThanTensors) {
  auto starts = shard_starts(sized({1, 2, 3}), 4);
  ASSERT_FALSE(starts);
  EXPECT_EQ(starts.error().kind, ErrorKind::invalid_argument);
  auto none = shard_starts(sized({1, 2, 3}), 0);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::invalid_argument);
}

TEST(GenShardPlan, NamesShardsAsHuggingFaceAndGgufSplitDo) {
  EXPECT_EQ(shard_file_name(Format::safetensors, 2, 30), "model-00002-of-00030.safetensors");
  EXPECT_EQ(shard_file_name(Format::gguf, 1, 3), "model-00001-of-00003.gguf");
}

struct Written {
  TempDir tmp;
  GenReport single;
  GenReport sharded;
  std::filesystem::path single_path;
  std::filesystem::path dir = tmp.path() / "ckpt";
};

void write_both(Written& w, GenOptions options, std::uint32_t shards) {
  w.single_path = w.tmp.file(options.format == Format::gguf ? "one.gguf" : "one.safetensors");
  w.single = test::generate_or_fail(w.single_path, options);
  options.shards = shards;
  w.sharded = test::generate_or_fail(w.dir, options);
}

// Every tensor of the single file is in the checkpoint, same dtype, shape and bytes, and nothing else.
void expect_same_tensors(const std::filesystem::path& single_path, const Checkpoint& ckpt) {
  auto single = Model::load(single_path);
  ASSERT_TRUE(single) << single.error().to_string();
  ASSERT_EQ(ckpt.tensors().size(), single->tensors().size());
  for (const TensorInfo& want : single->tensors()) {
    auto got = ckpt.tensor(want.name);
    ASSERT_TRUE(got) << want.name;
    EXPECT_EQ(got->dtype, want.dtype) << want.name;
    EXPECT_EQ(got->shape, want.shape) << want.name;
    auto want_bytes = single->tensor_bytes(want.name);
    auto got_bytes = ckpt.tensor_bytes(want.name);
    ASSERT_TRUE(want_bytes && got_bytes) << want.name;
    ASSERT_EQ(got_bytes->size(), want_bytes->size()) << want.name;
    EXPECT_TRUE(std::equal(got_bytes->begin(), got_bytes->end(), want_bytes->begin())) << want.name;
  }
}

TEST(GenCheckpoint, SafetensorsShardsHoldTheSingleFilesTensorsByteForByte) {
  Written w;
  write_both(w, GenOptions{.format = Format::safetensors, .target_bytes = 3 << 20, .seed = 11}, 4);
  auto ckpt = Checkpoint::open(w.dir);
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  EXPECT_EQ(ckpt->layout(), CheckpointLayout::hf_index);
  ASSERT_EQ(ckpt->files().size(), 4U);
  for (std::uint32_t k = 0; k < 4; ++k) {
    EXPECT_EQ(ckpt->files()[k].path, (w.dir / shard_file_name(Format::safetensors, k + 1, 4)).string());
    EXPECT_GT(ckpt->files()[k].tensor_count, 0U);
  }
  expect_same_tensors(w.single_path, *ckpt);
}

TEST(GenCheckpoint, GgufSplitsHoldTheSingleFilesTensorsByteForByte) {
  Written w;
  // A llama model (the default for GGUF): vocabulary and hyperparameters in the first split.
  write_both(w, GenOptions{.format = Format::gguf, .target_bytes = 3 << 20, .dtype = DType::F16, .seed = 5},
             3);
  EXPECT_EQ(w.sharded.arch, Arch::llama);
  for (std::uint32_t k = 1; k <= 3; ++k) {
    auto ckpt = Checkpoint::open(w.dir / shard_file_name(Format::gguf, k, 3));
    ASSERT_TRUE(ckpt) << ckpt.error().to_string();
    EXPECT_EQ(ckpt->layout(), CheckpointLayout::gguf_split);
    ASSERT_EQ(ckpt->files().size(), 3U);
    expect_same_tensors(w.single_path, *ckpt);
  }
}

TEST(GenCheckpoint, IndexHasTotalSizeAndAWeightMapSortedByName) {
  Written w;
  // Names that sort differently bytewise than by number: layers.10 before layers.2.
  write_both(w, GenOptions{.format = Format::safetensors, .target_bytes = 2 << 20, .tensor_count = 120}, 5);
  auto single = Model::load(w.single_path);
  ASSERT_TRUE(single) << single.error().to_string();
  std::uint64_t total = 0;
  for (const TensorInfo& t : single->tensors()) total += t.size;

  const auto doc = nlohmann::ordered_json::parse(test::read_text(w.dir / "model.safetensors.index.json"));
  EXPECT_EQ(doc["metadata"]["total_size"].get<std::uint64_t>(), total);
  std::vector<std::string> keys;
  for (const auto& [name, shard] : doc["weight_map"].items()) keys.push_back(name);
  ASSERT_EQ(keys.size(), single->tensors().size());
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end())) << "weight_map keys in bytewise order";
  // Each entry names the shard that holds the tensor.
  for (std::uint32_t k = 1; k <= 5; ++k) {
    const std::string shard = shard_file_name(Format::safetensors, k, 5);
    auto model = Model::load(w.dir / shard);
    ASSERT_TRUE(model) << model.error().to_string();
    for (const TensorInfo& t : model->tensors()) EXPECT_EQ(doc["weight_map"][t.name], shard) << t.name;
  }
  EXPECT_EQ(w.sharded.files.back(), w.dir / "model.safetensors.index.json") << "the index comes last";
  EXPECT_EQ(w.sharded.files.size(), 6U);
  std::uint64_t on_disk = 0;
  for (const auto& f : w.sharded.files) on_disk += std::filesystem::file_size(f);
  EXPECT_EQ(w.sharded.file_bytes, on_disk);
  EXPECT_EQ(w.sharded.tensor_bytes, total);
}

// The key, its GGUF type code and its value's bytes, found by the key's length-prefixed bytes.
struct RawKey {
  std::uint32_t type = 0;
  std::uint64_t value = 0;
  bool found = false;
};
RawKey raw_key(const std::vector<std::byte>& file, const std::string& key) {
  std::vector<std::byte> needle(8);
  const std::uint64_t length = key.size();
  std::memcpy(needle.data(), &length, 8);
  for (char c : key) needle.push_back(std::byte(c));
  const auto it = std::search(file.begin(), file.end(), needle.begin(), needle.end());
  if (it == file.end()) return {};
  const auto at = static_cast<std::size_t>(it - file.begin()) + needle.size();
  RawKey k{.found = true};
  std::memcpy(&k.type, file.data() + at, 4);
  const std::size_t value_bytes = k.type == 2 ? 2 : 4;  // u16, or i32
  std::memcpy(&k.value, file.data() + at + 4, value_bytes);
  return k;
}

TEST(GenCheckpoint, EverySplitCarriesTheSplitKeysAsGgufSplitTypesThemAndOnlyTheFirstTheModel) {
  TempDir tmp;
  const auto dir = tmp.path() / "split";
  const GenReport report = test::generate_or_fail(
      dir, GenOptions{.format = Format::gguf, .target_bytes = 3 << 20, .dtype = DType::Q8_0, .shards = 3});
  for (std::uint32_t k = 0; k < 3; ++k) {
    const auto path = dir / shard_file_name(Format::gguf, k + 1, 3);
    auto bytes = read_file(path);
    ASSERT_TRUE(bytes) << bytes.error().to_string();
    constexpr std::uint32_t kU16 = 2, kI32 = 5;
    const RawKey no = raw_key(*bytes, "split.no");
    const RawKey count = raw_key(*bytes, "split.count");
    const RawKey tensors = raw_key(*bytes, "split.tensors.count");
    ASSERT_TRUE(no.found && count.found && tensors.found) << path;
    EXPECT_EQ(no.type, kU16);
    EXPECT_EQ(no.value, k);
    EXPECT_EQ(count.type, kU16);
    EXPECT_EQ(count.value, 3U);
    EXPECT_EQ(tensors.type, kI32);
    EXPECT_EQ(tensors.value, report.tensor_count);
    std::uint64_t kv_count = 0;
    std::memcpy(&kv_count, bytes->data() + 16, 8);
    auto model = Model::load(path);
    ASSERT_TRUE(model) << model.error().to_string();
    if (k == 0) {
      EXPECT_GT(kv_count, 3U);
      const MetadataValue* arch = model->metadata().find("general.architecture");
      ASSERT_TRUE(arch != nullptr && arch->if_string() != nullptr);
      EXPECT_EQ(*arch->if_string(), "llama");
      EXPECT_NE(model->metadata().find("tokenizer.ggml.tokens"), nullptr);
      EXPECT_NE(model->metadata().find("llama.block_count"), nullptr);
    } else {
      EXPECT_EQ(kv_count, 3U) << path << ": a later split holds the split keys only";
    }
  }
}

TEST(GenCheckpoint, RefusesADirectoryHoldingAnotherSetAndWritesNothing) {
  TempDir tmp;
  test::write_named_tensors(tmp.file("model-00001-of-00002.safetensors"), Format::safetensors, {"old"});
  auto report =
      generate(tmp.path(), GenOptions{.format = Format::safetensors, .target_bytes = 1 << 20, .shards = 3});
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(report.error().message.find("model-00001-of-00002.safetensors"), std::string::npos)
      << report.error().to_string();
  EXPECT_FALSE(std::filesystem::exists(tmp.file("model-00001-of-00003.safetensors")));
}

TEST(GenCheckpoint, RefusesAprAndMoreShardsThanTensors) {
  TempDir tmp;
  auto apr = generate(tmp.path() / "a", GenOptions{.format = Format::apr, .shards = 2});
  ASSERT_FALSE(apr);
  EXPECT_EQ(apr.error().kind, ErrorKind::invalid_argument);
  auto too_many =
      generate(tmp.path() / "b", GenOptions{.format = Format::safetensors, .tensor_count = 3, .shards = 4});
  ASSERT_FALSE(too_many);
  EXPECT_EQ(too_many.error().kind, ErrorKind::invalid_argument);
}

TEST(GenCheckpoint, ReportsProgressOnOneScaleUpToTheWholeSet) {
  TempDir tmp;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> calls;
  GenOptions options{.format = Format::gguf, .target_bytes = 40 << 20, .tensor_count = 30, .shards = 3};
  options.progress = [&](std::uint64_t done, std::uint64_t total) { calls.emplace_back(done, total); };
  const GenReport report = test::generate_or_fail(tmp.path() / "ckpt", options);
  ASSERT_FALSE(calls.empty());
  for (std::size_t i = 1; i < calls.size(); ++i) EXPECT_GE(calls[i].first, calls[i - 1].first) << i;
  EXPECT_EQ(calls.back().first, report.file_bytes);
  EXPECT_EQ(calls.back().second, report.file_bytes);
}

}  // namespace
}  // namespace ringload::gen
