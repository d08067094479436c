#include "format/apr_v2.hpp"

#include <gtest/gtest.h>
#include <zstd.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <initializer_list>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include "base/crc32.hpp"
#include "base/json.hpp"
#include "codec/codec.hpp"
#include "format/table.hpp"
#include "ringload/model.hpp"
#include "support/build_bytes.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using Bytes = std::vector<std::byte>;
using test::ByteBuilder;

constexpr std::uint16_t kLz4Flag = 0x0001;
constexpr std::uint16_t kZstdFlag = 0x0002;
constexpr std::uint16_t kRowMajorFlag = 0x0400;
constexpr std::uint64_t kU64Max = std::numeric_limits<std::uint64_t>::max();

// ---- A small APR v2 writer (APR_V2.md §12 writer recipe) ----

struct TensorSpec {
  std::string name;
  std::uint8_t dtype_code = 0;
  std::vector<std::uint64_t> dims;
  Bytes data;
  std::optional<std::uint64_t> offset;  // index value instead of the real (running) offset
  std::optional<std::uint64_t> size;    // index value instead of data.size()
};

struct AprSpec {
  std::string magic = std::string("APR\0", 4);
  std::uint8_t version_major = 2;
  std::uint16_t flags = kRowMajorFlag;
  std::string metadata = R"({"model_type":"test"})";
  std::vector<TensorSpec> tensors;
  bool sort_index = true;  // false: keep the given order (to write an unsorted index)
};

TensorSpec tensor(std::string name, std::uint8_t dtype_code, std::vector<std::uint64_t> dims, Bytes data) {
  TensorSpec t;
  t.name = std::move(name);
  t.dtype_code = dtype_code;
  t.dims = std::move(dims);
  t.data = std::move(data);
  return t;
}

std::uint64_t align64(std::uint64_t x) { return (x + 63) & ~std::uint64_t{63}; }

void put_u32(Bytes& b, std::size_t at, std::uint32_t v) { std::memcpy(b.data() + at, &v, 4); }
void put_u64(Bytes& b, std::size_t at, std::uint64_t v) { std::memcpy(b.data() + at, &v, 8); }
std::uint32_t get_u32(const Bytes& b, std::size_t at) {
  std::uint32_t v = 0;
  std::memcpy(&v, b.data() + at, 4);
  return v;
}

// Header CRC: bytes [0,40) ‖ [44,64), stored at 40.
void restamp_header_crc(Bytes& b) {
  const std::span<const std::byte> all(b);
  put_u32(b, 40, crc32_update(crc32(all.first(40)), all.subspan(44, 20)));
}
// Footer CRC: the last 4 bytes are the CRC-32 of every byte before them.
void restamp_footer(Bytes& b) {
  put_u32(b, b.size() - 4, crc32(std::span<const std::byte>(b).first(b.size() - 4)));
}

Bytes write_apr(AprSpec spec) {
  if (spec.sort_index) {
    std::stable_sort(spec.tensors.begin(), spec.tensors.end(),
                     [](const TensorSpec& a, const TensorSpec& b) { return a.name < b.name; });
  }
  ByteBuilder index;
  ByteBuilder data;
  for (const TensorSpec& t : spec.tensors) {
    index.u16(static_cast<std::uint16_t>(t.name.size())).str(t.name).u8(t.dtype_code);
    index.u8(static_cast<std::uint8_t>(t.dims.size()));
    for (std::uint64_t d : t.dims) index.u64(d);
    index.u64(t.offset.value_or(data.size())).u64(t.size.value_or(t.data.size()));
    data.append(t.data).pad_to(64);
  }
  const std::uint64_t index_at = 64 + align64(spec.metadata.size());
  const std::uint64_t data_at = index_at + align64(index.size());
  ByteBuilder file;
  file.str(spec.magic).u8(spec.version_major).u8(0).u16(spec.flags);
  file.u32(static_cast<std::uint32_t>(spec.tensors.size())).u64(64);
  file.u32(static_cast<std::uint32_t>(spec.metadata.size())).u64(index_at).u64(data_at);
  file.u32(0).zeros(20);
  file.str(spec.metadata).pad_to(64).append(index.bytes()).pad_to(64).append(data.bytes());
  file.u32(0);
  Bytes bytes = file.take();
  restamp_header_crc(bytes);
  restamp_footer(bytes);
  return bytes;
}

Bytes f32_bytes(std::initializer_list<float> values) {
  ByteBuilder b;
  for (float v : values) b.f32(v);
  return b.take();
}

// Position-encoded fill: byte i of tensor `seed` is distinct from its neighbours' bytes.
Bytes pattern(std::size_t n, std::uint8_t seed) {
  Bytes out(n);
  for (std::size_t i = 0; i < n; ++i) out[i] = static_cast<std::byte>(i * 7 + seed * 13 + i / 256);
  return out;
}

// ---- The worked example of APR_V2.md §15 and its byte positions ----

