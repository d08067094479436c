#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iterator>
#include <limits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <gtest/gtest.h>

#include "base/json.hpp"
#include "format/table.hpp"
#include "ringload/model.hpp"
#include "support/build_bytes.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::ByteBuilder;
using Array = MetadataValue::Array;

// GGUF value type ids (GGUF.md §2) and the ggml type ids the tests use (§5).
enum : std::uint32_t {
  kU8 = 0,
  kI8 = 1,
  kU16 = 2,
  kI16 = 3,
  kU32 = 4,
  kI32 = 5,
  kF32v = 6,
  kBool = 7,
  kString = 8,
  kArray = 9,
  kU64 = 10,
  kI64 = 11,
  kF64 = 12,
};
constexpr std::uint32_t kTypeF32 = 0;
constexpr std::uint32_t kTypeQ4_K = 12;

// ---- A tiny GGUF writer that records where each field lands, so tests can assert offsets. ----

class Writer {
 public:
  explicit Writer(std::uint32_t version) : v1_(version == 1) {}
  // A count, string length, array length or dim: u32 in v1, u64 from v2 on.
  Writer& len(std::uint64_t n) {
    if (v1_) {
      b.u32(static_cast<std::uint32_t>(n));
    } else {
      b.u64(n);
    }
    return *this;
  }
  Writer& string(std::string_view s) {
    len(s.size());
    b.str(s);
    return *this;
  }
  [[nodiscard]] std::uint64_t pos() const { return b.size(); }
  ByteBuilder b;

 private:
  bool v1_;
};

using ValueFn = std::function<void(Writer&)>;

struct KvSpec {
  std::string key;
  std::uint32_t type;
  ValueFn value;
};

struct TensorSpec {
  std::string name;
  std::vector<std::uint64_t> ne;
  std::uint32_t type = kTypeF32;
  std::uint64_t offset = 0;
};

struct GgufSpec {
  std::uint32_t version = 3;
  std::optional<std::uint64_t> tensor_count;  // overrides tensors.size()
  std::optional<std::uint64_t> kv_count;      // overrides kvs.size()
  std::vector<KvSpec> kvs;
  std::vector<TensorSpec> tensors;
  std::uint64_t pad_to = 32;     // padding written before the data section
  std::uint64_t data_bytes = 0;  // bytes written after the padding (position-encoded)
};

struct Built {
  std::vector<std::byte> bytes;
  std::vector<std::uint64_t> key_at, kv_type_at, value_at;
  std::vector<std::uint64_t> name_at, n_dims_at, dims_at, ggml_type_at, offset_at;
  std::uint64_t infos_end = 0;
  std::uint64_t data_start = 0;
};

// Byte i of the data section holds (i * 7 + 3) mod 256, so a read from the wrong place shows.
std::uint8_t data_byte(std::uint64_t i) { return static_cast<std::uint8_t>(i * 7 + 3); }

Built build(const GgufSpec& spec) {
  Built out;
  Writer w(spec.version);
  w.b.str("GGUF").u32(spec.version);
  w.len(spec.tensor_count.value_or(spec.tensors.size()));
  w.len(spec.kv_count.value_or(spec.kvs.size()));
  for (const KvSpec& kv : spec.kvs) {
    out.key_at.push_back(w.pos());
    w.string(kv.key);
    out.kv_type_at.push_back(w.pos());
    w.b.u32(kv.type);
    out.value_at.push_back(w.pos());
    kv.value(w);
  }
  for (const TensorSpec& t : spec.tensors) {
    out.name_at.push_back(w.pos());
    w.string(t.name);
    out.n_dims_at.push_back(w.pos());
    w.b.u32(static_cast<std::uint32_t>(t.ne.size()));
    out.dims_at.push_back(w.pos());
    for (std::uint64_t d : t.ne) w.len(d);
    out.ggml_type_at.push_back(w.pos());
    w.b.u32(t.type);
    out.offset_at.push_back(w.pos());
    w.b.u64(t.offset);
  }
  out.infos_end = w.pos();
  if (spec.data_bytes > 0) w.b.pad_to(spec.pad_to);
  out.data_start = (out.infos_end + spec.pad_to - 1) / spec.pad_to * spec.pad_to;
  for (std::uint64_t i = 0; i < spec.data_bytes; ++i) w.b.u8(data_byte(i));
  out.bytes = w.b.take();
  return out;
}

// Value encoders.
ValueFn u32v(std::uint32_t v) {
  return [v](Writer& w) { w.b.u32(v); };
}
ValueFn u64v(std::uint64_t v) {
  return [v](Writer& w) { w.b.u64(v); };
}
ValueFn strv(std::string s) {
  return [s = std::move(s)](Writer& w) { w.string(s); };
}
ValueFn raw_bytes(std::vector<std::uint8_t> bytes) {
  return [bytes = std::move(bytes)](Writer& w) {
    for (auto x : bytes) w.b.u8(x);
  };
}
ValueFn str_array(std::vector<std::string> items) {
  return [items = std::move(items)](Writer& w) {
    w.b.u32(kString);
    w.len(items.size());
    for (const auto& s : items) w.string(s);
  };
}

