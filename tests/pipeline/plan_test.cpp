// make_plan: tensors (after the name filter and shard slicing) → aligned, disjoint chunks no
// larger than a slot whose pieces deliver every needed byte exactly once.
#include "pipeline/plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gen/gen.hpp"
#include "support/build_bytes.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::ByteBuilder;
using test::TempDir;

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kSlot = 64 * 1024;

struct U8Tensor {
  std::string name;
  std::uint64_t size = 0;
};

// A safetensors image of U8 tensors back to back in the given order; the data section starts at
// a multiple of `data_alignment` (the header is space-padded) plus `data_shift` bytes of padding
// the header absorbs, so tensors can start anywhere relative to a page.
std::vector<std::byte> safetensors_u8(const std::vector<U8Tensor>& tensors,
                                      std::uint64_t data_alignment = kPage, std::uint64_t data_shift = 0) {
  std::string header = "{";
  std::uint64_t begin = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    if (k > 0) header += ',';
    header += fmt::format(R"("{}":{{"dtype":"U8","shape":[{}],"data_offsets":[{},{}]}})", tensors[k].name,
                          tensors[k].size, begin, begin + tensors[k].size);
    begin += tensors[k].size;
  }
  header += "}";
  while ((8 + header.size()) % data_alignment != data_shift % data_alignment) header += ' ';
  ByteBuilder b;
  b.u64(header.size()).str(header);
  for (std::size_t k = 0; k < tensors.size(); ++k) b.fill(tensors[k].size, static_cast<std::uint8_t>(k + 1));
  return b.take();
}

Model model_of(const std::vector<U8Tensor>& tensors, std::uint64_t data_alignment = kPage,
               std::uint64_t data_shift = 0) {
  auto model = Model::from_bytes(safetensors_u8(tensors, data_alignment, data_shift), "plan.safetensors");
  EXPECT_TRUE(model) << model.error().to_string();
  return std::move(model).value();
}

std::vector<U8Tensor> numbered(const std::vector<std::uint64_t>& sizes) {
  std::vector<U8Tensor> out;
  for (std::size_t k = 0; k < sizes.size(); ++k) out.push_back({fmt::format("t{}", k), sizes[k]});
  return out;
}

PlanOptions options_with(std::uint64_t slot_size, std::uint64_t alignment = kPage) {
  PlanOptions o;
  o.slot_size = slot_size;
  o.alignment = alignment;
  return o;
}

Plan plan_or_fail(const Model& model, const PlanOptions& options) {
  auto plan = make_plan(model, options);
  EXPECT_TRUE(plan) << plan.error().to_string();
  return plan ? std::move(plan).value() : Plan{};
}