constexpr char kGoldenMetadata[] =
    R"({"model_type":"linear_regression","name":"golden-v2","license":null,"data_source":null,)"
    R"("data_license":null,"version":"0.0.0-golden","created_at":"1700000000","total_size":0,"param_count":8})";

AprSpec golden_spec() {
  AprSpec spec;
  spec.metadata = kGoldenMetadata;
  spec.tensors.push_back(tensor("weights", 0, {8}, f32_bytes({1, 2, 0.5, -0.5, 4, -2, 0.25, 8})));
  spec.tensors.push_back(tensor("bias", 0, {1}, f32_bytes({0.125})));
  return spec;
}

Bytes golden() { return write_apr(golden_spec()); }

constexpr std::uint64_t kGoldenBiasEntry = 0x100;     // 32 bytes: L=4
constexpr std::uint64_t kGoldenWeightsEntry = 0x120;  // 35 bytes: L=7
constexpr std::uint64_t kGoldenWeightsOffsetField = kGoldenWeightsEntry + 2 + 7 + 1 + 1 + 8;
constexpr std::uint64_t kGoldenDataOffset = 0x180;
constexpr std::uint64_t kGoldenBiasData = 0x180;
constexpr std::uint64_t kGoldenWeightsData = 0x1c0;
constexpr std::uint64_t kGoldenLength = 516;

// A file with one tensor "t"; its entry starts at 128 (the 21-byte metadata pads to 64).
constexpr std::uint64_t kOneEntry = 128;
constexpr std::uint64_t kOneDtypeField = kOneEntry + 3;
constexpr std::uint64_t kOneDimsField = kOneEntry + 5;

Bytes one_tensor(std::uint8_t dtype_code, std::vector<std::uint64_t> dims, std::size_t size) {
  AprSpec spec;
  spec.tensors.push_back(tensor("t", dtype_code, std::move(dims), pattern(size, 1)));
  return write_apr(spec);
}

// ---- Assertions ----

void expect_error(const Result<TensorTable>& r, ErrorKind kind, std::uint64_t offset,
                  const std::string& tensor = "") {
  ASSERT_FALSE(r) << "parsed, expected " << to_string(kind);
  EXPECT_EQ(r.error().kind, kind) << r.error().to_string();
  EXPECT_EQ(r.error().offset, offset) << r.error().to_string();
  EXPECT_EQ(r.error().tensor, tensor) << r.error().to_string();
}

Result<TensorTable> parse(const Bytes& bytes, bool verify = true) {
  return parse_apr_v2(bytes, ParseOptions{.verify_checksum = verify});
}

std::span<const std::byte> slice(const Bytes& b, std::uint64_t at, std::uint64_t n) {
  return std::span<const std::byte>(b).subspan(at, n);
}

bool same_bytes(std::span<const std::byte> a, std::span<const std::byte> b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin());
}

Bytes cut(Bytes b, std::size_t n) {
  b.resize(n);
  return b;
}

// ---- Valid files ----

TEST(AprV2Writer, WorkedExampleMatchesSpecBytes) {
  const Bytes b = golden();
  ASSERT_EQ(b.size(), kGoldenLength);
  const std::uint8_t head[48] = {0x41, 0x50, 0x52, 0x00, 0x02, 0x00, 0x00, 0x04, 0x02, 0x00, 0x00, 0x00,
                                 0x40, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0xbd, 0x00, 0x00, 0x00,
                                 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x80, 0x01, 0x00, 0x00,
                                 0x00, 0x00, 0x00, 0x00, 0x02, 0x8c, 0xc0, 0x3b, 0x00, 0x00, 0x00, 0x00};
  EXPECT_EQ(std::memcmp(b.data(), head, sizeof head), 0);
  EXPECT_EQ(get_u32(b, 40), 0x3bc08c02u);
  EXPECT_EQ(get_u32(b, 512), 0x550f3f35u);
  const std::uint8_t bias_entry[] = {0x04, 0x00, 'b', 'i', 'a', 's', 0x00, 0x01, 0x01};
  EXPECT_EQ(std::memcmp(b.data() + kGoldenBiasEntry, bias_entry, sizeof bias_entry), 0);
  const std::uint8_t weights_entry[] = {0x07, 0x00, 'w', 'e', 'i', 'g', 'h', 't', 's', 0x00, 0x01, 0x08};
  EXPECT_EQ(std::memcmp(b.data() + kGoldenWeightsEntry, weights_entry, sizeof weights_entry), 0);
  const std::uint8_t bias_data[] = {0x00, 0x00, 0x00, 0x3e};
  EXPECT_EQ(std::memcmp(b.data() + kGoldenBiasData, bias_data, sizeof bias_data), 0);
}