// A valid v3 file: one string key, tensors "a" F32 [4,2] at 0 and "b" F32 [8] at 32.
GgufSpec valid_spec() {
  GgufSpec spec;
  spec.kvs.push_back({"general.architecture", kString, strv("test")});
  spec.tensors.push_back({"a", {4, 2}, kTypeF32, 0});
  spec.tensors.push_back({"b", {8}, kTypeF32, 32});
  spec.data_bytes = 64;
  return spec;
}

Result<TensorTable> parse(const Built& built) { return parse_gguf(built.bytes); }

void expect_error(const Result<TensorTable>& r, ErrorKind kind, std::uint64_t offset) {
  ASSERT_FALSE(r) << "parsed, expected " << to_string(kind);
  EXPECT_EQ(r.error().kind, kind) << r.error().to_string();
  EXPECT_EQ(r.error().offset, std::optional<std::uint64_t>(offset)) << r.error().to_string();
  EXPECT_TRUE(r.error().path.empty());
}

// Looks a key up without asserting; a missing key fails the test.
const MetadataValue& at_key(const MetadataValue& object, const std::string& key) {
  static const MetadataValue kMissing;
  const MetadataValue* value = object.find(key);
  if (value == nullptr) {
    ADD_FAILURE() << "metadata has no key '" << key << "'";
    return kMissing;
  }
  return *value;
}

std::vector<std::byte> gguf_prefix(std::uint32_t version) {
  ByteBuilder b;
  b.str("GGUF").u32(version);
  return b.take();
}