// Every invariant the readers and the sink rely on; `what` names the case in failures.
void expect_plan_is_sound(const Model& model, const Plan& plan, const PlanOptions& options) {
  const std::uint64_t file_size = model.image().size();
  std::uint64_t bytes_read = 0;
  std::vector<std::uint64_t> delivered(plan.tensors.size(), 0);  // next expected tensor_offset
  std::vector<std::int64_t> last_chunk(plan.tensors.size(), -1);
  for (std::size_t c = 0; c < plan.chunks.size(); ++c) {
    const Chunk& chunk = plan.chunks[c];
    SCOPED_TRACE(fmt::format("chunk {} at {} (+{})", c, chunk.file_offset, chunk.length));
    EXPECT_EQ(chunk.file_offset % options.alignment, 0U) << "chunk start not aligned";
    EXPECT_EQ(chunk.length % options.alignment, 0U) << "chunk length not aligned";
    EXPECT_GT(chunk.length, 0U);
    EXPECT_LE(chunk.length, options.slot_size) << "chunk larger than a slot";
    ASSERT_LT(chunk.file_offset, file_size);
    EXPECT_EQ(chunk.valid, std::min(chunk.length, file_size - chunk.file_offset));
    if (c + 1 < plan.chunks.size()) {
      // Aligned and disjoint: no page (no O_DIRECT block) is read by two chunks.
      EXPECT_LE(chunk.file_offset + chunk.length, plan.chunks[c + 1].file_offset) << "chunks overlap";
    }
    bytes_read += chunk.valid;
    EXPECT_FALSE(chunk.pieces.empty()) << "a chunk that delivers nothing";
    std::uint64_t chunk_cursor = 0;
    for (const Piece& p : chunk.pieces) {
      ASSERT_LT(p.tensor, plan.tensors.size());
      const SinkTensor& t = plan.tensors[p.tensor];
      EXPECT_GT(p.length, 0U);
      EXPECT_GE(p.chunk_offset, chunk_cursor) << "pieces overlap inside a chunk";
      EXPECT_LE(p.chunk_offset + p.length, chunk.valid) << "piece outside the chunk's file bytes";
      EXPECT_EQ(chunk.file_offset + p.chunk_offset, t.file_offset + p.tensor_offset)
          << "piece does not map the file byte to the tensor byte it names";
      // Pieces of one tensor come in order and tile its destination with no gap or overlap.
      EXPECT_EQ(p.tensor_offset, delivered[p.tensor]) << "tensor " << p.tensor << " not tiled";
      delivered[p.tensor] = p.tensor_offset + p.length;
      last_chunk[p.tensor] = static_cast<std::int64_t>(c);
      chunk_cursor = p.chunk_offset + p.length;
    }
  }
  std::uint64_t bytes = 0;
  ASSERT_EQ(plan.last_chunk.size(), plan.tensors.size());
  std::int64_t predecessor_last = -1;
  for (std::size_t i = 0; i < plan.tensors.size(); ++i) {
    const SinkTensor& t = plan.tensors[i];
    EXPECT_EQ(t.index, i);
    EXPECT_EQ(delivered[i], t.size) << "tensor " << i << " (" << t.info->name << ") not fully covered";
    if (i > 0) {
      EXPECT_GE(t.file_offset, plan.tensors[i - 1].file_offset) << "tensors not in file order";
    }
    // The header's rule: the chunk holding the last byte; an empty tensor takes its closest
    // non-empty predecessor's, -1 when there is none.
    if (t.size > 0) predecessor_last = last_chunk[i];
    EXPECT_EQ(plan.last_chunk[i], t.size > 0 ? last_chunk[i] : predecessor_last) << "tensor " << i;
    bytes += t.size;
  }
  EXPECT_EQ(plan.bytes, bytes);
  EXPECT_EQ(plan.bytes_read, bytes_read);
}

std::uint64_t chunk_count_with_tensor(const Plan& plan, std::uint32_t tensor) {
  return static_cast<std::uint64_t>(
      std::count_if(plan.chunks.begin(), plan.chunks.end(), [&](const Chunk& c) {
        return std::any_of(c.pieces.begin(), c.pieces.end(),
                           [&](const Piece& p) { return p.tensor == tensor; });
      }));
}

TEST(Plan, ChunksAreAlignedDisjointAndCoverEveryByteOnceForManyLayouts) {
  // Sizes chosen so tensors start and end at every kind of offset relative to pages and slots.
  const std::vector<std::uint64_t> sizes = {1,    4095, 4097, 1,      65536, 65535, 3, 200000,
                                            8192, 0,    7,    131072, 5,     70001, 0, 4096};
  for (std::uint64_t shift : {0U, 1U, 8U, 4095U}) {
    const Model model = model_of(numbered(sizes), kPage, shift);
    for (std::uint64_t alignment : {kPage, 2 * kPage}) {
      for (std::uint64_t slot : {kSlot, 2 * kSlot, 4 * kSlot, 1024 * kSlot}) {
        SCOPED_TRACE(fmt::format("shift {} alignment {} slot {}", shift, alignment, slot));
        const PlanOptions options = options_with(slot, alignment);
        const Plan plan = plan_or_fail(model, options);
        EXPECT_EQ(plan.tensors.size(), sizes.size());
        expect_plan_is_sound(model, plan, options);
      }
    }
  }
}

TEST(Plan, TensorLargerThanASlotSplitsIntoSlotSizedChunks) {
  const Model model = model_of(numbered({300000}));
  const Plan plan = plan_or_fail(model, options_with(kSlot));
  expect_plan_is_sound(model, plan, options_with(kSlot));
  // The data starts on a page; 300000 bytes need ceil(300000 / 65536) = 5 slots.
  ASSERT_EQ(plan.chunks.size(), 5U);
  for (std::size_t c = 0; c + 1 < plan.chunks.size(); ++c) EXPECT_EQ(plan.chunks[c].length, kSlot);
  EXPECT_EQ(chunk_count_with_tensor(plan, 0), 5U);
}