TEST(AprV2Parse, WorkedExampleGivesTableSortedByOffset) {
  const Bytes b = golden();
  auto r = parse(b);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->format, Format::apr);
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(r->data_offset, kGoldenDataOffset);
  EXPECT_EQ(r->alignment, 64u);
  ASSERT_EQ(r->tensors.size(), 2u);
  const TensorInfo& bias = r->tensors[0];
  EXPECT_EQ(bias.name, "bias");
  EXPECT_EQ(bias.dtype, DType::F32);
  EXPECT_EQ(bias.shape, (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(bias.offset, kGoldenBiasData);
  EXPECT_EQ(bias.size, 4u);
  const TensorInfo& weights = r->tensors[1];
  EXPECT_EQ(weights.name, "weights");
  EXPECT_EQ(weights.dtype, DType::F32);
  EXPECT_EQ(weights.shape, (std::vector<std::uint64_t>{8}));
  EXPECT_EQ(weights.offset, kGoldenWeightsData);
  EXPECT_EQ(weights.size, 32u);
  // Key order and values survive: the metadata dumps back to the bytes in the file.
  EXPECT_EQ(dump_json(to_json(r->metadata)), kGoldenMetadata);
  // JSON integers are unsigned unless negative; null stays null.
  ASSERT_NE(r->metadata.find("param_count"), nullptr);
  EXPECT_EQ(*r->metadata.find("param_count"), MetadataValue(std::uint64_t{8}));
  ASSERT_NE(r->metadata.find("license"), nullptr);
  EXPECT_TRUE(r->metadata.find("license")->is_null());
}

TEST(AprV2Parse, AcceptsLegacyApr2Magic) {
  AprSpec spec = golden_spec();
  spec.magic = "APR2";
  const Bytes b = write_apr(spec);
  auto r = parse(b);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->tensors.size(), 2u);
  auto model = Model::from_bytes(b, "legacy.apr", ModelOptions{.verify_checksum = true});
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_EQ(model->format(), Format::apr);
}

TEST(AprV2Parse, EmptyMetadataGivesEmptyObject) {
  AprSpec spec = golden_spec();
  spec.metadata = "";
  auto r = parse(write_apr(spec));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->metadata.is_object());
  EXPECT_TRUE(r->metadata.empty());
}

TEST(AprV2Parse, RepeatedMetadataKeyLastOneWinsAsInAprender) {
  AprSpec spec = golden_spec();
  spec.metadata = R"({"model_type":"a","name":"x","model_type":"b"})";
  auto r = parse(write_apr(spec));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(dump_json(to_json(r->metadata)), R"({"model_type":"b","name":"x"})");
}

TEST(AprV2Parse, AcceptsFileWithoutTensors) {
  auto r = parse(write_apr(AprSpec{}));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->tensors.empty());
  EXPECT_EQ(dump_json(to_json(r->metadata)), R"({"model_type":"test"})");
}

TEST(AprV2Parse, AcceptsScalarAndEmptyTensors) {
  AprSpec spec;
  spec.tensors.push_back(tensor("empty", 0, {0, 5}, {}));
  spec.tensors.push_back(tensor("scalar", 0, {}, f32_bytes({3.5})));
  auto r = parse(write_apr(spec));
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "empty");
  EXPECT_EQ(r->tensors[0].size, 0u);
  EXPECT_EQ(r->tensors[1].name, "scalar");
  EXPECT_TRUE(r->tensors[1].shape.empty());
}

TEST(AprV2Parse, SortsByOffsetWhenDataIsInInsertionOrder) {
  // The streaming writer sorts the index by name but lays data out in insertion order.
  AprSpec spec;
  spec.tensors.push_back(tensor("a", 7, {64}, pattern(64, 1)));
  spec.tensors.back().offset = 64;
  spec.tensors.push_back(tensor("b", 7, {64}, pattern(64, 2)));
  spec.tensors.back().offset = 0;
  auto r = parse(write_apr(spec));
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "b");
  EXPECT_EQ(r->tensors[1].name, "a");
  EXPECT_EQ(r->tensors[1].offset, r->tensors[0].offset + 64);
}

TEST(AprV2Parse, AcceptsIndexSortedByUnsignedBytes) {
  // Byte-wise order: 0xC3 (the first byte of "é") sorts after 'z', not before 'a'.
  AprSpec spec;
  spec.tensors.push_back(tensor("z", 7, {1}, pattern(1, 1)));
  spec.tensors.push_back(tensor("\xc3\xa9", 7, {1}, pattern(1, 2)));
  spec.sort_index = false;
  auto r = parse(write_apr(spec));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->tensors[1].name, "\xc3\xa9");
}

TEST(AprV2Parse, IgnoresInformationalFlags) {
  AprSpec spec = golden_spec();
  spec.flags = 0x0400 | 0x0200 | 0x0100 | 0x0080 | 0x0040 | 0x0020 | 0x0010 | 0x0008;
  auto r = parse(write_apr(spec));
  ASSERT_TRUE(r) << r.error().to_string();
}

TEST(AprV2Parse, AcceptsBadFooterCrcWhenNotVerifying) {
  Bytes b = golden();
  b[kGoldenLength - 1] ^= std::byte{0xff};
  auto r = parse(b, /*verify=*/false);
  ASSERT_TRUE(r) << r.error().to_string();
}

