// `ringload gen`: the content function, the tensor plan, the writers' byte layout, and round
// trips of every format through Model::load with byte-exact tensor contents.
#include <zstd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <ostream>
#include <set>
#include <string>
#include <vector>

#include <fmt/format.h>
#include <gtest/gtest.h>

#include "base/crc32.hpp"
#include "base/json.hpp"
#include "gen/gen.hpp"
#include "gen/output_file.hpp"
#include "io/file.hpp"
#include "ringload/model.hpp"
#include "support/temp_dir.hpp"

namespace ringload::gen {
namespace {

using test::TempDir;

// The published definition, restated independently of content.cpp.
std::uint64_t reference_splitmix64(std::uint64_t x) {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::vector<std::byte> expected_bytes(std::uint64_t seed, const std::string& name, DType dtype,
                                      std::uint64_t size) {
  std::vector<std::byte> out(size);
  fill_tensor_values(tensor_key(seed, name), dtype, 0, out);
  return out;
}

std::vector<std::byte> read_all(const std::filesystem::path& path) {
  auto bytes = read_file(path);
  EXPECT_TRUE(bytes) << (bytes ? "" : bytes.error().to_string());
  return bytes ? std::move(bytes).value() : std::vector<std::byte>{};
}

std::uint64_t u64_at(std::span<const std::byte> bytes, std::size_t offset) {
  std::uint64_t v = 0;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}
std::uint32_t u32_at(std::span<const std::byte> bytes, std::size_t offset) {
  std::uint32_t v = 0;
  std::memcpy(&v, bytes.data() + offset, sizeof v);
  return v;
}

GenOptions small_options(Format format, DType dtype, Compression compression = Compression::none) {
  GenOptions o;
  o.format = format;
  o.dtype = dtype;
  o.compression = compression;
  o.target_bytes = std::uint64_t{3} << 20;
  o.tensor_count = 24;
  o.seed = 1234;
  return o;
}

std::uint64_t total_bytes(const std::vector<TensorSpec>& specs) {
  std::uint64_t total = 0;
  for (const auto& t : specs) total += t.size;
  return total;
}

// ---------------------------------------------------------------------------------------------
// Content

TEST(GenContent, ByteIsLittleEndianByteOfSplitmixOfKeyPlusWord) {
  const std::uint64_t key = tensor_key(7, "blk.0.attn_q.weight");
  std::vector<std::byte> bytes(100);
  fill_tensor_bytes(key, 0, bytes);
  for (std::size_t p = 0; p < bytes.size(); ++p) {
    const auto expected = static_cast<std::uint8_t>(reference_splitmix64(key + p / 8) >> (8 * (p % 8)));
    ASSERT_EQ(static_cast<std::uint8_t>(bytes[p]), expected) << "byte " << p;
  }
}

TEST(GenContent, AnyWindowEqualsTheSameBytesOfABigWindow) {
  const std::uint64_t key = tensor_key(99, "model.embed_tokens.weight");
  std::vector<std::byte> big(4096 + 64);
  fill_tensor_bytes(key, 0, big);
  for (std::uint64_t start : {0, 1, 3, 7, 8, 9, 15, 16, 17, 1000, 4095}) {
    for (std::size_t length : {0, 1, 2, 5, 7, 8, 9, 15, 16, 17, 63, 64, 65}) {
      std::vector<std::byte> window(length);
      fill_tensor_bytes(key, start, window);
      ASSERT_TRUE(std::equal(window.begin(), window.end(), big.begin() + static_cast<std::ptrdiff_t>(start)))
          << "window [" << start << ", +" << length << ")";
    }
  }
}

TEST(GenContent, WindowsFarIntoATensorNeedNoEarlierBytes) {
  const std::uint64_t key = tensor_key(1, "output.weight");
  const std::uint64_t position = (std::uint64_t{5} << 30) + 3;  // 5 GiB in, mid-word
  std::vector<std::byte> window(13);
  fill_tensor_bytes(key, position, window);
  for (std::size_t i = 0; i < window.size(); ++i) {
    const std::uint64_t p = position + i;
    ASSERT_EQ(static_cast<std::uint8_t>(window[i]),
              static_cast<std::uint8_t>(reference_splitmix64(key + p / 8) >> (8 * (p % 8))));
  }
}

TEST(GenContent, KeyDependsOnSeedAndName) {
  EXPECT_EQ(tensor_key(1, "a"), tensor_key(1, "a"));
  EXPECT_NE(tensor_key(1, "a"), tensor_key(2, "a"));
  EXPECT_NE(tensor_key(1, "a"), tensor_key(1, "b"));
  EXPECT_NE(tensor_key(0, ""), tensor_key(0, "a"));
}

// ---------------------------------------------------------------------------------------------
// Plan

TEST(GenPlan, RejectsDtypeTheFormatCannotHoldNamingIt) {
  struct Case {
    Format format;
    DType dtype;
  };
  for (const Case c :
       {Case{Format::safetensors, DType::Q4_K}, Case{Format::safetensors, DType::APR_Q8},
        Case{Format::gguf, DType::APR_Q4}, Case{Format::gguf, DType::U8}, Case{Format::gguf, DType::BOOL},
        Case{Format::apr, DType::Q8_0}, Case{Format::apr, DType::I16}}) {
    GenOptions o;
    o.format = c.format;
    o.dtype = c.dtype;
    auto plan = plan_tensors(o);
    ASSERT_FALSE(plan) << dtype_name(c.dtype);
    EXPECT_EQ(plan.error().kind, ErrorKind::invalid_argument);
    EXPECT_NE(plan.error().message.find(dtype_name(c.dtype)), std::string::npos) << plan.error().message;
    EXPECT_FALSE(format_supports_dtype(c.format, c.dtype));
  }
}

TEST(GenPlan, SupportedDtypesPerFormat) {
  for (DType d : {DType::F32, DType::F16, DType::BF16, DType::F64, DType::I32, DType::I64, DType::I8,
                  DType::U8, DType::APR_Q4, DType::APR_Q8, DType::Q4_K, DType::Q6_K}) {
    EXPECT_TRUE(format_supports_dtype(Format::apr, d)) << dtype_name(d);
  }
  for (DType d : {DType::F64, DType::F4, DType::F8_E4M3, DType::BOOL, DType::C64, DType::U64}) {
    EXPECT_TRUE(format_supports_dtype(Format::safetensors, d)) << dtype_name(d);
  }
  for (DType d :
       {DType::F32, DType::I16, DType::Q4_0, DType::Q8_0, DType::IQ2_XXS, DType::MXFP4, DType::Q2_0}) {
    EXPECT_TRUE(format_supports_dtype(Format::gguf, d)) << dtype_name(d);
  }
}

TEST(GenPlan, RejectsCompressionOutsideApr) {
  GenOptions o;
  o.format = Format::gguf;
  o.dtype = DType::F16;
  o.compression = Compression::zstd;
  auto plan = plan_tensors(o);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().kind, ErrorKind::invalid_argument);
}

TEST(GenPlan, TotalLandsWithinTenPercentOfTarget) {
  struct Case {
    Format format;
    DType dtype;
  };
  for (const Case c : {Case{Format::safetensors, DType::BF16}, Case{Format::safetensors, DType::F32},
                       Case{Format::gguf, DType::Q4_K}, Case{Format::gguf, DType::Q8_0},
                       Case{Format::apr, DType::APR_Q8}, Case{Format::apr, DType::APR_Q4}}) {
    for (std::uint64_t target = std::uint64_t{1} << 20; target <= (std::uint64_t{16} << 30); target *= 4) {
      GenOptions o;
      o.format = c.format;
      o.dtype = c.dtype;
      o.target_bytes = target;
      auto plan = plan_tensors(o);
      ASSERT_TRUE(plan);
      const double ratio = static_cast<double>(total_bytes(*plan)) / static_cast<double>(target);
      EXPECT_GT(ratio, 0.9) << dtype_name(c.dtype) << " target " << target;
      EXPECT_LT(ratio, 1.1) << dtype_name(c.dtype) << " target " << target;
    }
  }
}

TEST(GenPlan, DefaultCountGrowsLikeRealModels) {
  GenOptions o;
  o.format = Format::gguf;
  o.dtype = DType::BF16;
  o.target_bytes = std::uint64_t{64} << 20;
  auto small = plan_tensors(o);
  ASSERT_TRUE(small);
  EXPECT_EQ(small->size(), 9U + 3U);  // one layer + embedding, final norm, head
  o.target_bytes = std::uint64_t{14} << 30;
  auto seven_b = plan_tensors(o);
  ASSERT_TRUE(seven_b);
  EXPECT_EQ(seven_b->size(), 9U * 32U + 3U);
  EXPECT_EQ(seven_b->front().name, "token_embd.weight");
  EXPECT_EQ(seven_b->back().name, "output.weight");
}

TEST(GenPlan, HonoursExactTensorCount) {
  for (Format format : {Format::safetensors, Format::gguf, Format::apr}) {
    for (std::uint32_t count : {1U, 2U, 3U, 4U, 11U, 12U, 13U, 40U, 100U, 1000U}) {
      GenOptions o;
      o.format = format;
      o.dtype = DType::F16;
      o.target_bytes = std::uint64_t{8} << 20;
      o.tensor_count = count;
      auto plan = plan_tensors(o);
      ASSERT_TRUE(plan);
      EXPECT_EQ(plan->size(), count) << to_string(format);
      std::set<std::string> names;
      for (const auto& t : *plan) names.insert(t.name);
      EXPECT_EQ(names.size(), count) << "names are unique";
    }
  }
}

TEST(GenPlan, SingleTensorCarriesTheWholeTarget) {
  GenOptions o;
  o.format = Format::safetensors;
  o.dtype = DType::BF16;
  o.target_bytes = std::uint64_t{32} << 20;
  o.tensor_count = 1;
  auto plan = plan_tensors(o);
  ASSERT_TRUE(plan);
  ASSERT_EQ(plan->size(), 1U);
  EXPECT_EQ((*plan)[0].name, "model.embed_tokens.weight");
  EXPECT_GT((*plan)[0].size, o.target_bytes * 9 / 10);
  EXPECT_LE((*plan)[0].size, o.target_bytes);
}

TEST(GenPlan, ShapesAreInEachFormatsOrder) {
  GenOptions o;
  o.dtype = DType::F16;
  o.target_bytes = std::uint64_t{64} << 20;
  o.format = Format::gguf;
  auto gguf = plan_tensors(o);
  o.format = Format::safetensors;
  auto st = plan_tensors(o);
  ASSERT_TRUE(gguf && st);
  ASSERT_EQ(gguf->size(), st->size());
  const auto find = [](const std::vector<TensorSpec>& v, std::string_view name) {
    return *std::find_if(v.begin(), v.end(), [&](const TensorSpec& t) { return t.name == name; });
  };
  const TensorSpec gate_gguf = find(*gguf, "blk.0.ffn_gate.weight");
  const TensorSpec gate_hf = find(*st, "model.layers.0.mlp.gate_proj.weight");
  const TensorSpec down_hf = find(*st, "model.layers.0.mlp.down_proj.weight");
  ASSERT_EQ(gate_hf.shape.size(), 2U);
  EXPECT_EQ(gate_gguf.shape, (std::vector{gate_hf.shape[1], gate_hf.shape[0]}));  // ne[0] = row length
  EXPECT_GT(gate_hf.shape[0], gate_hf.shape[1]);  // [ff, d] with ff ≈ 2.75 d
  EXPECT_EQ(down_hf.shape, (std::vector{gate_hf.shape[1], gate_hf.shape[0]}));
  EXPECT_EQ(gate_hf.shape[1] % 256, 0U);
  EXPECT_EQ(gate_hf.shape[0] % 256, 0U);
}

TEST(GenPlan, QuantizesMatricesAndKeepsNormsF32WithFormatSizes) {
  for (Format format : {Format::gguf, Format::apr}) {
    GenOptions o;
    o.format = format;
    o.dtype = format == Format::apr ? DType::APR_Q8 : DType::Q6_K;
    o.target_bytes = std::uint64_t{16} << 20;
    o.tensor_count = 30;
    auto plan = plan_tensors(o);
    ASSERT_TRUE(plan);
    for (const auto& t : *plan) {
      EXPECT_EQ(t.dtype, t.shape.size() == 2 ? o.dtype : DType::F32) << t.name;
      const auto rounding = format == Format::apr ? BlockRounding::pad_last_block : BlockRounding::exact;
      EXPECT_EQ(t.size, dtype_byte_size(t.dtype, *element_count(t.shape), rounding)) << t.name;
    }
  }
}

TEST(GenPlan, IsDeterministic) {
  GenOptions o = small_options(Format::gguf, DType::Q4_K);
  auto a = plan_tensors(o);
  auto b = plan_tensors(o);
  ASSERT_TRUE(a && b);
  ASSERT_EQ(a->size(), b->size());
  for (std::size_t i = 0; i < a->size(); ++i) {
    EXPECT_EQ((*a)[i].name, (*b)[i].name);
    EXPECT_EQ((*a)[i].shape, (*b)[i].shape);
    EXPECT_EQ((*a)[i].size, (*b)[i].size);
  }
}

// ---------------------------------------------------------------------------------------------
// Output file

TEST(GenOutputFile, LeavesNothingBehindWhenNotCommitted) {
  TempDir dir;
  {
    auto file = OutputFile::create(dir.file("model.gguf"));
    ASSERT_TRUE(file);
    const std::array<std::byte, 3> bytes{std::byte{1}, std::byte{2}, std::byte{3}};
    ASSERT_TRUE(file->write(bytes));
  }
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(GenOutputFile, CommitReplacesTheTargetAtomically) {
  TempDir dir;
  const auto target = test::write_file(dir.file("model.bin"), std::vector<std::byte>(10, std::byte{7}));
  auto file = OutputFile::create(target, 4096);
  ASSERT_TRUE(file);
  std::vector<std::byte> big(10000, std::byte{5});
  ASSERT_TRUE(file->write(std::span(big).first(100)));
  ASSERT_TRUE(file->write(std::span(big).subspan(100)));  // spans a flush and a direct write
  ASSERT_TRUE(file->write_zeros(5000));
  EXPECT_EQ(read_all(target), std::vector<std::byte>(10, std::byte{7})) << "untouched until commit";
  ASSERT_TRUE(file->commit());
  std::vector<std::byte> expected = big;
  expected.resize(15000, std::byte{0});
  EXPECT_EQ(read_all(target), expected);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()), {}), 1);
}