TEST(Plan, ManySmallTensorsShareOneChunk) {
  const Model model = model_of(numbered(std::vector<std::uint64_t>(100, 100)));
  const Plan plan = plan_or_fail(model, options_with(kSlot));
  expect_plan_is_sound(model, plan, options_with(kSlot));
  ASSERT_EQ(plan.chunks.size(), 1U);
  EXPECT_EQ(plan.chunks[0].pieces.size(), 100U);
  EXPECT_EQ(plan.bytes, 10000U);
  EXPECT_EQ(plan.chunks[0].length, 3 * kPage) << "10000 bytes from a page boundary span three pages";
  EXPECT_EQ(plan.bytes_read, 10000U) << "the file ends with the last tensor";
}

TEST(Plan, EdgePageSharedByTwoWantedTensorsIsReadOnce) {
  // t0 and t2 share the page holding the skipped 100-byte t1; with max_gap 0 a new chunk would
  // otherwise start there and read that page a second time.
  const Model model = model_of(numbered({5000, 100, 5000}));
  const std::vector<std::string> names = {"t0", "t2"};
  PlanOptions options = options_with(kSlot);
  options.max_gap = 0;
  options.tensor_names = names;
  const Plan plan = plan_or_fail(model, options);
  expect_plan_is_sound(model, plan, options);
  ASSERT_EQ(plan.tensors.size(), 2U);
  ASSERT_EQ(plan.chunks.size(), 1U);
  EXPECT_EQ(plan.chunks[0].length, 3 * kPage);  // [data, data + 10100) rounded up to pages
}

TEST(Plan, GapLargerThanMaxGapStartsANewChunkAndIsNotRead) {
  const Model model = model_of(numbered({5000, 300000, 5000}));
  const std::vector<std::string> names = {"t0", "t2"};
  PlanOptions options = options_with(1024 * kSlot);
  options.max_gap = 64 * 1024;
  options.tensor_names = names;
  const Plan plan = plan_or_fail(model, options);
  expect_plan_is_sound(model, plan, options);
  ASSERT_EQ(plan.chunks.size(), 2U);
  EXPECT_LT(plan.bytes_read, 5 * kPage) << "the skipped tensor's 300000 bytes were read";
}

TEST(Plan, GapWithinMaxGapIsReadRatherThanStartingAChunk) {
  const Model model = model_of(numbered({5000, 20000, 5000}));
  const std::vector<std::string> names = {"t0", "t2"};
  PlanOptions options = options_with(1024 * kSlot);
  options.max_gap = 64 * 1024;
  options.tensor_names = names;
  const Plan plan = plan_or_fail(model, options);
  expect_plan_is_sound(model, plan, options);
  EXPECT_EQ(plan.chunks.size(), 1U);
}

TEST(Plan, NameFilterKeepsFileOrderWhateverTheRequestOrder) {
  const Model model = model_of(numbered({10, 20, 30, 40}));
  const std::vector<std::string> names = {"t3", "t1"};
  PlanOptions options = options_with(kSlot);
  options.tensor_names = names;
  const Plan plan = plan_or_fail(model, options);
  expect_plan_is_sound(model, plan, options);
  ASSERT_EQ(plan.tensors.size(), 2U);
  EXPECT_EQ(plan.tensors[0].info->name, "t1");
  EXPECT_EQ(plan.tensors[1].info->name, "t3");
  EXPECT_EQ(plan.bytes, 60U);
}

TEST(Plan, UnknownTensorNameIsNotFoundNamingTheTensorAndFile) {
  const Model model = model_of(numbered({10, 20}));
  const std::vector<std::string> names = {"t1", "no.such.weight"};
  PlanOptions options = options_with(kSlot);
  options.tensor_names = names;
  auto plan = make_plan(model, options);
  ASSERT_FALSE(plan);
  EXPECT_EQ(plan.error().kind, ErrorKind::not_found);
  EXPECT_EQ(plan.error().tensor, "no.such.weight");
  EXPECT_EQ(plan.error().path, "plan.safetensors");
}

TEST(Plan, InvalidOptionsAreInvalidArgument) {
  const Model model = model_of(numbered({10}));
  struct Case {
    const char* what;
    PlanOptions options;
  };
  auto with = [](std::uint64_t slot, std::uint64_t alignment, std::uint32_t rank, std::uint32_t world) {
    PlanOptions o = options_with(slot, alignment);
    o.shard_rank = rank;
    o.shard_world = world;
    return o;
  };
  const std::vector<Case> cases = {
      {"alignment 0", with(kSlot, 0, 0, 1)},
      {"alignment not a power of two", with(3 * kPage, 3 * kPage / 2, 0, 1)},
      {"slot size 0", with(0, kPage, 0, 1)},
      {"slot not a multiple of the alignment", with(kPage + 512, kPage, 0, 1)},
      {"slot smaller than an 8 KiB alignment", with(kPage, 2 * kPage, 0, 1)},
      {"shard world 0", with(kSlot, kPage, 0, 0)},
      {"shard rank equal to world", with(kSlot, kPage, 2, 2)},
      {"shard rank beyond world", with(kSlot, kPage, 7, 3)},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    auto plan = make_plan(model, c.options);
    ASSERT_FALSE(plan);
    EXPECT_EQ(plan.error().kind, ErrorKind::invalid_argument);
    EXPECT_FALSE(plan.error().message.empty());
  }
}