TEST(AprV2Parse, AcceptsMissingFooterWhenNotVerifying) {
  auto r = parse(cut(golden(), kGoldenWeightsData + 32), /*verify=*/false);
  ASSERT_TRUE(r) << r.error().to_string();
}

// ---- Model over APR v2 ----

TEST(AprV2Model, FromBytesServesByteExactTensors) {
  const Bytes b = golden();
  auto model = Model::from_bytes(b, "golden.apr", ModelOptions{.verify_checksum = true});
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_FALSE(model->is_mmap());
  EXPECT_EQ(model->tensor_names(), (std::vector<std::string>{"bias", "weights"}));
  auto weights = model->tensor_bytes("weights");
  ASSERT_TRUE(weights);
  EXPECT_TRUE(same_bytes(*weights, f32_bytes({1, 2, 0.5, -0.5, 4, -2, 0.25, 8})));
  auto bias = model->tensor_bytes("bias");
  ASSERT_TRUE(bias);
  EXPECT_TRUE(same_bytes(*bias, f32_bytes({0.125})));
}

TEST(AprV2Model, LoadMapsUncompressedFile) {
  test::TempDir tmp;
  const Bytes b = golden();
  auto model =
      Model::load(test::write_file(tmp.file("golden.apr"), b), ModelOptions{.verify_checksum = true});
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_TRUE(model->is_mmap());
  EXPECT_EQ(model->file_size(), kGoldenLength);
  auto weights = model->tensor_bytes("weights");
  ASSERT_TRUE(weights);
  EXPECT_TRUE(same_bytes(*weights, slice(b, kGoldenWeightsData, 32)));
}

// ---- Compressed files: raw header ‖ one compressed stream of the rest of the image ----

AprSpec compressible_spec(std::uint16_t compression_flags) {
  AprSpec spec;
  spec.flags = kRowMajorFlag | compression_flags;
  spec.metadata = R"({"model_type":"compressed","param_count":3100})";
  spec.tensors.push_back(tensor("embed", 7, {30, 100}, pattern(3000, 3)));
  spec.tensors.push_back(tensor("norm", 30, {50}, pattern(100, 4)));
  spec.tensors.push_back(tensor("zeros", 0, {1000}, Bytes(4000)));
  return spec;
}

Bytes compress_lz4(const Bytes& image) {
  auto payload = lz4_compress_size_prepended(slice(image, 64, image.size() - 64));
  EXPECT_TRUE(payload);
  ByteBuilder file;
  file.raw(image.data(), 64).append(*payload);
  return file.take();
}

Bytes zstd_frame(std::span<const std::byte> input) {
  Bytes out(ZSTD_compressBound(input.size()));
  const std::size_t n = ZSTD_compress(out.data(), out.size(), input.data(), input.size(), 3);
  EXPECT_FALSE(ZSTD_isError(n));
  out.resize(n);
  return out;
}

// `frames` > 1 splits the payload into that many concatenated frames.
Bytes compress_zstd(const Bytes& image, std::size_t frames = 1) {
  ByteBuilder file;
  file.raw(image.data(), 64);
  const std::size_t payload = image.size() - 64;
  for (std::size_t i = 0; i < frames; ++i) {
    const std::size_t from = 64 + payload * i / frames;
    const std::size_t to = 64 + payload * (i + 1) / frames;
    file.append(zstd_frame(slice(image, from, to - from)));
  }
  return file.take();
}

void expect_same_tensors(const Model& model, const Bytes& image) {
  auto table = parse(image);
  ASSERT_TRUE(table) << table.error().to_string();
  ASSERT_EQ(model.tensors().size(), table->tensors.size());
  for (const TensorInfo& t : table->tensors) {
    auto got = model.tensor_bytes(t.name);
    ASSERT_TRUE(got) << t.name;
    EXPECT_TRUE(same_bytes(*got, slice(image, t.offset, t.size))) << t.name;
  }
  EXPECT_TRUE(same_bytes(model.image(), image));
}

TEST(AprV2Compressed, Lz4FileLoadsFromBytes) {
  const Bytes image = write_apr(compressible_spec(kLz4Flag));
  const Bytes file = compress_lz4(image);
  ASSERT_LT(file.size(), image.size());
  auto model = Model::from_bytes(file, "lz4.apr", ModelOptions{.verify_checksum = true});
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_FALSE(model->is_mmap());
  EXPECT_EQ(model->file_size(), file.size());
  EXPECT_EQ(dump_json(to_json(model->metadata())), R"({"model_type":"compressed","param_count":3100})");
  expect_same_tensors(*model, image);
}

TEST(AprV2Compressed, Lz4FileLoadsFromDisk) {
  test::TempDir tmp;
  const Bytes image = write_apr(compressible_spec(kLz4Flag));
  auto model = Model::load(test::write_file(tmp.file("lz4.apr"), compress_lz4(image)),
                           ModelOptions{.verify_checksum = true});
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_FALSE(model->is_mmap());
  expect_same_tensors(*model, image);
}