TEST(GenOutputFile, MissingDirectoryIsNotFound) {
  TempDir dir;
  auto file = OutputFile::create(dir.file("missing") / "model.apr");
  ASSERT_FALSE(file);
  EXPECT_EQ(file.error().kind, ErrorKind::not_found);
}

// ---------------------------------------------------------------------------------------------
// Writers' byte layout, checked without the parsers

TEST(GenSafetensors, HeaderIsSpacePaddedJsonWithMetadataFirstAndNoTrailingBytes) {
  TempDir dir;
  const auto options = small_options(Format::safetensors, DType::BF16);
  auto report = generate(dir.file("m.safetensors"), options);
  ASSERT_TRUE(report) << report.error().to_string();
  const auto bytes = read_all(dir.file("m.safetensors"));
  const std::uint64_t n = u64_at(bytes, 0);
  EXPECT_EQ(n % 8, 0U);
  ASSERT_LE(8 + n, bytes.size());
  const std::string_view text(reinterpret_cast<const char*>(bytes.data()) + 8, n);
  EXPECT_TRUE(text.starts_with("{\"__metadata__\":{"));
  auto header = parse_json(text, 8);
  ASSERT_TRUE(header) << header.error().to_string();
  std::uint64_t end = 0;
  for (const auto& [key, value] : header->items()) {
    if (key == "__metadata__") {
      for (const auto& [k, v] : value.items()) EXPECT_TRUE(v.is_string()) << k;
      continue;
    }
    const auto& offsets = value["data_offsets"];
    EXPECT_EQ(offsets[0].get<std::uint64_t>(), end) << key << ": back to back";
    end = offsets[1].get<std::uint64_t>();
  }
  EXPECT_EQ(8 + n + end, bytes.size());
  EXPECT_EQ(report->file_bytes, bytes.size());
  EXPECT_EQ(report->tensor_count, options.tensor_count);
}