TEST(Plan, DirectIoAlignmentOf8192AlignsEveryChunkTo8192) {
  // The data starts 1 byte past a 4 KiB page that is not an 8 KiB one.
  const Model model = model_of(numbered({1, 9000, 70000, 3, 20000}), 2 * kPage, kPage + 1);
  ASSERT_EQ(model.data_offset() % (2 * kPage), kPage + 1);
  const PlanOptions options = options_with(2 * kSlot, 2 * kPage);
  const Plan plan = plan_or_fail(model, options);
  expect_plan_is_sound(model, plan, options);
  ASSERT_FALSE(plan.chunks.empty());
  EXPECT_EQ(plan.chunks.front().file_offset, 0U)
      << "the first chunk starts on the 8 KiB block holding the data";
}

TEST(Plan, LastChunkRunsPastAnUnalignedEndOfFileButValidStopsThere) {
  const Model model = model_of(numbered({10000, 3}));
  ASSERT_NE(model.image().size() % kPage, 0U);
  const PlanOptions options = options_with(kSlot);
  const Plan plan = plan_or_fail(model, options);
  expect_plan_is_sound(model, plan, options);
  ASSERT_FALSE(plan.chunks.empty());
  const Chunk& last = plan.chunks.back();
  EXPECT_EQ(last.file_offset + last.valid, model.image().size());
  EXPECT_GT(last.length, last.valid);
}

TEST(Plan, EmptyTensorsCompleteWithTheirClosestNonEmptyPredecessor) {
  // Leading, middle (two in a row) and trailing empty tensors, with a slot boundary inside t2.
  const std::vector<U8Tensor> tensors = {{"a_empty", 0}, {"b", 5000}, {"c_empty", 0}, {"d_empty", 0},
                                         {"e", 100000},  {"f", 7},    {"g_empty", 0}};
  const Model model = model_of(tensors);
  const PlanOptions options = options_with(kSlot);
  const Plan plan = plan_or_fail(model, options);
  expect_plan_is_sound(model, plan, options);
  ASSERT_EQ(plan.tensors.size(), tensors.size());
  std::vector<std::string> order;
  for (const SinkTensor& t : plan.tensors) order.push_back(t.info->name);
  ASSERT_EQ(order, (std::vector<std::string>{"a_empty", "b", "c_empty", "d_empty", "e", "f", "g_empty"}));
  EXPECT_EQ(plan.last_chunk[0], -1) << "nothing precedes the first tensor: ready before any chunk";
  EXPECT_EQ(plan.last_chunk[2], plan.last_chunk[1]);
  EXPECT_EQ(plan.last_chunk[3], plan.last_chunk[1]);
  EXPECT_GT(plan.last_chunk[4], plan.last_chunk[1]) << "e spans more than one slot";
  EXPECT_EQ(plan.last_chunk[6], plan.last_chunk[5]);
  EXPECT_EQ(plan.last_chunk[5], static_cast<std::int64_t>(plan.chunks.size()) - 1);
}

TEST(Plan, ModelWithOnlyEmptyTensorsHasNoChunks) {
  const Model model = model_of({{"x", 0}, {"y", 0}});
  const Plan plan = plan_or_fail(model, options_with(kSlot));
  EXPECT_TRUE(plan.chunks.empty());
  EXPECT_EQ(plan.bytes, 0U);
  EXPECT_EQ(plan.bytes_read, 0U);
  EXPECT_EQ(plan.last_chunk, (std::vector<std::int64_t>{-1, -1}));
}