TEST(AprV2Compressed, ZstdFileLoadsFromBytes) {
  const Bytes image = write_apr(compressible_spec(kZstdFlag));
  const Bytes file = compress_zstd(image);
  ASSERT_LT(file.size(), image.size());
  auto model = Model::from_bytes(file, "zstd.apr", ModelOptions{.verify_checksum = true});
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_FALSE(model->is_mmap());
  expect_same_tensors(*model, image);
}

TEST(AprV2Compressed, ZstdFileLoadsFromDisk) {
  test::TempDir tmp;
  const Bytes image = write_apr(compressible_spec(kZstdFlag));
  auto model = Model::load(test::write_file(tmp.file("zstd.apr"), compress_zstd(image)),
                           ModelOptions{.verify_checksum = true});
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_FALSE(model->is_mmap());
  expect_same_tensors(*model, image);
}

TEST(AprV2Compressed, ZstdPayloadMayBeConcatenatedFrames) {
  const Bytes image = write_apr(compressible_spec(kZstdFlag));
  auto model =
      Model::from_bytes(compress_zstd(image, 3), "frames.apr", ModelOptions{.verify_checksum = true});
  ASSERT_TRUE(model) << model.error().to_string();
  expect_same_tensors(*model, image);
}

TEST(AprV2Compressed, Lz4WinsWhenBothBitsAreSet) {
  const Bytes image = write_apr(compressible_spec(kLz4Flag | kZstdFlag));
  auto model = Model::from_bytes(compress_lz4(image), "both.apr");
  ASSERT_TRUE(model) << model.error().to_string();
  expect_same_tensors(*model, image);
}

TEST(AprV2Compressed, DecompressedImageIsHeaderThenPayload) {
  const Bytes image = write_apr(compressible_spec(kZstdFlag));
  auto decoded = apr_decompressed_image(compress_zstd(image));
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  ASSERT_TRUE(decoded->has_value());
  EXPECT_EQ(**decoded, image);
  EXPECT_TRUE(apr_is_compressed(image));
  EXPECT_FALSE(apr_is_compressed(golden()));
  EXPECT_FALSE(apr_is_compressed(slice(image, 0, 7)));
}

TEST(AprV2Compressed, UncompressedFileHasNoDecompressedImage) {
  auto decoded = apr_decompressed_image(golden());
  ASSERT_TRUE(decoded) << decoded.error().to_string();
  EXPECT_FALSE(decoded->has_value());
}

TEST(AprV2Compressed, RejectsCorruptLz4Payload) {
  Bytes file = compress_lz4(write_apr(compressible_spec(kLz4Flag)));
  // A size prefix far beyond what the block can produce.
  put_u32(file, 64, 0x10000000);
  auto model = Model::from_bytes(file, "bad-lz4.apr");
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::decompression);
  EXPECT_EQ(model.error().offset, 64u);
  EXPECT_EQ(model.error().path, "bad-lz4.apr");
}

TEST(AprV2Compressed, RejectsLz4PayloadEndingEarly) {
  Bytes file = compress_lz4(write_apr(compressible_spec(kLz4Flag)));
  file.resize(file.size() - 10);
  test::TempDir tmp;
  auto model = Model::load(test::write_file(tmp.file("short-lz4.apr"), file));
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::decompression);
}

TEST(AprV2Compressed, RejectsCorruptZstdPayload) {
  Bytes file = compress_zstd(write_apr(compressible_spec(kZstdFlag)));
  file[64] ^= std::byte{0xff};  // the frame magic
  auto model = Model::from_bytes(file, "bad-zstd.apr");
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::decompression);
  EXPECT_EQ(model.error().offset, 64u);
}

TEST(AprV2Compressed, RejectsTruncatedZstdPayload) {
  Bytes file = compress_zstd(write_apr(compressible_spec(kZstdFlag)));
  file.resize(file.size() - 5);
  test::TempDir tmp;
  auto model = Model::load(test::write_file(tmp.file("short-zstd.apr"), file));
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::decompression);
  EXPECT_EQ(model.error().offset, file.size());
}

TEST(AprV2Compressed, RejectsBadHeaderCrcBeforeDecompressing) {
  Bytes file = compress_zstd(write_apr(compressible_spec(kZstdFlag)));
  file[50] = std::byte{1};  // reserved byte, covered by the header CRC
  auto decoded = apr_decompressed_image(file);
  ASSERT_FALSE(decoded);
  EXPECT_EQ(decoded.error().kind, ErrorKind::checksum_mismatch);
  EXPECT_EQ(decoded.error().offset, 40u);
}

TEST(AprV2Compressed, ChecksFooterInsideDecompressedImage) {
  Bytes image = write_apr(compressible_spec(kZstdFlag));
  image.back() ^= std::byte{0x01};
  const Bytes file = compress_zstd(image);
  auto model = Model::from_bytes(file, "footer.apr", ModelOptions{.verify_checksum = true});
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::checksum_mismatch);
  EXPECT_EQ(model.error().offset, image.size() - 4);
  EXPECT_TRUE(Model::from_bytes(file, "footer.apr"));  // not verifying: accepted
}