TEST(GenGguf, FileEndsAtTheLastTensorsPaddedEnd) {
  TempDir dir;
  const auto options = small_options(Format::gguf, DType::Q8_0);
  auto report = generate(dir.file("m.gguf"), options);
  ASSERT_TRUE(report) << report.error().to_string();
  const auto bytes = read_all(dir.file("m.gguf"));
  ASSERT_GE(bytes.size(), 24U);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(bytes.data()), 4), "GGUF");
  EXPECT_EQ(u32_at(bytes, 4), 3U);
  EXPECT_EQ(u64_at(bytes, 8), options.tensor_count);
  EXPECT_EQ(bytes.size() % 32, 0U);
  auto plan = plan_tensors(options);
  ASSERT_TRUE(plan);
  const TensorSpec& last = plan->back();
  const std::uint64_t padded = (last.size + 31) / 32 * 32;
  const auto expected = expected_bytes(options.seed, last.name, last.dtype, last.size);
  EXPECT_TRUE(
      std::equal(expected.begin(), expected.end(), bytes.end() - static_cast<std::ptrdiff_t>(padded)));
  EXPECT_EQ(report->file_bytes, bytes.size());
}

TEST(GenApr, HeaderAndFooterChecksumsVerify) {
  TempDir dir;
  const auto options = small_options(Format::apr, DType::APR_Q4);
  auto report = generate(dir.file("m.apr"), options);
  ASSERT_TRUE(report) << report.error().to_string();
  const auto bytes = read_all(dir.file("m.apr"));
  ASSERT_GE(bytes.size(), 68U);
  EXPECT_EQ(std::memcmp(bytes.data(), "APR\0\x02\x00", 6), 0);
  const std::uint16_t flags = static_cast<std::uint16_t>(u32_at(bytes, 6) & 0xFFFF);
  EXPECT_EQ(flags, 0x0400 | 0x0020);
  EXPECT_EQ(u32_at(bytes, 8), options.tensor_count);
  const std::span<const std::byte> header(bytes.data(), 64);
  EXPECT_EQ(u32_at(bytes, 40), crc32_update(crc32(header.first(40)), header.subspan(44)));
  EXPECT_EQ(u32_at(bytes, bytes.size() - 4), crc32(std::span(bytes).first(bytes.size() - 4)));
  EXPECT_EQ(u64_at(bytes, 32) % 64, 0U);
  EXPECT_EQ(report->file_bytes, bytes.size());
}