std::vector<std::byte> read_all(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::vector<char> chars((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  std::vector<std::byte> bytes(chars.size());
  std::memcpy(bytes.data(), chars.data(), chars.size());
  return bytes;
}

// ---- Positive, hand-built ----

TEST(GgufParse, ReadsEveryValueTypeAndQuantizedTensorExactly) {
  GgufSpec spec;
  spec.kvs = {
      {"t.u8", kU8, raw_bytes({200})},
      {"t.i8", kI8, raw_bytes({0x9c})},  // -100
      {"t.u16", kU16, [](Writer& w) { w.b.u16(60000); }},
      {"t.i16", kI16, [](Writer& w) { w.b.u16(static_cast<std::uint16_t>(-30000)); }},
      {"t.u32", kU32, u32v(4000000000u)},
      {"t.i32", kI32, [](Writer& w) { w.b.i32(-2000000000); }},
      {"t.f32", kF32v, [](Writer& w) { w.b.f32(1.5f); }},
      {"t.bool", kBool, raw_bytes({1})},
      {"t.bool_two", kBool, raw_bytes({2})},  // only 0/1 are valid by the spec; ggml reads true
      {"t.string", kString, strv("h\xc3\xa9llo")},
      {"t.u64", kU64, u64v(0x8000000000000005ull)},
      {"t.i64", kI64, u64v(static_cast<std::uint64_t>(-(std::int64_t{1} << 62)))},
      {"t.f64", kF64,
       [](Writer& w) {
         double d = 0.1;
         w.b.raw(&d, 8);
       }},
      {"t.arr_u8", kArray,
       [](Writer& w) {
         w.b.u32(kU8);
         w.len(3);
         w.b.u8(1).u8(2).u8(255);
       }},
      {"t.arr_i16", kArray,
       [](Writer& w) {
         w.b.u32(kI16);
         w.len(2);
         w.b.u16(7).u16(0xFFFF);
       }},
      {"t.arr_f32", kArray,
       [](Writer& w) {
         w.b.u32(kF32v);
         w.len(2);
         w.b.f32(-0.25f).f32(2.0f);
       }},
      {"t.arr_bool", kArray,
       [](Writer& w) {
         w.b.u32(kBool);
         w.len(3);
         w.b.u8(0).u8(1).u8(7);
       }},
      {"t.arr_str", kArray, str_array({"a", "", "\xc3\xa7"})},
      {"t.arr_empty", kArray,
       [](Writer& w) {
         w.b.u32(kU64);
         w.len(0);
       }},
  };
  spec.tensors = {{"blk.0.ffn_down.weight", {256, 2}, kTypeQ4_K, 0},
                  {"output_norm.weight", {4}, kTypeF32, 288}};
  spec.data_bytes = 304;
  const Built built = build(spec);

  auto r = parse(built);
  ASSERT_TRUE(r) << r.error().to_string();
  const MetadataValue expected = MetadataValue::Object{
      {"t.u8", 200u},
      {"t.i8", -100},
      {"t.u16", 60000u},
      {"t.i16", -30000},
      {"t.u32", 4000000000u},
      {"t.i32", -2000000000},
      {"t.f32", 1.5},
      {"t.bool", true},
      {"t.bool_two", true},
      {"t.string", "h\xc3\xa9llo"},
      {"t.u64", 0x8000000000000005ull},
      {"t.i64", -(std::int64_t{1} << 62)},
      {"t.f64", 0.1},
      {"t.arr_u8", Array{1u, 2u, 255u}},
      {"t.arr_i16", Array{7, -1}},
      {"t.arr_f32", Array{-0.25, 2.0}},
      {"t.arr_bool", Array{false, true, true}},
      {"t.arr_str", Array{"a", "", "\xc3\xa7"}},
      {"t.arr_empty", Array{}},
  };
  EXPECT_EQ(r->metadata, expected) << dump_json(to_json(r->metadata));
  // Integer signedness survives: GGUF's unsigned types are uint64, its signed ones int64.
  EXPECT_NE(at_key(r->metadata, "t.u8").if_uint64(), nullptr);
  EXPECT_NE(at_key(r->metadata, "t.i8").if_int64(), nullptr);
  EXPECT_NE(at_key(r->metadata, "t.u64").if_uint64(), nullptr);
  EXPECT_NE(at_key(r->metadata, "t.f32").if_double(), nullptr);
  EXPECT_NE(at_key(r->metadata, "t.arr_i16").if_array()->front().if_int64(), nullptr);

  EXPECT_EQ(r->format, Format::gguf);
  EXPECT_EQ(r->version, 3u);
  EXPECT_EQ(r->alignment, 32u);
  EXPECT_EQ(r->data_offset, built.data_start);
  EXPECT_EQ(r->data_offset % 32, 0u);
  ASSERT_EQ(r->tensors.size(), 2u);
  const TensorInfo& q = r->tensors[0];
  EXPECT_EQ(q.name, "blk.0.ffn_down.weight");
  EXPECT_EQ(q.dtype, DType::Q4_K);
  EXPECT_EQ(q.shape, (std::vector<std::uint64_t>{256, 2}));
  EXPECT_EQ(q.offset, built.data_start);
  EXPECT_EQ(q.size, 288u);  // 2 rows x 1 block x 144 bytes
  const TensorInfo& n = r->tensors[1];
  EXPECT_EQ(n.name, "output_norm.weight");
  EXPECT_EQ(n.dtype, DType::F32);
  EXPECT_EQ(n.shape, (std::vector<std::uint64_t>{4}));
  EXPECT_EQ(n.offset, built.data_start + 288);
  EXPECT_EQ(n.size, 16u);
}

TEST(GgufParse, ReadsV1LayoutWith32BitLengths) {
  GgufSpec spec = valid_spec();
  spec.version = 1;
  spec.kvs.push_back({"tokens", kArray, str_array({"x", "yz"})});
  const Built built = build(spec);
  auto r = parse(built);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->version, 1u);
  EXPECT_EQ(built.key_at[0], 16u);  // counts are u32 in v1
  EXPECT_EQ(r->metadata, MetadataValue(MetadataValue::Object{{"general.architecture", "test"},
                                                             {"tokens", Array{"x", "yz"}}}));
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].shape, (std::vector<std::uint64_t>{4, 2}));
  EXPECT_EQ(r->tensors[0].offset, built.data_start);
  EXPECT_EQ(r->tensors[1].offset, built.data_start + 32);
}

TEST(GgufParse, ReadsV2LikeV3) {
  GgufSpec spec = valid_spec();
  spec.version = 2;
  auto r = parse(build(spec));
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->version, 2u);
  EXPECT_EQ(r->tensors.size(), 2u);
}

TEST(GgufParse, HonoursGeneralAlignment) {
  GgufSpec spec = valid_spec();
  spec.kvs[0].value = strv(std::string(36, 'x'));  // header ends at 207: 224 at 32, 256 at 64
  spec.kvs.push_back({"general.alignment", kU32, u32v(64)});
  spec.tensors[1].offset = 64;
  spec.pad_to = 64;
  spec.data_bytes = 96;
  const Built built = build(spec);
  auto r = parse(built);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_EQ(r->alignment, 64u);
  EXPECT_EQ(r->data_offset, built.data_start);
  EXPECT_EQ(r->data_offset % 64, 0u);
  // The layout is chosen so that the default alignment would put the data elsewhere.
  EXPECT_NE((built.infos_end + 31) / 32 * 32, r->data_offset);
  EXPECT_EQ(r->tensors[1].offset, built.data_start + 64);
}