// ---- dtype codes (APR_V2.md §8) ----

struct DTypeCase {
  std::uint8_t code;
  std::uint64_t elements;
  std::size_t size;
  DType expected;
};

void expect_dtype(const DTypeCase& c) {
  auto r = parse(one_tensor(c.code, {c.elements}, c.size));
  ASSERT_TRUE(r) << "code " << int(c.code) << " size " << c.size << ": " << r.error().to_string();
  ASSERT_EQ(r->tensors.size(), 1u);
  EXPECT_EQ(r->tensors[0].dtype, c.expected)
      << "code " << int(c.code) << " size " << c.size << " gave " << dtype_name(r->tensors[0].dtype);
}

TEST(AprV2Dtype, CurrentCodesMapToTheirTypes) {
  const DTypeCase cases[] = {
      {0, 10, 40, DType::F32},      {1, 10, 20, DType::F16},     {30, 10, 20, DType::BF16},
      {3, 10, 80, DType::F64},      {4, 10, 40, DType::I32},     {5, 10, 80, DType::I64},
      {6, 10, 10, DType::I8},       {7, 10, 10, DType::U8},      {128, 40, 36, DType::APR_Q4},
      {129, 10, 14, DType::APR_Q8}, {129, 0, 0, DType::APR_Q8},  {12, 256, 144, DType::Q4_K},
      {12, 300, 288, DType::Q4_K},  {14, 256, 210, DType::Q6_K}, {10, 256, 84, DType::Q2_K},
      {11, 256, 110, DType::Q3_K},  {13, 256, 176, DType::Q5_K}, {16, 256, 66, DType::IQ2_XXS},
      {17, 256, 74, DType::IQ2_XS},
  };
  for (const DTypeCase& c : cases) expect_dtype(c);
}

TEST(AprV2Dtype, LegacyCodesAreResolvedBySize) {
  const DTypeCase cases[] = {
      {2, 64, 128, DType::BF16}, {2, 64, 36, DType::Q4_0},   {8, 64, 36, DType::APR_Q4},
      {8, 64, 68, DType::Q8_0},  {9, 64, 68, DType::APR_Q8}, {9, 64, 72, DType::Q8_1},
      {3, 64, 512, DType::F64},  {3, 64, 40, DType::Q4_1},   {6, 64, 64, DType::I8},
      {6, 64, 44, DType::Q5_0},  {7, 64, 64, DType::U8},     {7, 64, 48, DType::Q5_1},
  };
  for (const DTypeCase& c : cases) expect_dtype(c);
}

TEST(AprV2Dtype, LegacyCodePrefersAprMeaningWhenBothSizesMatch) {
  expect_dtype({2, 0, 0, DType::BF16});  // an empty tensor is 0 bytes either way
  expect_dtype({8, 0, 0, DType::APR_Q4});
}

TEST(AprV2Dtype, RejectsLegacyCodeWhoseSizeFitsNeitherMeaning) {
  expect_error(parse(one_tensor(2, {64}, 100)), ErrorKind::unknown_dtype, kOneDtypeField, "t");
}

TEST(AprV2Dtype, RejectsUnknownCodeInsteadOfGuessingF32) {
  expect_error(parse(one_tensor(15, {4}, 16)), ErrorKind::unknown_dtype, kOneDtypeField, "t");
}

// ---- One defective file per rule ----

TEST(AprV2Defect, RejectsBadMagic) {
  AprSpec spec = golden_spec();
  spec.magic = "APRX";
  expect_error(parse(write_apr(spec)), ErrorKind::bad_magic, 0);
}

TEST(AprV2Defect, RejectsVersion1AprZeroAsDifferentFormat) {
  AprSpec spec = golden_spec();
  spec.version_major = 1;
  const Bytes b = write_apr(spec);
  expect_error(parse(b), ErrorKind::unsupported_version, 4);
  auto model = Model::from_bytes(b, "v1.apr");
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::unsupported_version);
}

TEST(AprV2Defect, RejectsVersion3) {
  AprSpec spec = golden_spec();
  spec.version_major = 3;
  expect_error(parse(write_apr(spec)), ErrorKind::unsupported_version, 4);
}

TEST(AprV2Defect, RejectsBadHeaderCrc) {
  Bytes b = golden();
  b[60] = std::byte{1};  // a reserved byte: covered by the CRC
  expect_error(parse(b), ErrorKind::checksum_mismatch, 40);
}

TEST(AprV2Defect, RejectsEncryptedFlag) {
  AprSpec spec = golden_spec();
  spec.flags |= 0x0004;
  expect_error(parse(write_apr(spec)), ErrorKind::unsupported_feature, 6);
}

TEST(AprV2Defect, RejectsColumnMajorFlag) {
  AprSpec spec = golden_spec();
  spec.flags |= 0x0800;
  expect_error(parse(write_apr(spec)), ErrorKind::unsupported_feature, 6);
}