// APR_V2.md §15: the same model (different tensor values) must give the same 516-byte layout
// and the same header bytes, header CRC included.
TEST(GenApr, LayoutMatchesTheSpecsWorkedExample) {
  TempDir dir;
  auto meta = parse_json(
      R"({"model_type":"linear_regression","name":"golden-v2","license":null,"data_source":null,)"
      R"("data_license":null,"version":"0.0.0-golden","created_at":"1700000000","total_size":0,"param_count":8})",
      0);
  ASSERT_TRUE(meta);
  const std::vector<TensorSpec> tensors{{"weights", DType::F32, {8}, 32}, {"bias", DType::F32, {1}, 4}};
  GenOptions options;
  options.format = Format::apr;
  auto report = write_model(dir.file("golden.apr"), options, tensors, *meta);
  ASSERT_TRUE(report) << report.error().to_string();
  const auto bytes = read_all(dir.file("golden.apr"));
  ASSERT_EQ(bytes.size(), 516U);
  const std::array<std::uint8_t, 48> expected_header = {
      0x41, 0x50, 0x52, 0x00, 0x02, 0x00, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00, 0x40, 0x00, 0x00, 0x00,
      0x00, 0x00, 0x00, 0x00, 0xbd, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00,
      0x80, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x02, 0x8c, 0xc0, 0x3b, 0x00, 0x00, 0x00, 0x00};
  for (std::size_t i = 0; i < expected_header.size(); ++i) {
    EXPECT_EQ(static_cast<std::uint8_t>(bytes[i]), expected_header[i]) << "header byte " << i;
  }
  // Index sorted by name: bias (offset 0, size 4) before weights (offset 64, size 32).
  EXPECT_EQ(u32_at(bytes, 0x100) & 0xFFFF, 4U);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(bytes.data()) + 0x102, 4), "bias");
  EXPECT_EQ(u64_at(bytes, 0x100 + 2 + 4 + 2 + 8), 0U);
  EXPECT_EQ(u64_at(bytes, 0x100 + 2 + 4 + 2 + 8 + 8), 4U);
  EXPECT_EQ(std::string_view(reinterpret_cast<const char*>(bytes.data()) + 0x122, 7), "weights");
  EXPECT_EQ(u64_at(bytes, 0x120 + 2 + 7 + 2 + 8), 64U);
  const auto bias = expected_bytes(0, "bias", DType::F32, 4);
  EXPECT_TRUE(std::equal(bias.begin(), bias.end(), bytes.begin() + 0x180));
}