TEST(GgufParse, AcceptsGapsAndSortsTensorsByOffset) {
  GgufSpec spec = valid_spec();
  spec.tensors[0].offset = 96;  // "a" after a 64-byte hole, listed first
  spec.data_bytes = 128;
  const Built built = build(spec);
  auto r = parse(built);
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->tensors.size(), 2u);
  EXPECT_EQ(r->tensors[0].name, "b");
  EXPECT_EQ(r->tensors[0].offset, built.data_start + 32);
  EXPECT_EQ(r->tensors[1].name, "a");
  EXPECT_EQ(r->tensors[1].offset, built.data_start + 96);
}

TEST(GgufParse, AcceptsZeroTensorFileWhoseDataStartIsPastEof) {
  GgufSpec spec;
  spec.kvs.push_back({"general.architecture", kString, strv("abc")});  // header ends at 67
  const Built built = build(spec);
  ASSERT_EQ(built.bytes.size(), 67u);
  auto r = parse(built);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->tensors.empty());
  EXPECT_EQ(r->data_offset, 96u);
}

TEST(GgufParse, AcceptsEmptyTensorSharingAnOffset) {
  GgufSpec spec = valid_spec();
  spec.tensors.push_back({"empty", {0, 4}, kTypeF32, 0});
  auto r = parse(build(spec));
  ASSERT_TRUE(r) << r.error().to_string();
  ASSERT_EQ(r->tensors.size(), 3u);
  EXPECT_EQ(r->tensors[1].name, "empty");
  EXPECT_EQ(r->tensors[1].size, 0u);
}

TEST(GgufParse, AcceptsTensorNameOf63Bytes) {
  GgufSpec spec = valid_spec();
  spec.tensors[0].name = std::string(63, 'n');
  auto r = parse(build(spec));
  ASSERT_TRUE(r) << r.error().to_string();
}

TEST(GgufParse, TensorBytesAreTheFileBytesAtTheTensorOffset) {
  const Built built = build(valid_spec());
  auto model = Model::from_bytes(built.bytes, "hand.gguf");
  ASSERT_TRUE(model) << model.error().to_string();
  auto bytes = model->tensor_bytes("b");
  ASSERT_TRUE(bytes) << bytes.error().to_string();
  ASSERT_EQ(bytes->size(), 32u);
  for (std::size_t i = 0; i < 32; ++i) EXPECT_EQ((*bytes)[i], std::byte{data_byte(32 + i)}) << i;
}

// ---- Rejections, one defect per test ----

TEST(GgufParse, RejectsWrongMagic) {
  Built built = build(valid_spec());
  built.bytes[3] = std::byte{'X'};
  expect_error(parse(built), ErrorKind::bad_magic, 0);
}

TEST(GgufParse, RejectsFileShorterThanMagic) {
  ByteBuilder b;
  b.str("GGU");
  expect_error(parse_gguf(b.bytes()), ErrorKind::truncated, 0);
}

TEST(GgufParse, RejectsCutVersion) {
  ByteBuilder b;
  b.str("GGUF").u16(3);
  expect_error(parse_gguf(b.bytes()), ErrorKind::truncated, 4);
}

TEST(GgufParse, RejectsVersionZero) {
  expect_error(parse_gguf(gguf_prefix(0)), ErrorKind::unsupported_version, 4);
}

TEST(GgufParse, RejectsVersionFour) {
  GgufSpec spec = valid_spec();
  spec.version = 4;
  expect_error(parse(build(spec)), ErrorKind::unsupported_version, 4);
}

TEST(GgufParse, RejectsBigEndianFile) {
  Built built = build(valid_spec());
  const std::uint32_t swapped = 0x03000000;
  std::memcpy(built.bytes.data() + 4, &swapped, 4);
  auto r = parse(built);
  expect_error(r, ErrorKind::unsupported_feature, 4);
  EXPECT_NE(r.error().message.find("big-endian"), std::string::npos) << r.error().message;
}

TEST(GgufParse, RejectsCutTensorCount) {
  ByteBuilder b;
  b.str("GGUF").u32(3).u32(0);
  expect_error(parse_gguf(b.bytes()), ErrorKind::truncated, 8);
}

TEST(GgufParse, RejectsCutKvCount) {
  ByteBuilder b;
  b.str("GGUF").u32(3).u64(0).u32(0);
  expect_error(parse_gguf(b.bytes()), ErrorKind::truncated, 16);
}

TEST(GgufParse, RejectsTensorCountBeyondFileSize) {
  GgufSpec spec = valid_spec();
  spec.tensor_count = std::uint64_t{1} << 40;
  expect_error(parse(build(spec)), ErrorKind::truncated, 8);
}

