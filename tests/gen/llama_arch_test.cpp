// `gen --arch llama`: GGUF files llama.cpp's llama loader accepts — hyperparameters that agree
// with the tensor shapes, exactly the tensors that loader knows, a vocabulary of our own whose
// size is the embedding's row count, and keys typed as llama.cpp reads them. (Loading them in
// llama.cpp itself is tests/tools/llama_cpp_test.sh's job.)
#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/json.hpp"
#include "gen/gen.hpp"
#include "gen/llama_arch.hpp"
#include "io/file.hpp"
#include "ringload/model.hpp"
#include "support/temp_dir.hpp"

namespace ringload::gen {
namespace {

using test::TempDir;

GenOptions llama_options(DType dtype, std::uint64_t target_bytes) {
  GenOptions o;
  o.format = Format::gguf;
  o.dtype = dtype;
  o.target_bytes = target_bytes;
  o.seed = 11;
  return o;
}

std::map<std::string, TensorInfo> by_name(const Model& model) {
  std::map<std::string, TensorInfo> out;
  for (const TensorInfo& t : model.tensors()) out.emplace(t.name, t);
  return out;
}

std::uint64_t u64_key(const nlohmann::ordered_json& meta, const char* key) {
  const auto it = meta.find(key);
  EXPECT_NE(it, meta.end()) << key;
  return it == meta.end() ? 0 : it->get<std::uint64_t>();
}

// The GGUF value type written for `key` (the u32 after the key string); for arrays, the element
// type too. GGUF.md: string = u64 length + bytes; 4 = UINT32, 5 = INT32, 6 = FLOAT32, 8 = STRING,
// 9 = ARRAY, 7 = BOOL.
std::pair<std::uint32_t, std::uint32_t> kv_type(const std::vector<std::byte>& file, std::string_view key) {
  std::vector<std::byte> needle(8 + key.size());
  const std::uint64_t length = key.size();
  std::memcpy(needle.data(), &length, 8);
  std::memcpy(needle.data() + 8, key.data(), key.size());
  const auto it = std::search(file.begin(), file.end(), needle.begin(), needle.end());
  if (it == file.end()) return {0, 0};
  const auto at = static_cast<std::size_t>(it - file.begin()) + needle.size();
  std::uint32_t type = 0;
  std::uint32_t element = 0;
  std::memcpy(&type, file.data() + at, 4);
  if (type == 9) std::memcpy(&element, file.data() + at + 4, 4);
  return {type, element};
}

TEST(GenLlama, GgufWithoutTensorCountIsALlamaModelWithConsistentShapes) {
  for (DType dtype : {DType::F16, DType::BF16, DType::F32, DType::Q8_0, DType::Q4_K}) {
    TempDir dir;
    const GenOptions options = llama_options(dtype, std::uint64_t{6} << 20);
    auto report = generate(dir.file("m.gguf"), options);
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_EQ(report->arch, Arch::llama);
    auto model = Model::load(dir.file("m.gguf"));
    ASSERT_TRUE(model) << model.error().to_string();
    const auto meta = to_json(model->metadata());
    EXPECT_EQ(meta.value("general.architecture", ""), "llama");
    const std::uint64_t d = u64_key(meta, "llama.embedding_length");
    const std::uint64_t ff = u64_key(meta, "llama.feed_forward_length");
    const std::uint64_t layers = u64_key(meta, "llama.block_count");
    const std::uint64_t heads = u64_key(meta, "llama.attention.head_count");
    EXPECT_EQ(u64_key(meta, "llama.attention.head_count_kv"), heads);
    EXPECT_EQ(heads * u64_key(meta, "llama.rope.dimension_count"), d) << "head size = rope dimensions";
    ASSERT_GE(layers, 1U);
    const auto& tokens = meta.at("tokenizer.ggml.tokens");
    const std::uint64_t vocab = tokens.size();
    EXPECT_EQ(u64_key(meta, "llama.vocab_size"), vocab);
    EXPECT_EQ(meta.at("tokenizer.ggml.scores").size(), vocab);
    EXPECT_EQ(meta.at("tokenizer.ggml.token_type").size(), vocab);

    // Exactly llama.cpp's llama tensors (llama-model.cpp, llama_model_llama::load_arch_tensors),
    // shapes in ggml order: ne[0] is the row length.
    std::map<std::string, std::vector<std::uint64_t>> expected{
        {"token_embd.weight", {d, vocab}}, {"output_norm.weight", {d}}, {"output.weight", {d, vocab}}};
    for (std::uint64_t l = 0; l < layers; ++l) {
      const auto name = [l](const char* part) { return fmt::format("blk.{}.{}.weight", l, part); };
      expected[name("attn_norm")] = {d};
      expected[name("attn_q")] = {d, d};
      expected[name("attn_k")] = {d, d};
      expected[name("attn_v")] = {d, d};
      expected[name("attn_output")] = {d, d};
      expected[name("ffn_norm")] = {d};
      expected[name("ffn_gate")] = {d, ff};
      expected[name("ffn_up")] = {d, ff};
      expected[name("ffn_down")] = {ff, d};
    }
    const auto tensors = by_name(*model);
    ASSERT_EQ(tensors.size(), expected.size()) << dtype_name(dtype);
    for (const auto& [name, shape] : expected) {
      const auto it = tensors.find(name);
      ASSERT_NE(it, tensors.end()) << name;
      EXPECT_EQ(it->second.shape, shape) << name;
      EXPECT_EQ(it->second.dtype, shape.size() == 1 ? DType::F32 : dtype) << name;
    }
  }
}

TEST(GenLlama, FileTypeNamesTheWeightType) {
  // llama.h's LLAMA_FTYPE values.
  const std::map<DType, std::uint64_t> kFileType{{DType::F32, 0},   {DType::F16, 1},   {DType::Q8_0, 7},
                                                 {DType::Q4_K, 14}, {DType::Q6_K, 18}, {DType::BF16, 32}};
  for (const auto& [dtype, file_type] : kFileType) {
    TempDir dir;
    ASSERT_TRUE(generate(dir.file("m.gguf"), llama_options(dtype, std::uint64_t{3} << 20)));
    auto model = Model::load(dir.file("m.gguf"));
    ASSERT_TRUE(model);
    EXPECT_EQ(u64_key(to_json(model->metadata()), "general.file_type"), file_type) << dtype_name(dtype);
  }
}

TEST(GenLlama, KeysHaveTheTypesLlamaCppReads) {
  TempDir dir;
  ASSERT_TRUE(generate(dir.file("m.gguf"), llama_options(DType::Q8_0, std::uint64_t{3} << 20)));
  auto file = read_file(dir.file("m.gguf"));
  ASSERT_TRUE(file);
  // llama.cpp's get_key refuses a key of another type ("key has wrong type").
  constexpr std::uint32_t kU32 = 4, kI32 = 5, kF32 = 6, kBool = 7, kString = 8, kArray = 9;
  const std::vector<std::pair<std::string_view, std::pair<std::uint32_t, std::uint32_t>>> expected{
      {"general.architecture", {kString, 0}},
      {"general.file_type", {kU32, 0}},
      {"llama.context_length", {kU32, 0}},
      {"llama.embedding_length", {kU32, 0}},
      {"llama.block_count", {kU32, 0}},
      {"llama.feed_forward_length", {kU32, 0}},
      {"llama.attention.head_count", {kU32, 0}},
      {"llama.attention.head_count_kv", {kU32, 0}},
      {"llama.rope.dimension_count", {kU32, 0}},
      {"llama.rope.freq_base", {kF32, 0}},
      {"llama.attention.layer_norm_rms_epsilon", {kF32, 0}},
      {"tokenizer.ggml.model", {kString, 0}},
      {"tokenizer.ggml.tokens", {kArray, kString}},
      {"tokenizer.ggml.scores", {kArray, kF32}},
      {"tokenizer.ggml.token_type", {kArray, kI32}},
      {"tokenizer.ggml.bos_token_id", {kU32, 0}},
      {"tokenizer.ggml.eos_token_id", {kU32, 0}},
      {"tokenizer.ggml.unknown_token_id", {kU32, 0}},
      {"tokenizer.ggml.add_bos_token", {kBool, 0}},
  };
  for (const auto& [key, type] : expected) EXPECT_EQ(kv_type(*file, key), type) << key;
}

TEST(GenLlama, VocabularyIsByteFallbackSentencePieceWithDistinctTokens) {
  const Vocabulary v = make_vocabulary(5000);
  ASSERT_EQ(v.tokens.size(), 5000U);
  ASSERT_EQ(v.scores.size(), 5000U);
  ASSERT_EQ(v.token_types.size(), 5000U);
  EXPECT_EQ(v.tokens[0], "<unk>");
  EXPECT_EQ(v.tokens[1], "<s>");
  EXPECT_EQ(v.tokens[2], "</s>");
  EXPECT_EQ(v.token_types[0], 2);  // LLAMA_TOKEN_TYPE_UNKNOWN
  EXPECT_EQ(v.token_types[1], 3);  // CONTROL
  for (unsigned b = 0; b < 256; ++b) {
    EXPECT_EQ(v.tokens[3 + b], fmt::format("<0x{:02X}>", b));
    EXPECT_EQ(v.token_types[3 + b], 6);  // BYTE
  }
  EXPECT_EQ(v.tokens[13], "<0x0A>") << "llama.cpp's newline token";
  // llama.cpp aborts (GGML_ASSERT) on a vocabulary with a repeated token.
  EXPECT_EQ(std::set<std::string>(v.tokens.begin(), v.tokens.end()).size(), v.tokens.size());
  EXPECT_EQ(v.tokens[259], "\xE2\x96\x81") << "the word-start marker is a piece of its own";
  for (std::size_t i = 259; i < v.tokens.size(); ++i) {
    EXPECT_EQ(v.token_types[i], 1) << i;  // NORMAL
    if (i > 259) EXPECT_LT(v.scores[i], v.scores[i - 1]) << i;
  }
  // Every printable ASCII character is a piece, with and without the marker.
  const std::set<std::string> all(v.tokens.begin(), v.tokens.end());
  for (char c = '!'; c <= '~'; ++c) {
    EXPECT_TRUE(all.count(std::string(1, c))) << c;
    EXPECT_TRUE(all.count("\xE2\x96\x81" + std::string(1, c))) << c;
  }
  EXPECT_EQ(make_vocabulary(kLlamaFixedTokens).tokens.back(), "<0xFF>");
  const Vocabulary smallest = make_vocabulary(kLlamaMinVocab);
  EXPECT_EQ(smallest.tokens.back(), "\xE2\x96\x81~") << "ends with the last printable ASCII piece";
}

TEST(GenLlama, SizeLandsWithinTenPercentAndTheVocabularyIsTheEmbeddingsRows) {
  for (DType dtype : {DType::F16, DType::BF16, DType::Q4_K, DType::Q8_0}) {
    for (std::uint64_t target = std::uint64_t{2} << 20; target <= (std::uint64_t{32} << 30); target *= 4) {
      const GenOptions o = llama_options(dtype, target);
      ASSERT_EQ(resolve_arch(o), Arch::llama);
      auto plan = plan_tensors(o);
      ASSERT_TRUE(plan) << plan.error().to_string();
      std::uint64_t total = 0;
      for (const TensorSpec& t : *plan) total += t.size;
      const double ratio = static_cast<double>(total) / static_cast<double>(target);
      EXPECT_GT(ratio, 0.9) << dtype_name(dtype) << " " << target;
      EXPECT_LT(ratio, 1.1) << dtype_name(dtype) << " " << target;
      ASSERT_EQ(plan->front().name, "token_embd.weight");
      EXPECT_GE(plan->front().shape[1], kLlamaMinVocab);
      EXPECT_EQ(plan->front().shape[0] % 256, 0U) << "whole K-quant super-blocks and 128-wide heads";
    }
  }
}

TEST(GenLlama, TinyTargetsStillGetOneLayerAndTheSmallestVocabulary) {
  auto plan = plan_tensors(llama_options(DType::F32, 4096));
  ASSERT_TRUE(plan);
  EXPECT_EQ(plan->size(), 12U);
  EXPECT_EQ(plan->front().shape, (std::vector<std::uint64_t>{256, kLlamaMinVocab}));
}

TEST(GenLlama, ExactTensorCountsAddOnlyTheBiasesLlamaCppKnows) {
  const std::regex bias(R"(blk\.\d+\.(attn_q|attn_k|attn_v|attn_output|ffn_gate|ffn_up|ffn_down)\.bias)");
  for (std::uint32_t count : {12U, 13U, 19U, 21U, 30U, 37U, 100U, 1000U}) {
    GenOptions o = llama_options(DType::F16, std::uint64_t{8} << 20);
    o.arch = Arch::llama;
    o.tensor_count = count;
    auto plan = plan_tensors(o);
    ASSERT_TRUE(plan) << count << ": " << plan.error().to_string();
    EXPECT_EQ(plan->size(), count);
    std::uint64_t ff = 0;
    for (const TensorSpec& t : *plan) {
      if (t.name == "blk.0.ffn_gate.weight") ff = t.shape[1];
    }
    const std::uint64_t d = plan->front().shape[0];
    std::uint64_t biases = 0;
    for (const TensorSpec& t : *plan) {
      if (t.name.ends_with(".bias")) {
        ASSERT_TRUE(std::regex_match(t.name, bias)) << t.name;
        const bool ffn_wide =
            t.name.find("ffn_gate") != std::string::npos || t.name.find("ffn_up") != std::string::npos;
        EXPECT_EQ(t.shape, (std::vector<std::uint64_t>{ffn_wide ? ff : d})) << t.name;
        ++biases;
      }
    }
    EXPECT_EQ((count - 3 - biases) % 9, 0U) << count;
  }
  for (std::uint32_t count : {1U, 11U, 20U}) {
    GenOptions o = llama_options(DType::F16, std::uint64_t{8} << 20);
    o.arch = Arch::llama;
    o.tensor_count = count;
    auto plan = plan_tensors(o);
    ASSERT_FALSE(plan) << count;
    EXPECT_EQ(plan.error().kind, ErrorKind::invalid_argument);
    EXPECT_NE(plan.error().message.find(std::to_string(count)), std::string::npos) << plan.error().message;
  }
}

TEST(GenLlama, AutomaticIsLlamaOnlyForGgufWithoutCountAndWithAWeightTypeLlamaCppTakes) {
  GenOptions o = llama_options(DType::F16, std::uint64_t{8} << 20);
  EXPECT_EQ(resolve_arch(o), Arch::llama);
  o.tensor_count = 40;
  EXPECT_EQ(resolve_arch(o), Arch::none) << "--tensors keeps today's layout";
  o.tensor_count = 0;
  o.dtype = DType::I8;
  EXPECT_EQ(resolve_arch(o), Arch::none) << "no llama file type for I8";
  o.dtype = DType::F16;
  o.format = Format::safetensors;
  EXPECT_EQ(resolve_arch(o), Arch::none);
  o.format = Format::gguf;
  o.arch = Arch::none;
  EXPECT_EQ(resolve_arch(o), Arch::none);
}

TEST(GenLlama, ArchNoneKeepsThePlainLayoutAndMetadata) {
  TempDir dir;
  GenOptions o = llama_options(DType::F16, std::uint64_t{8} << 20);
  o.arch = Arch::none;
  auto report = generate(dir.file("none.gguf"), o);
  ASSERT_TRUE(report);
  EXPECT_EQ(report->arch, Arch::none);
  auto model = Model::load(dir.file("none.gguf"));
  ASSERT_TRUE(model);
  EXPECT_FALSE(to_json(model->metadata()).contains("tokenizer.ggml.tokens"));
  EXPECT_FALSE(to_json(model->metadata()).contains("general.file_type"));
  // And --tensors on its own still makes the extra bias tensors a llama model could not hold.
  o.arch = Arch::automatic;
  o.tensor_count = 20;
  auto plan = plan_tensors(o);
  ASSERT_TRUE(plan);
  EXPECT_TRUE(
      std::any_of(plan->begin(), plan->end(), [](const TensorSpec& t) { return t.name == "extra.0.bias"; }));
}

TEST(GenLlama, LlamaIsRefusedOutsideGgufAndForTypesLlamaCppLacks) {
  GenOptions o = llama_options(DType::F16, std::uint64_t{8} << 20);
  o.arch = Arch::llama;
  o.format = Format::safetensors;
  auto st = plan_tensors(o);
  ASSERT_FALSE(st);
  EXPECT_EQ(st.error().kind, ErrorKind::invalid_argument);
  o.format = Format::gguf;
  o.dtype = DType::I32;
  auto i32 = plan_tensors(o);
  ASSERT_FALSE(i32);
  EXPECT_EQ(i32.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(i32.error().message.find("I32"), std::string::npos);
}

}  // namespace
}  // namespace ringload::gen
