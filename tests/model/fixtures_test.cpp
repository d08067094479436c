// Every real file in ../shared/fixtures parses through Model::load with the tensor counts, dtypes
// and metadata sizes shared/fixtures/MANIFEST.md states; the malformed ones fail with a clear kind.
#include <gtest/gtest.h>

#include <map>
#include <string>
#include <vector>

#include "ringload/model.hpp"
#include "support/fixtures.hpp"

namespace ringload {
namespace {

struct Expected {
  const char* file;
  Format format;
  std::size_t tensors;
  std::map<std::string, std::size_t> dtypes;  // dtype name → count
  int metadata_keys = -1;                     // -1: not stated by MANIFEST
};

// Figures copied from MANIFEST.md, not from our parser's output.
const std::vector<Expected> kValid = {
    {"ggml-vocab-gpt-2.gguf", Format::gguf, 0, {}, 16},
    {"ggml-vocab-bert-bge.gguf", Format::gguf, 0, {}, 20},
    {"ggml-vocab-llama-spm.gguf", Format::gguf, 0, {}, 22},
    {"ggml-vocab-phi-3.gguf", Format::gguf, 0, {}, 26},
    {"ggml-vocab-aquila.gguf", Format::gguf, 0, {}, 18},
    {"ggml-vocab-qwen2.gguf", Format::gguf, 0, {}, 20},
    {"ggml-vocab-nomic-bert-moe.gguf", Format::gguf, 0, {}, 37},
    {"ggml-vocab-gemma-4.gguf", Format::gguf, 0, {}, 42},
    {"ollama-llama-2-tiny-random.gguf", Format::gguf, 12, {{"F16", 9}, {"F32", 3}}, 18},
    {"crabml-tinyllamas-stories-260k-f32-v1.gguf", Format::gguf, 48, {{"F32", 48}}, 18},
    {"hyllama-dummy-allkv.gguf", Format::gguf, 10, {{"F32", 10}}, 15},
    {"emel-lifecycle-smoke-align64.gguf", Format::gguf, 1, {{"F32", 1}}, 4},
    {"hadamards.safetensors", Format::safetensors, 66, {{"I8", 66}}},
    {"jl-model-alldtypes.safetensors",
     Format::safetensors,
     36,
     {{"I64", 3},
      {"F64", 3},
      {"F32", 3},
      {"I32", 3},
      {"BF16", 3},
      {"F16", 3},
      {"I16", 3},
      {"F8_E4M3", 3},
      {"F8_E5M2", 3},
      {"I8", 3},
      {"U8", 3},
      {"BOOL", 3}},
     0},
    {"jl-model-numpy.safetensors",
     Format::safetensors,
     27,
     {{"I64", 3},
      {"F64", 3},
      {"F32", 3},
      {"I32", 3},
      {"F16", 3},
      {"I16", 3},
      {"I8", 3},
      {"U8", 3},
      {"BOOL", 3}},
     0},
    {"sharded-safetensors-jl/model-00001-of-00006.safetensors",
     Format::safetensors,
     19,
     {{"F16", 3},
      {"I64", 2},
      {"F64", 2},
      {"F32", 2},
      {"I32", 2},
      {"I16", 2},
      {"I8", 2},
      {"U8", 2},
      {"BOOL", 2}},
     1},
    {"sharded-safetensors-jl/model-00002-of-00006.safetensors", Format::safetensors, 1, {{"F32", 1}}, 1},
    {"sharded-safetensors-jl/model-00003-of-00006.safetensors",
     Format::safetensors,
     2,
     {{"F64", 1}, {"BOOL", 1}}},
    {"sharded-safetensors-jl/model-00004-of-00006.safetensors",
     Format::safetensors,
     4,
     {{"I32", 1}, {"I16", 1}, {"I8", 1}, {"U8", 1}}},
    {"sharded-safetensors-jl/model-00005-of-00006.safetensors",
     Format::safetensors,
     7,
     {{"I64", 1}, {"BF16", 2}, {"F8_E4M3", 2}, {"F8_E5M2", 2}}},
    {"sharded-safetensors-jl/model-00006-of-00006.safetensors",
     Format::safetensors,
     3,
     {{"BF16", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}}},
    {"burn-mnist.safetensors", Format::safetensors, 20, {{"F32", 18}, {"I64", 2}}, 0},
    {"burn-boolean.safetensors", Format::safetensors, 1, {{"BOOL", 1}}},
    {"burn-non_contiguous_indexes.safetensors", Format::safetensors, 10, {{"F32", 10}}},
    {"candle-whisper-mel_filters.safetensors", Format::safetensors, 1, {{"F32", 1}}},
    {"candle-encodec-jfk-codes.safetensors", Format::safetensors, 1, {{"I64", 1}}},
    {"ollama-minicpm3-4b-testdata.safetensors", Format::safetensors, 15, {{"F32", 15}}},
    {"syoyo-model-f64.safetensors", Format::safetensors, 2, {{"F64", 2}}},
    {"mlverse-hello.safetensors", Format::safetensors, 2, {{"F32", 2}}},
    {"java-sample.safetensors", Format::safetensors, 2, {{"I64", 1}, {"F32", 1}}},
    {"aprender-test_forest_10trees.safetensors", Format::safetensors, 73, {{"F32", 73}}, 0},
    {"aprender-linreg-model.safetensors", Format::safetensors, 2, {{"F32", 2}}},
    {"modelaudit-safe_model.safetensors", Format::safetensors, 3, {{"F32", 3}}, 8},
    {"malformed/modelaudit-multiple_patterns.safetensors", Format::safetensors, 3, {{"F32", 3}}},
    {"malformed/modelaudit-obfuscated_metadata.safetensors", Format::safetensors, 3, {{"F32", 3}}},
};

class ValidFixture : public ::testing::TestWithParam<Expected> {};

TEST_P(ValidFixture, ParsesWithTheManifestCounts) {
  const Expected& e = GetParam();
  RINGLOAD_FIXTURE_OR_SKIP(path, e.file);
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_EQ(model->format(), e.format);
  EXPECT_TRUE(model->is_mmap());
  ASSERT_EQ(model->tensors().size(), e.tensors);
  std::map<std::string, std::size_t> dtypes;
  std::uint64_t previous_end = 0;
  for (const TensorInfo& t : model->tensors()) {
    ++dtypes[std::string(dtype_name(t.dtype))];
    EXPECT_GE(t.offset, previous_end) << t.name << ": tensors sorted by offset, disjoint";
    previous_end = t.offset + t.size;
    EXPECT_LE(previous_end, model->file_size()) << t.name;
    auto bytes = model->tensor_bytes(t.name);
    ASSERT_TRUE(bytes) << bytes.error().to_string();
    EXPECT_EQ(bytes->size(), t.size);
    EXPECT_EQ(bytes->data(), model->image().data() + t.offset);
  }
  EXPECT_EQ(dtypes, e.dtypes);
  if (e.metadata_keys >= 0) {
    EXPECT_EQ(model->metadata().size(), static_cast<std::size_t>(e.metadata_keys));
  }
}

std::string fixture_test_name(const ::testing::TestParamInfo<Expected>& info) {
  std::string name = info.param.file;
  for (auto& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Manifest, ValidFixture, ::testing::ValuesIn(kValid), fixture_test_name);

struct Rejected {
  const char* file;
  ErrorKind kind;
};

const std::vector<Rejected> kRejected = {
    {"malformed/realizar-empty-0B.gguf", ErrorKind::truncated},
    {"malformed/emel-seed-magic-only-4B.gguf", ErrorKind::truncated},
    {"malformed/ollama-test-truncated-6B.gguf", ErrorKind::truncated},
    {"malformed/bitnet-seed-f2eadcec-version0.gguf", ErrorKind::unsupported_version},
    {"malformed/bitnet-crash-69e8aa74-absurd-ntensors.gguf", ErrorKind::truncated},
    {"malformed/bitnet-seed-40043e85-strlen-past-eof.gguf", ErrorKind::truncated},
    {"malformed/bitnet-mini-nonstd-header.gguf", ErrorKind::truncated},
    {"malformed/realizar-mnist_784x2-APRN.apr", ErrorKind::bad_magic},
    {"malformed/presentar-aprender-shell-base-APRN.apr", ErrorKind::bad_magic},
    {"malformed/presentar-sentiment_mini-APR0v1.apr", ErrorKind::unsupported_version},
};

class RejectedFixture : public ::testing::TestWithParam<Rejected> {};

TEST_P(RejectedFixture, FailsWithTheExpectedKindNamingTheFile) {
  const Rejected& r = GetParam();
  RINGLOAD_FIXTURE_OR_SKIP(path, r.file);
  auto model = Model::load(path);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, r.kind) << model.error().to_string();
  EXPECT_EQ(model.error().path, path.string());
  EXPECT_TRUE(model.error().offset.has_value()) << model.error().to_string();
  EXPECT_FALSE(model.error().message.empty());
}

std::string rejected_test_name(const ::testing::TestParamInfo<Rejected>& info) {
  std::string name = info.param.file;
  for (auto& c : name) {
    if (!std::isalnum(static_cast<unsigned char>(c))) c = '_';
  }
  return name;
}

INSTANTIATE_TEST_SUITE_P(Manifest, RejectedFixture, ::testing::ValuesIn(kRejected), rejected_test_name);

}  // namespace
}  // namespace ringload