TEST(GenApr, ZstdPayloadIsTheUncompressedImageAfterTheHeader) {
  TempDir dir;
  auto plain_options = small_options(Format::apr, DType::BF16);
  auto zstd_options = small_options(Format::apr, DType::BF16, Compression::zstd);
  ASSERT_TRUE(generate(dir.file("plain.apr"), plain_options));
  ASSERT_TRUE(generate(dir.file("zstd.apr"), zstd_options));
  const auto plain = read_all(dir.file("plain.apr"));
  const auto packed = read_all(dir.file("zstd.apr"));
  ASSERT_GT(packed.size(), 64U);
  EXPECT_EQ(u32_at(packed, 6) & 0xFFFF, 0x0400U | 0x0002U);
  const auto content_size = ZSTD_getFrameContentSize(packed.data() + 64, packed.size() - 64);
  ASSERT_EQ(content_size, plain.size() - 64) << "the frame records its size";
  std::vector<std::byte> payload(plain.size() - 64);
  const std::size_t n =
      ZSTD_decompress(payload.data(), payload.size(), packed.data() + 64, packed.size() - 64);
  ASSERT_FALSE(ZSTD_isError(n)) << ZSTD_getErrorName(n);
  ASSERT_EQ(n, payload.size());
  // Same metadata, index and tensors; only the flags (so both CRCs) differ.
  EXPECT_TRUE(std::equal(payload.begin(), payload.end() - 4, plain.begin() + 64));
  std::vector<std::byte> image(packed.begin(), packed.begin() + 64);
  image.insert(image.end(), payload.begin(), payload.end());
  EXPECT_EQ(u32_at(image, image.size() - 4), crc32(std::span(image).first(image.size() - 4)));
}