TEST(GgufParse, RejectsKvCountWhoseSizeOverflows) {
  GgufSpec spec = valid_spec();
  spec.kv_count = std::numeric_limits<std::uint64_t>::max();
  expect_error(parse(build(spec)), ErrorKind::truncated, 16);
}

TEST(GgufParse, RejectsKeyLengthPastEof) {
  Built built = build(valid_spec());
  const std::uint64_t huge = 962072674336ull;
  std::memcpy(built.bytes.data() + built.key_at[0], &huge, 8);
  expect_error(parse(built), ErrorKind::truncated, built.key_at[0]);
}

TEST(GgufParse, RejectsCutScalarValue) {
  GgufSpec spec;
  spec.kvs.push_back({"k.a", kU8, raw_bytes({1})});
  spec.kvs.push_back({"k.b", kU64, u64v(5)});
  Built built = build(spec);
  built.bytes.resize(built.value_at[1] + 3);
  expect_error(parse(built), ErrorKind::truncated, built.value_at[1]);
}

TEST(GgufParse, RejectsArrayLengthPastEof) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"k.arr", kArray, [](Writer& w) {
                        w.b.u32(kU32);
                        w.len(1000000000);
                        w.b.u32(1);
                      }});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::truncated, built.value_at[1]);
}

TEST(GgufParse, RejectsStringArrayElementPastEof) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"k.arr", kArray, [](Writer& w) {
                        w.b.u32(kString);
                        w.len(2);
                        w.string("ab");
                        w.len(1191182336);  // second element's length: far past EOF
                      }});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::truncated, built.value_at[1] + 4 + 8 + 8 + 2);
}

TEST(GgufParse, RejectsUnknownValueType) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"k.x", 13, u32v(0)});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::malformed_header, built.kv_type_at[1]);
}

TEST(GgufParse, RejectsUnknownArrayElementType) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"k.arr", kArray, [](Writer& w) {
                        w.b.u32(13);
                        w.len(0);
                      }});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::malformed_header, built.value_at[1]);
}

TEST(GgufParse, RejectsNestedArray) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"k.arr", kArray, [](Writer& w) {
                        w.b.u32(kArray);
                        w.len(0);
                      }});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::malformed_header, built.value_at[1]);
}

TEST(GgufParse, RejectsAlignmentThatIsNotU32) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"general.alignment", kU64, u64v(32)});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::malformed_header, built.kv_type_at[1]);
}

TEST(GgufParse, RejectsZeroAlignment) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"general.alignment", kU32, u32v(0)});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::malformed_header, built.value_at[1]);
}

TEST(GgufParse, RejectsAlignmentNotPowerOfTwo) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"general.alignment", kU32, u32v(48)});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::malformed_header, built.value_at[1]);
}

TEST(GgufParse, RejectsEmptyKey) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"", kU32, u32v(1)});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::invalid_name, built.key_at[1]);
}

TEST(GgufParse, RejectsDuplicateKey) {
  GgufSpec spec = valid_spec();
  spec.kvs.push_back({"general.architecture", kString, strv("again")});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::duplicate_name, built.key_at[1]);
}

TEST(GgufParse, AcceptsAnEmptyTensorNameAsGgmlDoes) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].name = "";
  const Built built = build(spec);
  auto r = parse(built);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(
      std::any_of(r->tensors.begin(), r->tensors.end(), [](const TensorInfo& t) { return t.name.empty(); }));
}

TEST(GgufParse, RejectsTensorNameOf64Bytes) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].name = std::string(64, 'n');
  const Built built = build(spec);
  auto r = parse(built);
  expect_error(r, ErrorKind::invalid_name, built.name_at[1]);
  EXPECT_EQ(r.error().tensor, std::string(64, 'n'));
}

TEST(GgufParse, RejectsTensorNameThatIsNotUtf8) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].name = "bad\xff";
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::invalid_name, built.name_at[1]);
}

TEST(GgufParse, RejectsDuplicateTensorName) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].name = "a";
  const Built built = build(spec);
  auto r = parse(built);
  expect_error(r, ErrorKind::duplicate_name, built.name_at[1]);
  EXPECT_EQ(r.error().tensor, "a");
}

TEST(GgufParse, RejectsFiveDims) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].ne = {2, 2, 2, 1, 1};
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::invalid_shape, built.n_dims_at[1]);
}

TEST(GgufParse, RejectsDimNegativeAsInt64) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].ne = {8, std::uint64_t{1} << 63};
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::invalid_shape, built.dims_at[1] + 8);
}

TEST(GgufParse, RejectsElementCountOverflow) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].ne = {std::uint64_t{1} << 32, std::uint64_t{1} << 32};
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::invalid_shape, built.dims_at[1] + 8);
}

TEST(GgufParse, RejectsByteSizeOverflow) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].ne = {std::uint64_t{1} << 62};  // fits as a count, not as F32 bytes
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::invalid_shape, built.dims_at[1]);
}