TEST(AprV2Defect, RejectsFileTruncatedInHeader) {
  const Bytes b = cut(golden(), 63);
  expect_error(parse(b), ErrorKind::truncated, 0);
  auto model = Model::from_bytes(b, "short.apr");
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::truncated);
  EXPECT_EQ(model.error().offset, 0u);
}

TEST(AprV2Defect, RejectsFileTruncatedInMetadata) {
  expect_error(parse(cut(golden(), 200)), ErrorKind::truncated, 64);
}

TEST(AprV2Defect, RejectsFileTruncatedInIndex) {
  // The bias entry (0x100..0x120) is whole; the weights entry is cut.
  expect_error(parse(cut(golden(), 0x130)), ErrorKind::truncated, kGoldenWeightsEntry);
}

TEST(AprV2Defect, RejectsTensorCountLargerThanIndex) {
  // 4 billion entries declared, two present: fails at the third without sizing anything by the count.
  Bytes b = cut(golden(), 0x150);
  put_u32(b, 8, 0xffffffffu);
  restamp_header_crc(b);
  expect_error(parse(b, false), ErrorKind::truncated, 0x143);
}

TEST(AprV2Defect, RejectsIndexEntryRunningIntoData) {
  Bytes b = golden();
  put_u64(b, 32, 0x140);  // data_offset inside the weights entry (which ends at 0x143)
  restamp_header_crc(b);
  expect_error(parse(b), ErrorKind::truncated, kGoldenWeightsEntry);
}

TEST(AprV2Defect, RejectsFileTruncatedBeforeData) {
  expect_error(parse(cut(golden(), 0x150), false), ErrorKind::truncated, kGoldenBiasData, "bias");
}

TEST(AprV2Defect, RejectsFileTruncatedInData) {
  test::TempDir tmp;
  const Bytes b = cut(golden(), kGoldenWeightsData + 12);
  expect_error(parse(b, false), ErrorKind::truncated, kGoldenWeightsData, "weights");
  auto model = Model::load(test::write_file(tmp.file("cut.apr"), b));
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::truncated);
  EXPECT_EQ(model.error().offset, kGoldenWeightsData);
  EXPECT_EQ(model.error().tensor, "weights");
}

TEST(AprV2Defect, RejectsUnsortedIndex) {
  AprSpec spec = golden_spec();  // lists weights, then bias
  spec.sort_index = false;
  // weights' entry is 35 bytes, so bias's starts at 0x123.
  expect_error(parse(write_apr(spec)), ErrorKind::unsorted_index, 0x123, "bias");
}

TEST(AprV2Defect, RejectsDuplicateName) {
  AprSpec spec = golden_spec();
  spec.tensors[0].name = "bias";
  expect_error(parse(write_apr(spec)), ErrorKind::duplicate_name, 0x120, "bias");
}

TEST(AprV2Defect, RejectsNameThatIsNotUtf8) {
  AprSpec spec = golden_spec();
  spec.tensors[1].name =
      "b\xff"
      "as";
  expect_error(parse(write_apr(spec)), ErrorKind::invalid_name, kGoldenBiasEntry + 2);
}

TEST(AprV2Defect, RejectsEmptyName) {
  AprSpec spec = golden_spec();
  spec.tensors[1].name = "";
  expect_error(parse(write_apr(spec)), ErrorKind::invalid_name, kGoldenBiasEntry);
}

TEST(AprV2Defect, RejectsMoreThanEightDims) {
  const Bytes b = one_tensor(0, {1, 1, 1, 1, 1, 1, 1, 1, 1}, 4);
  expect_error(parse(b), ErrorKind::invalid_shape, kOneDtypeField + 1, "t");
}

TEST(AprV2Defect, RejectsElementCountOverflow) {
  const Bytes b = one_tensor(0, {std::uint64_t{1} << 32, std::uint64_t{1} << 32}, 4);
  expect_error(parse(b), ErrorKind::invalid_shape, kOneDimsField, "t");
}

TEST(AprV2Defect, RejectsUnknownDtype) {
  AprSpec spec = golden_spec();
  spec.tensors[1].dtype_code = 99;
  expect_error(parse(write_apr(spec)), ErrorKind::unknown_dtype, kGoldenBiasEntry + 6, "bias");
}

TEST(AprV2Defect, RejectsSizeThatDiffersFromShape) {
  AprSpec spec = golden_spec();
  spec.tensors[1].size = 8;  // bias is F32 [1]: 4 bytes
  expect_error(parse(write_apr(spec)), ErrorKind::size_mismatch, kGoldenBiasData, "bias");
}

TEST(AprV2Defect, RejectsMisalignedTensorOffset) {
  AprSpec spec = golden_spec();
  spec.tensors[0].offset = 32;
  expect_error(parse(write_apr(spec)), ErrorKind::misaligned, kGoldenDataOffset + 32, "weights");
}