// ---------------------------------------------------------------------------------------------
// Round trips through Model::load

struct RoundTripCase {
  Format format;
  DType dtype;
  Compression compression;
};

void PrintTo(const RoundTripCase& c, std::ostream* out) {
  *out << to_string(c.format) << " " << dtype_name(c.dtype) << " compression "
       << static_cast<int>(c.compression);
}

std::string case_name(const testing::TestParamInfo<RoundTripCase>& info) {
  constexpr std::array kCompression = {"", "_lz4", "_zstd"};
  return fmt::format("{}_{}{}", to_string(info.param.format), dtype_name(info.param.dtype),
                     kCompression[static_cast<std::size_t>(info.param.compression)]);
}

std::vector<RoundTripCase> round_trip_cases() {
  std::vector<RoundTripCase> cases;
  for (Format format : {Format::safetensors, Format::gguf, Format::apr}) {
    for (DType dtype : {DType::F32, DType::BF16, DType::F16, DType::I8, DType::Q8_0, DType::Q4_K, DType::Q6_K,
                        DType::APR_Q4, DType::APR_Q8}) {
      if (!format_supports_dtype(format, dtype)) continue;
      cases.push_back({format, dtype, Compression::none});
      if (format == Format::apr) {
        cases.push_back({format, dtype, Compression::lz4});
        cases.push_back({format, dtype, Compression::zstd});
      }
    }
  }
  return cases;
}