TEST(GgufParse, RejectsRowThatIsNotWholeBlocks) {
  GgufSpec spec = valid_spec();
  spec.tensors[1] = {"q", {128, 2}, kTypeQ4_K, 32};  // Q4_K blocks are 256 elements
  const Built built = build(spec);
  auto r = parse(built);
  expect_error(r, ErrorKind::invalid_shape, built.dims_at[1]);
  EXPECT_EQ(r.error().tensor, "q");
}

TEST(GgufParse, RejectsUnknownTypeId) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].type = 43;
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::unknown_dtype, built.ggml_type_at[1]);
}

TEST(GgufParse, RejectsRemovedTypeId) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].type = 4;  // Q4_2
  const Built built = build(spec);
  auto r = parse(built);
  expect_error(r, ErrorKind::unknown_dtype, built.ggml_type_at[1]);
  EXPECT_NE(r.error().message.find("Q4_2"), std::string::npos) << r.error().message;
}

TEST(GgufParse, RejectsMisalignedOffset) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].offset = 48;
  spec.data_bytes = 80;
  const Built built = build(spec);
  auto r = parse(built);
  expect_error(r, ErrorKind::misaligned, built.data_start + 48);
  EXPECT_EQ(r.error().tensor, "b");
}

TEST(GgufParse, RejectsOffsetOverflow) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].offset = 0xFFFFFFFFFFFFFFE0ull;
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::overflow, built.offset_at[1]);
}

TEST(GgufParse, RejectsEndOverflow) {
  const std::uint64_t data_start = build(valid_spec()).data_start;
  GgufSpec spec = valid_spec();
  // Start = 2^64 - 32 fits; start + 32 bytes does not.
  spec.tensors[1].offset = 0 - data_start - 32;
  const Built built = build(spec);
  ASSERT_EQ(built.data_start, data_start);
  expect_error(parse(built), ErrorKind::overflow, built.offset_at[1]);
}

TEST(GgufParse, RejectsTensorPastEof) {
  GgufSpec spec = valid_spec();
  spec.data_bytes = 48;  // "b" needs 32..64
  const Built built = build(spec);
  auto r = parse(built);
  expect_error(r, ErrorKind::truncated, built.data_start + 32);
  EXPECT_EQ(r.error().tensor, "b");
  const std::string& msg = r.error().message;
  EXPECT_NE(msg.find(std::to_string(built.data_start + 64)), std::string::npos) << msg;
  EXPECT_NE(msg.find(std::to_string(built.bytes.size())), std::string::npos) << msg;
}

TEST(GgufParse, RejectsEmptyTensorPastEof) {
  GgufSpec spec = valid_spec();
  spec.tensors.push_back({"empty", {0}, kTypeF32, 1024});
  const Built built = build(spec);
  expect_error(parse(built), ErrorKind::truncated, built.data_start + 1024);
}

TEST(GgufParse, RejectsOverlappingTensors) {
  GgufSpec spec = valid_spec();
  spec.tensors[1].ne = {16};    // "b" at 32 now needs 64 bytes: 32..96
  spec.tensors[0].ne = {4, 4};  // "a" 0..64 runs into it
  spec.data_bytes = 96;
  const Built built = build(spec);
  auto r = parse(built);
  expect_error(r, ErrorKind::overlap, built.data_start + 32);
  EXPECT_EQ(r.error().tensor, "b");
}

TEST(GgufParse, RejectsCutTensorInfo) {
  Built built = build(valid_spec());
  built.bytes.resize(built.ggml_type_at[1] + 2);
  expect_error(parse(built), ErrorKind::truncated, built.ggml_type_at[1]);
}

TEST(GgufParse, RejectsCutTensorName) {
  Built built = build(valid_spec());
  built.bytes.resize(built.name_at[1] + 8);  // the length says 1 byte; none is there
  expect_error(parse(built), ErrorKind::truncated, built.name_at[1]);
}

// ---- Real files (shared/fixtures) ----

struct VocabFixture {
  const char* file;
  std::uint32_t version;
  std::size_t kv_count;
};