TEST(AprV2Defect, RejectsMisalignedDataOffset) {
  Bytes b = golden();
  put_u64(b, 32, kGoldenDataOffset + 16);
  restamp_header_crc(b);
  expect_error(parse(b), ErrorKind::misaligned, 32);
}

TEST(AprV2Defect, RejectsTensorOffsetThatOverflows) {
  AprSpec spec = golden_spec();
  spec.tensors[0].offset = kU64Max - 63;  // a multiple of 64: only the sum is wrong
  expect_error(parse(write_apr(spec)), ErrorKind::overflow, kGoldenWeightsOffsetField, "weights");
}

TEST(AprV2Defect, RejectsTensorSizeThatOverflows) {
  AprSpec spec = golden_spec();
  spec.tensors[0].size = kU64Max - 100;
  expect_error(parse(write_apr(spec)), ErrorKind::overflow, kGoldenWeightsOffsetField, "weights");
}

TEST(AprV2Defect, RejectsOverlappingTensors) {
  AprSpec spec;
  spec.tensors.push_back(tensor("a", 7, {128}, pattern(128, 1)));
  spec.tensors.push_back(tensor("b", 7, {64}, pattern(64, 2)));
  spec.tensors.back().offset = 64;
  const Bytes b = write_apr(spec);
  const std::uint64_t data_offset = 192;  // 21-byte metadata → 128; two 29-byte entries → 192
  expect_error(parse(b), ErrorKind::overlap, data_offset + 64, "b");
}

TEST(AprV2Defect, RejectsMetadataInsideHeader) {
  Bytes b = golden();
  put_u64(b, 12, 32);
  restamp_header_crc(b);
  expect_error(parse(b), ErrorKind::overlap, 12);
}

TEST(AprV2Defect, RejectsIndexInsideMetadata) {
  Bytes b = golden();
  put_u64(b, 24, 0xc0);  // the metadata ends at 64 + 189 = 253
  restamp_header_crc(b);
  expect_error(parse(b), ErrorKind::overlap, 24);
}

TEST(AprV2Defect, RejectsDataSectionBeforeIndex) {
  Bytes b = golden();
  put_u64(b, 32, 0xc0);
  restamp_header_crc(b);
  expect_error(parse(b), ErrorKind::overlap, 32);
}

TEST(AprV2Defect, RejectsMetadataSizePastEndOfFile) {
  Bytes b = golden();
  put_u32(b, 20, 100000);
  restamp_header_crc(b);
  expect_error(parse(b), ErrorKind::truncated, 64);
}

TEST(AprV2Defect, RejectsMetadataThatIsNotAnObject) {
  AprSpec spec = golden_spec();
  spec.metadata = "[1,2,3]";
  expect_error(parse(write_apr(spec)), ErrorKind::malformed_header, 64);
}

TEST(AprV2Defect, RejectsMetadataThatIsNotJson) {
  AprSpec spec = golden_spec();
  spec.metadata = R"({"model_type":})";
  expect_error(parse(write_apr(spec)), ErrorKind::malformed_header, 64 + 14);
}

TEST(AprV2Defect, RejectsBadFooterCrcWhenVerifying) {
  Bytes b = golden();
  b[kGoldenWeightsData] ^= std::byte{0x01};  // a tensor byte; the footer no longer matches
  expect_error(parse(b), ErrorKind::checksum_mismatch, kGoldenLength - 4);
  auto model = Model::from_bytes(b, "crc.apr", ModelOptions{.verify_checksum = true});
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::checksum_mismatch);
  EXPECT_TRUE(Model::from_bytes(b, "crc.apr"));
}

TEST(AprV2Defect, RejectsMissingFooterWhenVerifying) {
  // The last tensor ends exactly at EOF: no 4 bytes are left for a footer.
  expect_error(parse(cut(golden(), kGoldenWeightsData + 32)), ErrorKind::checksum_mismatch,
               kGoldenWeightsData + 32);
}

// ---- Other APR families in the shared fixtures ----

void expect_fixture_rejected(const std::filesystem::path& path, ErrorKind kind, std::uint64_t offset) {
  auto model = Model::load(path);
  ASSERT_FALSE(model) << path;
  EXPECT_EQ(model.error().kind, kind) << model.error().to_string();
  EXPECT_EQ(model.error().offset, offset) << model.error().to_string();
  EXPECT_EQ(model.error().path, path.string());
}

TEST(AprV2Fixture, RejectsRealizarAprnContainer) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "malformed/realizar-mnist_784x2-APRN.apr");
  expect_fixture_rejected(path, ErrorKind::bad_magic, 0);
}

TEST(AprV2Fixture, RejectsPresentarAprnContainer) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "malformed/presentar-aprender-shell-base-APRN.apr");
  expect_fixture_rejected(path, ErrorKind::bad_magic, 0);
}

TEST(AprV2Fixture, RejectsPresentarAprZeroVersion1) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "malformed/presentar-sentiment_mini-APR0v1.apr");
  expect_fixture_rejected(path, ErrorKind::unsupported_version, 4);
}

}  // namespace
}  // namespace ringload