class GenRoundTrip : public testing::TestWithParam<RoundTripCase> {};

void expect_model_matches_plan(const Model& model, const GenOptions& options,
                               const std::vector<TensorSpec>& plan) {
  ASSERT_EQ(model.tensors().size(), plan.size());
  for (const TensorSpec& spec : plan) {
    auto info = model.tensor(spec.name);
    ASSERT_TRUE(info) << spec.name << ": " << info.error().to_string();
    EXPECT_EQ(info->dtype, spec.dtype) << spec.name;
    EXPECT_EQ(info->shape, spec.shape) << spec.name;
    EXPECT_EQ(info->size, spec.size) << spec.name;
    auto bytes = model.tensor_bytes(spec.name);
    ASSERT_TRUE(bytes) << spec.name;
    const auto expected = expected_bytes(options.seed, spec.name, spec.dtype, spec.size);
    ASSERT_EQ(bytes->size(), expected.size()) << spec.name;
    EXPECT_TRUE(std::equal(bytes->begin(), bytes->end(), expected.begin())) << spec.name << " content";
  }
}

TEST_P(GenRoundTrip, LoadsBackWithPlannedTensorsAndExactBytes) {
  const RoundTripCase c = GetParam();
  TempDir dir;
  const auto path = dir.file("model." + std::string(to_string(c.format)));
  const GenOptions options = small_options(c.format, c.dtype, c.compression);
  auto plan = plan_tensors(options);
  ASSERT_TRUE(plan);
  auto report = generate(path, options);
  ASSERT_TRUE(report) << report.error().to_string();
  EXPECT_EQ(report->tensor_count, options.tensor_count);
  EXPECT_EQ(report->tensor_bytes, total_bytes(*plan));
  EXPECT_EQ(report->file_bytes, std::filesystem::file_size(path));

  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_EQ(model->format(), c.format);
  expect_model_matches_plan(*model, options, *plan);

  if (c.format == Format::apr) {
    auto checked = Model::load(path, ModelOptions{.verify_checksum = true});
    ASSERT_TRUE(checked) << checked.error().to_string();
  }
}

INSTANTIATE_TEST_SUITE_P(GenFormats, GenRoundTrip, testing::ValuesIn(round_trip_cases()), case_name);

TEST(GenRoundTripCount, ExactTensorCountSurvivesLoading) {
  for (Format format : {Format::safetensors, Format::gguf, Format::apr}) {
    for (std::uint32_t count : {1U, 2U, 7U, 37U}) {
      TempDir dir;
      GenOptions options = small_options(format, DType::F16);
      options.tensor_count = count;
      options.target_bytes = std::uint64_t{1} << 20;
      const auto path = dir.file("m");
      ASSERT_TRUE(generate(path, options));
      auto model = Model::load(path);
      ASSERT_TRUE(model) << model.error().to_string();
      EXPECT_EQ(model->tensors().size(), count) << to_string(format);
    }
  }
}

TEST(GenMetadata, RecordsGeneratorAndSeedInEveryFormat) {
  for (Format format : {Format::safetensors, Format::gguf, Format::apr}) {
    TempDir dir;
    const GenOptions options = small_options(format, DType::F16);
    ASSERT_TRUE(generate(dir.file("m"), options));
    auto model = Model::load(dir.file("m"));
    ASSERT_TRUE(model) << model.error().to_string();
    const auto meta = to_json(model->metadata());
    const auto generator = meta.find("generator");
    ASSERT_NE(generator, meta.end()) << to_string(format) << ": " << dump_json(meta);
    EXPECT_EQ(*generator, "ringload gen");
    const auto seed = meta.find("seed");
    ASSERT_NE(seed, meta.end());
    EXPECT_EQ(*seed, "1234");
    if (format == Format::gguf) {
      EXPECT_EQ(meta.value("general.architecture", ""), "llama");
      EXPECT_EQ(meta.value("general.alignment", 0U), 32U);
      EXPECT_EQ(model->alignment(), 32U);
    }
    if (format == Format::apr) {
      EXPECT_EQ(meta.begin().key(), "model_type");
    }
  }
}