TEST(GgufFixtures, ParsesEveryVocabOnlyFile) {
  const VocabFixture files[] = {
      {"ggml-vocab-gpt-2.gguf", 3, 16},          {"ggml-vocab-bert-bge.gguf", 3, 20},
      {"ggml-vocab-llama-spm.gguf", 3, 22},      {"ggml-vocab-phi-3.gguf", 3, 26},
      {"ggml-vocab-aquila.gguf", 2, 18},         {"ggml-vocab-qwen2.gguf", 3, 20},
      {"ggml-vocab-nomic-bert-moe.gguf", 3, 37}, {"ggml-vocab-gemma-4.gguf", 3, 42},
  };
  for (const auto& f : files) {
    SCOPED_TRACE(f.file);
    RINGLOAD_FIXTURE_OR_SKIP(path, f.file);
    auto model = Model::load(path);
    ASSERT_TRUE(model) << model.error().to_string();
    EXPECT_EQ(model->format(), Format::gguf);
    EXPECT_TRUE(model->tensors().empty());
    EXPECT_EQ(model->metadata().size(), f.kv_count);
    EXPECT_EQ(model->alignment(), 32u);
    // The header ends at EOF; the aligned data start lies just past it.
    EXPECT_EQ(model->data_offset() % 32, 0u);
    EXPECT_GT(model->data_offset(), model->file_size());
    EXPECT_LT(model->data_offset() - model->file_size(), 32u);
    auto table = parse_gguf(model->image());
    ASSERT_TRUE(table);
    EXPECT_EQ(table->version, f.version);
  }
}

TEST(GgufFixtures, ReadsGemma4LargeArrays) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "ggml-vocab-gemma-4.gguf");
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  const MetadataValue& m = model->metadata();
  EXPECT_EQ(at_key(m, "tokenizer.ggml.tokens").size(), 262144u);
  EXPECT_EQ(at_key(m, "tokenizer.ggml.merges").size(), 514906u);
  EXPECT_EQ(at_key(m, "tokenizer.ggml.scores").size(), 262144u);
  const MetadataValue& pattern = at_key(m, "gemma4.attention.sliding_window_pattern");
  ASSERT_EQ(pattern.size(), 30u);
  EXPECT_NE(pattern.if_array()->front().if_bool(), nullptr);
  EXPECT_EQ(at_key(m, "gemma4.attention.head_count_kv").size(), 30u);
  EXPECT_EQ(at_key(m, "general.architecture"), "gemma4");
  EXPECT_EQ(at_key(m, "gemma4.block_count"), 30u);
  EXPECT_EQ(m.if_object()->front().key, "general.architecture");  // file order kept
}

TEST(GgufFixtures, ReadsNomicU8Array) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "ggml-vocab-nomic-bert-moe.gguf");
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_EQ(at_key(model->metadata(), "tokenizer.ggml.precompiled_charsmap").size(), 237539u);
}

TEST(GgufFixtures, ParsesOllamaTinyLlama) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "ollama-llama-2-tiny-random.gguf");
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_EQ(model->data_offset(), 724416u);
  EXPECT_EQ(model->metadata().size(), 18u);
  EXPECT_EQ(at_key(model->metadata(), "general.name"), "LLaMA v2");
  EXPECT_EQ(at_key(model->metadata(), "general.file_type"), 1u);
  ASSERT_EQ(model->tensors().size(), 12u);
  int f16 = 0;
  int f32 = 0;
  for (const auto& t : model->tensors()) {
    f16 += t.dtype == DType::F16;
    f32 += t.dtype == DType::F32;
  }
  EXPECT_EQ(f16, 9);
  EXPECT_EQ(f32, 3);
  auto embd = model->tensor("token_embd.weight");
  ASSERT_TRUE(embd);
  EXPECT_EQ(embd->dtype, DType::F16);
  EXPECT_EQ(embd->shape, (std::vector<std::uint64_t>{8, 32000}));
  EXPECT_EQ(embd->offset, 724416u);
  EXPECT_EQ(embd->size, 512000u);
  const TensorInfo& last = model->tensors().back();
  EXPECT_EQ(last.offset + last.size, model->file_size());  // ends exactly at EOF
}

TEST(GgufFixtures, ParsesCrabmlV1) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "crabml-tinyllamas-stories-260k-f32-v1.gguf");
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  auto table = parse_gguf(model->image());
  ASSERT_TRUE(table);
  EXPECT_EQ(table->version, 1u);
  EXPECT_EQ(model->data_offset(), 11456u);
  EXPECT_EQ(model->metadata().size(), 18u);
  EXPECT_EQ(at_key(model->metadata(), "general.name"), "tinyllamas-stories-260k");
  EXPECT_EQ(at_key(model->metadata(), "tokenizer.ggml.tokens").size(), 512u);
  ASSERT_EQ(model->tensors().size(), 48u);
  std::uint64_t params = 0;
  for (const auto& t : model->tensors()) {
    EXPECT_EQ(t.dtype, DType::F32) << t.name;
    params += t.size / 4;
  }
  EXPECT_EQ(params, 292800u);
  EXPECT_EQ(model->tensors().front().offset, 11456u);
  const TensorInfo& last = model->tensors().back();
  EXPECT_EQ(last.offset + last.size, model->file_size());
}