// A GGUF with Q4_K tensors (256 elements in 144-byte blocks) and an F32 one, written by the
// generator so the file is valid and its bytes known.
Model q4k_model(const TempDir& dir) {
  const std::vector<gen::TensorSpec> specs = {
      {"q.uneven", DType::Q4_K, {256 * 7}, 144 * 7},       // 7 blocks: splits 2/2/3 in three
      {"q.matrix", DType::Q4_K, {512, 3}, 144 * 6},        // 6 blocks
      {"q.single", DType::Q4_K, {256}, 144},               // 1 block: only one rank gets it
      {"f.vector", DType::F32, {10}, 40},                  // 10 elements of 4 bytes
      {"q.large", DType::Q4_K, {256 * 1000}, 144 * 1000},  // larger than a 64 KiB slot
  };
  gen::GenOptions options;
  options.format = Format::gguf;
  const auto path = dir.file("q4k.gguf");
  auto written = gen::write_model(path, options, specs);
  EXPECT_TRUE(written) << written.error().to_string();
  auto model = Model::load(path);
  EXPECT_TRUE(model) << model.error().to_string();
  return std::move(model).value();
}

TEST(PlanShard, RankSlicesTileEachTensorAndCutOnBlockBoundaries) {
  TempDir dir;
  const Model model = q4k_model(dir);
  for (std::uint32_t world : {1U, 2U, 3U, 4U, 8U}) {
    std::vector<std::uint64_t> next_begin(model.tensors().size(), 0);  // relative to the tensor
    for (std::uint32_t rank = 0; rank < world; ++rank) {
      SCOPED_TRACE(fmt::format("rank {} of {}", rank, world));
      PlanOptions options = options_with(kSlot);
      options.shard_rank = rank;
      options.shard_world = world;
      const Plan plan = plan_or_fail(model, options);
      expect_plan_is_sound(model, plan, options);
      ASSERT_EQ(plan.tensors.size(), model.tensors().size()) << "every tensor has a (maybe empty) slice";
      for (std::size_t i = 0; i < plan.tensors.size(); ++i) {
        const SinkTensor& slice = plan.tensors[i];
        const TensorInfo& t = model.tensors()[i];
        ASSERT_EQ(slice.info, &t);
        const std::uint64_t block = t.dtype == DType::F32 ? 4 : 144;
        const std::uint64_t begin = slice.file_offset - t.offset;
        EXPECT_EQ(begin, next_begin[i]) << t.name << ": slices must be contiguous in rank order";
        EXPECT_EQ(begin % block, 0U) << t.name << ": cut inside a block";
        EXPECT_EQ(slice.size % block, 0U) << t.name << ": slice not whole blocks";
        // Balanced: rank r takes blocks [n·r/w, n·(r+1)/w).
        const std::uint64_t blocks = t.size / block;
        EXPECT_EQ(begin, blocks * rank / world * block) << t.name;
        EXPECT_EQ(slice.size, (blocks * (rank + 1) / world - blocks * rank / world) * block) << t.name;
        next_begin[i] = begin + slice.size;
      }
    }
    for (std::size_t i = 0; i < model.tensors().size(); ++i) {
      EXPECT_EQ(next_begin[i], model.tensors()[i].size)
          << model.tensors()[i].name << ": the " << world << " slices do not add up to the tensor";
    }
  }
}

TEST(PlanShard, SevenBlocksInThreeRanksSplitTwoTwoThree) {
  TempDir dir;
  const Model model = q4k_model(dir);
  std::vector<std::uint64_t> sizes;
  for (std::uint32_t rank = 0; rank < 3; ++rank) {
    PlanOptions options = options_with(kSlot);
    options.shard_rank = rank;
    options.shard_world = 3;
    const std::vector<std::string> names = {"q.uneven"};
    options.tensor_names = names;
    const Plan plan = plan_or_fail(model, options);
    ASSERT_EQ(plan.tensors.size(), 1U);
    sizes.push_back(plan.tensors[0].size);
  }
  EXPECT_EQ(sizes, (std::vector<std::uint64_t>{2 * 144, 2 * 144, 3 * 144}));
}

TEST(PlanShard, GeneratedQ4KModelIsSoundForEveryRank) {
  TempDir dir;
  gen::GenOptions options;
  options.format = Format::gguf;
  options.dtype = DType::Q4_K;
  options.target_bytes = 2ULL << 20;
  options.seed = 5;
  const auto path = dir.file("gen-q4k.gguf");
  auto written = gen::generate(path, options);
  ASSERT_TRUE(written) << written.error().to_string();
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  for (std::uint32_t rank = 0; rank < 3; ++rank) {
    SCOPED_TRACE(fmt::format("rank {}", rank));
    PlanOptions plan_options = options_with(kSlot);
    plan_options.shard_rank = rank;
    plan_options.shard_world = 3;
    const Plan plan = plan_or_fail(*model, plan_options);
    expect_plan_is_sound(*model, plan, plan_options);
  }
}

}  // namespace
}  // namespace ringload