TEST(GenDeterminism, SameSeedGivesIdenticalFilesAndAnotherSeedDoesNot) {
  for (const auto& c : {RoundTripCase{Format::safetensors, DType::BF16, Compression::none},
                        RoundTripCase{Format::gguf, DType::Q4_K, Compression::none},
                        RoundTripCase{Format::apr, DType::APR_Q8, Compression::none},
                        RoundTripCase{Format::apr, DType::F16, Compression::zstd}}) {
    TempDir dir;
    GenOptions options = small_options(c.format, c.dtype, c.compression);
    ASSERT_TRUE(generate(dir.file("a"), options));
    ASSERT_TRUE(generate(dir.file("b"), options));
    options.seed += 1;
    ASSERT_TRUE(generate(dir.file("c"), options));
    const auto a = read_all(dir.file("a"));
    EXPECT_EQ(a, read_all(dir.file("b"))) << to_string(c.format);
    EXPECT_NE(a, read_all(dir.file("c"))) << to_string(c.format);
  }
}

TEST(GenWrite, UnsupportedDtypeIsRejectedAndNoFileIsLeft) {
  TempDir dir;
  auto report = generate(dir.file("m.safetensors"), small_options(Format::safetensors, DType::Q4_K));
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(report.error().message.find("Q4_K"), std::string::npos);
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(GenWrite, RejectsSpecWhoseSizeDisagreesWithShape) {
  TempDir dir;
  std::vector<TensorSpec> tensors{{"w", DType::F32, {4, 4}, 60}};
  GenOptions options;
  options.format = Format::apr;
  auto report = write_model(dir.file("m.apr"), options, tensors);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::invalid_argument);
  EXPECT_EQ(report.error().tensor, "w");
}

TEST(GenWrite, RejectsGgufRowThatIsNotWholeBlocks) {
  TempDir dir;
  std::vector<TensorSpec> tensors{{"w", DType::Q4_K, {128, 4}, 288}};  // 512 elements, rows of 128
  GenOptions options;
  options.format = Format::gguf;
  auto report = write_model(dir.file("m.gguf"), options, tensors);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::invalid_argument);
  EXPECT_EQ(report.error().tensor, "w");
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(GenWrite, Lz4RejectsAPayloadOverOneLz4BlockBeforeWriting) {
  TempDir dir;
  GenOptions options = small_options(Format::apr, DType::F16, Compression::lz4);
  options.target_bytes = std::uint64_t{3} << 30;
  auto report = generate(dir.file("m.apr"), options);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(report.error().message.find("zstd"), std::string::npos) << "names the way out";
  EXPECT_TRUE(std::filesystem::is_empty(dir.path()));
}

TEST(GenWrite, ReportsProgressUpToTheTotal) {
  TempDir dir;
  GenOptions options = small_options(Format::gguf, DType::F32);
  options.target_bytes = std::uint64_t{40} << 20;
  std::uint64_t calls = 0;
  std::uint64_t last_done = 0;
  std::uint64_t last_total = 0;
  options.progress = [&](std::uint64_t done, std::uint64_t total) {
    EXPECT_GE(done, last_done);
    ++calls;
    last_done = done;
    last_total = total;
  };
  auto report = generate(dir.file("m.gguf"), options);
  ASSERT_TRUE(report);
  EXPECT_GE(calls, 2U);
  EXPECT_EQ(last_done, last_total);
  EXPECT_EQ(last_total, report->file_bytes);
}

}  // namespace
}  // namespace ringload::gen