TEST(GgufFixtures, ParsesHyllamaAllKv) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "hyllama-dummy-allkv.gguf");
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_EQ(model->data_offset(), 1216u);
  ASSERT_EQ(model->tensors().size(), 10u);
  for (const auto& t : model->tensors()) EXPECT_EQ(t.dtype, DType::F32) << t.name;
  auto t0 = model->tensor("tensor_0");
  ASSERT_TRUE(t0);
  EXPECT_EQ(t0->shape, (std::vector<std::uint64_t>{7, 8, 6, 4}));
  EXPECT_EQ(t0->offset, 1216u);
  EXPECT_EQ(t0->size, 7u * 8 * 6 * 4 * 4);
  const MetadataValue& m = model->metadata();
  EXPECT_EQ(m.size(), 15u);
  EXPECT_EQ(at_key(m, "some.parameter.uint8"), 18u);
  EXPECT_EQ(at_key(m, "some.parameter.int8"), -19);
  EXPECT_EQ(at_key(m, "some.parameter.int64"), -1311768467463790321ll);
  EXPECT_EQ(at_key(m, "some.parameter.uint64"), 1311768467463790320ull);
  EXPECT_EQ(at_key(m, "some.parameter.bool"), true);
  EXPECT_EQ(at_key(m, "some.parameter.string"), "hello world");
  EXPECT_EQ(at_key(m, "some.parameter.arr.str").size(), 3u);
  const TensorInfo& last = model->tensors().back();
  EXPECT_EQ(last.offset + last.size, model->file_size());
}

TEST(GgufFixtures, ParsesEmelAlign64AndReadsItsTensor) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "emel-lifecycle-smoke-align64.gguf");
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_EQ(model->alignment(), 64u);
  EXPECT_EQ(model->data_offset(), 57600u);
  ASSERT_EQ(model->tensors().size(), 1u);
  const TensorInfo& t = model->tensors()[0];
  EXPECT_EQ(t.name, "blk.0.attn_q.weight");
  EXPECT_EQ(t.dtype, DType::F32);
  EXPECT_EQ(t.shape, (std::vector<std::uint64_t>{1}));
  EXPECT_EQ(t.offset, 57600u);
  EXPECT_EQ(t.size, 4u);
  auto bytes = model->tensor_bytes("blk.0.attn_q.weight");
  ASSERT_TRUE(bytes);
  ASSERT_EQ(bytes->size(), 4u);
  const auto file = read_all(path);
  ASSERT_EQ(file.size(), 57664u);
  EXPECT_TRUE(std::equal(bytes->begin(), bytes->end(), file.begin() + 57600));
}

// ---- Malformed real files ----

struct MalformedFixture {
  const char* file;
  ErrorKind kind;
  std::uint64_t offset;
};

TEST(GgufMalformed, RejectsEachMalformedFixtureWithItsKind) {
  const MalformedFixture files[] = {
      {"malformed/emel-seed-magic-only-4B.gguf", ErrorKind::truncated, 4},
      {"malformed/ollama-test-truncated-6B.gguf", ErrorKind::truncated, 4},
      {"malformed/bitnet-seed-f2eadcec-version0.gguf", ErrorKind::unsupported_version, 4},
      // 3e14 tensors in 298 bytes: rejected at the count, before any allocation.
      {"malformed/bitnet-crash-69e8aa74-absurd-ntensors.gguf", ErrorKind::truncated, 8},
      // 256 tensors cannot fit in 286 bytes; the count check fires before the long string.
      {"malformed/bitnet-seed-40043e85-strlen-past-eof.gguf", ErrorKind::truncated, 8},
      // 12 stray bytes make the first key length read 962,072,674,336.
      {"malformed/bitnet-mini-nonstd-header.gguf", ErrorKind::truncated, 24},
  };
  for (const auto& f : files) {
    SCOPED_TRACE(f.file);
    RINGLOAD_FIXTURE_OR_SKIP(path, f.file);
    expect_error(parse_gguf(read_all(path)), f.kind, f.offset);
    auto model = Model::load(path);
    ASSERT_FALSE(model);
    EXPECT_EQ(model.error().kind, f.kind) << model.error().to_string();
    EXPECT_EQ(model.error().offset, std::optional<std::uint64_t>(f.offset));
    EXPECT_EQ(model.error().path, path.string());
  }
}

TEST(GgufMalformed, RejectsEmptyFileAsTruncated) {
  RINGLOAD_FIXTURE_OR_SKIP(path, "malformed/realizar-empty-0B.gguf");
  auto model = Model::load(path);
  ASSERT_FALSE(model);
  EXPECT_EQ(model.error().kind, ErrorKind::truncated) << model.error().to_string();
  EXPECT_EQ(model.error().offset, std::optional<std::uint64_t>(0));
  expect_error(parse_gguf({}), ErrorKind::truncated, 0);
}

}  // namespace
}  // namespace ringload
