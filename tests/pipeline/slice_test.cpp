// Per-rank tensor slices: a tensor matching a SliceRule arrives as part `rank` of `world` along a
// row-major dim (numpy.array_split's parts), byte-exact against a part cut out of the whole
// tensor by plain row copying; the plan reads only the part's bytes; unsliceable splits fail.
#include "pipeline/slice.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "base/sha256.hpp"
#include "gen/gen.hpp"
#include "io/file.hpp"
#include "io/uring.hpp"
#include "pipeline/plan.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/pipeline.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using Shape = std::vector<std::uint64_t>;

// numpy.array_split(range(rows), world)[rank] as [first, end), written out from its definition.
std::pair<std::uint64_t, std::uint64_t> array_split_part(std::uint64_t rows, std::uint32_t rank,
                                                         std::uint32_t world) {
  std::uint64_t first = 0;
  for (std::uint32_t k = 0; k < rank; ++k) first += rows / world + (k < rows % world ? 1 : 0);
  return {first, first + rows / world + (rank < rows % world ? 1 : 0)};
}

Shape reversed(Shape s) {
  std::reverse(s.begin(), s.end());
  return s;
}

// The part cut out of the whole tensor's bytes (`rm`: row-major shape) by copying row after row.
// A row that is part of a quantization block (the innermost dim of a block type) is copied with
// its part's neighbours in one go.
std::vector<std::byte> reference_part(std::span<const std::byte> whole, const Shape& rm, DType dtype,
                                      std::uint32_t dim, std::uint32_t rank, std::uint32_t world) {
  const DTypeInfo& info = dtype_info(dtype);
  std::uint64_t outer = 1;
  std::uint64_t inner = 1;
  for (std::uint32_t i = 0; i < rm.size(); ++i) {
    if (i < dim) outer *= rm[i];
    if (i > dim) inner *= rm[i];
  }
  const std::uint64_t rows = rm[dim];
  const auto [a, b] = array_split_part(rows, rank, world);
  const auto byte_at = [&](std::uint64_t element) { return element / info.block_elems * info.block_bytes; };
  std::vector<std::byte> out;
  const auto copy = [&](std::uint64_t from, std::uint64_t to) {
    out.insert(out.end(), whole.begin() + static_cast<std::ptrdiff_t>(byte_at(from)),
               whole.begin() + static_cast<std::ptrdiff_t>(byte_at(to)));
  };
  for (std::uint64_t o = 0; o < outer; ++o) {
    if (inner % info.block_elems != 0) {
      if (a < b) copy((o * rows + a) * inner, (o * rows + b) * inner);
      continue;
    }
    for (std::uint64_t r = a; r < b; ++r) copy((o * rows + r) * inner, (o * rows + r + 1) * inner);
  }
  return out;
}

// Whether every part boundary of `rows` elements in `world` parts is a whole block.
bool boundaries_on_blocks(std::uint64_t rows, std::uint32_t world, std::uint32_t block_elems) {
  for (std::uint32_t k = 0; k < world; ++k) {
    if (array_split_part(rows, k, world).first % block_elems != 0) return false;
  }
  return true;
}

struct MadeTensor {
  std::string name;
  DType dtype = DType::F32;
  Shape rm;  // row-major
};

// Row-major shapes of 1-4 dims, none a multiple of 2, 3 or 8 in its outer dims, with tiny inner
// rows (runs far below a page); the innermost dim is whole blocks of the dtype.
std::vector<Shape> shapes_for(DType dtype) {
  const std::uint64_t be = dtype_info(dtype).block_elems;
  return {{6 * be}, {10, 3 * be}, {7, 2, 5 * be}, {3, 7, 2, 2 * be}};
}

gen::TensorSpec spec_of(const MadeTensor& t, Format format) {
  const std::uint64_t elements = element_count(t.rm).value_or(0);
  return gen::TensorSpec{.name = t.name,
                         .dtype = t.dtype,
                         .shape = format == Format::gguf ? reversed(t.rm) : t.rm,
                         .size = dtype_byte_size(t.dtype, elements).value_or(0)};
}

std::filesystem::path write_or_fail(const std::filesystem::path& path, Format format,
                                    const std::vector<MadeTensor>& tensors) {
  std::vector<gen::TensorSpec> specs;
  for (const MadeTensor& t : tensors) specs.push_back(spec_of(t, format));
  gen::GenOptions options;
  options.format = format;
  options.arch = gen::Arch::none;
  options.seed = 7;
  auto written = gen::write_model(path, options, specs);
  EXPECT_TRUE(written) << written.error().to_string();
  return path;
}

// Every dtype the format stores (APR_Q8's scale prefix is refused: its own test), in every shape.
std::vector<MadeTensor> every_dtype_tensors(Format format) {
  std::vector<MadeTensor> out;
  for (const DTypeInfo& info : all_dtypes()) {
    if (!gen::format_supports_dtype(format, info.dtype) || info.prefix_bytes != 0) continue;
    for (const Shape& rm : shapes_for(info.dtype)) {
      out.push_back(MadeTensor{fmt::format("{}.n{}", info.name, rm.size()), info.dtype, rm});
    }
  }
  return out;
}

PlanOptions plan_options_for(const PipelineOptions& o, std::uint64_t alignment,
                             std::span<const Format> formats) {
  PlanOptions p = selection_options(o, formats);
  p.slot_size = o.slot_size;
  p.alignment = alignment;
  p.max_gap = o.read_size;
  return p;
}

// What the source aligns chunks to: O_DIRECT's offset alignment (a page at least); mmap-pipelined
// copies a HostSink's pieces straight from the mapping, unaligned.
std::optional<std::uint64_t> read_alignment(Strategy s, const Model& model) {
  if (s == Strategy::mmap_pipelined) return 1;
  if (s != Strategy::uring_direct && s != Strategy::pread_direct) return 4096;
  const auto direct = direct_io_alignment(model.fd());
  if (!direct) return std::nullopt;
  return std::max<std::uint64_t>(4096, direct->offset);
}

struct Delivered {
  Shape shape;
  std::uint64_t size = 0;
};

using SweepParam = std::tuple<Format, Strategy, int>;  // dim choice: 0, 1, or -1 for the last

class SliceSweep : public ::testing::TestWithParam<SweepParam> {};

TEST_P(SliceSweep, EveryDtypeAndRankIsByteExactAndReadsWhatThePlanSays) {
  const auto [format, strategy, choice] = GetParam();
  const test::TempDir dir;
  const std::vector<MadeTensor> made = every_dtype_tensors(format);
  ASSERT_FALSE(made.empty());
  const Model model = test::load_model(write_or_fail(dir.file("m"), format, made));
  ASSERT_EQ(model.tensors().size(), made.size());
  const auto alignment = read_alignment(strategy, model);
  if (!alignment) GTEST_SKIP() << "no O_DIRECT on " << dir.path();
  const std::vector<Format> formats{format};
  std::uint32_t sliced = 0;

  for (const std::uint32_t world : {1U, 2U, 3U, 8U}) {
    for (std::uint32_t rank = 0; rank < world; ++rank) {
      PipelineOptions options = test::small_ring(strategy);
      options.rank = rank;
      options.world = world;
      std::map<std::string, std::uint32_t> dim_of;
      for (const MadeTensor& t : made) {
        const auto n = static_cast<std::uint32_t>(t.rm.size());
        const std::uint32_t dim = choice < 0 ? n - 1 : static_cast<std::uint32_t>(choice);
        if (dim >= n) continue;  // no such dim: no rule, loads whole
        const std::uint32_t block = dtype_info(t.dtype).block_elems;
        if (dim == n - 1 && block > 1 && !boundaries_on_blocks(t.rm[dim], world, block)) {
          // Refused on its own, naming it; left whole in the sweep.
          PipelineOptions alone = options;
          alone.tensor_names = {t.name};
          alone.slices = {SliceRule{t.name, dim}};
          HostSink sink;
          auto refused = load_into(model, sink, alone);
          ASSERT_FALSE(refused) << t.name;
          EXPECT_EQ(refused.error().kind, ErrorKind::invalid_argument);
          EXPECT_EQ(refused.error().tensor, t.name);
          continue;
        }
        options.slices.push_back(SliceRule{t.name, dim});
        dim_of[t.name] = dim;
      }
      std::map<std::string, Delivered> delivered;
      options.on_tensor_ready = [&](const TensorInfo& info, const Destination& d) {
        delivered[info.name] = Delivered{info.shape, info.size};
        EXPECT_EQ(d.size, info.size) << info.name;
      };
      HostSink sink;
      auto report = load_into(model, sink, options);
      ASSERT_LOADED_OR_SKIP(report, strategy);

      const auto tensors = model.tensors();
      ASSERT_EQ(sink.tensor_count(), tensors.size());
      std::uint64_t expected_bytes = 0;
      for (std::uint32_t i = 0; i < tensors.size(); ++i) {
        const TensorInfo& t = tensors[i];
        const auto whole = model.tensor_bytes(t.name);
        ASSERT_TRUE(whole);
        const MadeTensor& m =
            *std::find_if(made.begin(), made.end(), [&](const MadeTensor& x) { return x.name == t.name; });
        std::vector<std::byte> want(whole->begin(), whole->end());
        Shape want_rm = m.rm;
        if (auto it = dim_of.find(t.name); it != dim_of.end()) {
          want = reference_part(*whole, m.rm, m.dtype, it->second, rank, world);
          const auto [a, b] = array_split_part(m.rm[it->second], rank, world);
          want_rm[it->second] = b - a;
          ++sliced;
        }
        const auto got = sink.bytes(i);
        ASSERT_EQ(got.size(), want.size()) << t.name << " rank " << rank << " of " << world;
        EXPECT_TRUE(want.empty() || std::memcmp(got.data(), want.data(), want.size()) == 0)
            << t.name << " rank " << rank << " of " << world;
        EXPECT_EQ(delivered[t.name].shape, format == Format::gguf ? reversed(want_rm) : want_rm) << t.name;
        EXPECT_EQ(delivered[t.name].size, want.size()) << t.name;
        expected_bytes += want.size();
      }
      EXPECT_EQ(report->bytes, expected_bytes);
      // The bytes read are those the plan's chunks cover, which the source reports reading.
      auto plan =
          select_tensors(model.tensors(), 1, plan_options_for(options, *alignment, formats), model.path());
      ASSERT_TRUE(plan) << plan.error().to_string();
      ASSERT_TRUE(plan_file(*plan, 0, model.image().size(), plan_options_for(options, *alignment, formats)));
      EXPECT_EQ(report->bytes_read, plan->bytes_read) << "rank " << rank << " of " << world;
      EXPECT_EQ(plan->bytes, expected_bytes);
    }
  }
  if (choice != 1) {
    EXPECT_GT(sliced, 0U);
  }
}

std::string sweep_name(const ::testing::TestParamInfo<SweepParam>& info) {
  const auto [format, strategy, choice] = info.param;
  return fmt::format("{}_{}_{}", to_string(format), test::strategy_label(strategy),
                     choice < 0 ? std::string("last") : fmt::format("dim{}", choice));
}

INSTANTIATE_TEST_SUITE_P(Formats, SliceSweep,
                         ::testing::Combine(::testing::Values(Format::safetensors, Format::gguf, Format::apr),
                                            ::testing::Values(Strategy::mmap_pipelined,
                                                              Strategy::uring_direct),
                                            ::testing::Values(0, 1, -1)),
                         sweep_name);
INSTANTIATE_TEST_SUITE_P(PreadDirect, SliceSweep,
                         ::testing::Combine(::testing::Values(Format::safetensors),
                                            ::testing::Values(Strategy::pread_direct),
                                            ::testing::Values(0, -1)),
                         sweep_name);

TEST(SliceRuleTest, FirstMatchingGlobWinsAndStarCrossesDotsAndSlashes) {
  const std::vector<SliceRule> rules{{"*.q_proj.weight", 0}, {"model/*", 1}, {"layer.[0-3].?", 2}, {"*", 3}};
  EXPECT_EQ(matching_slice_rule("model.layers.7.q_proj.weight", rules), &rules[0]);
  EXPECT_EQ(matching_slice_rule("model/a.b/c", rules), &rules[1]);
  EXPECT_EQ(matching_slice_rule("layer.2.w", rules), &rules[2]);
  EXPECT_EQ(matching_slice_rule("layer.4.w", rules), &rules[3]);
  EXPECT_EQ(matching_slice_rule("x", std::span<const SliceRule>(rules).first(3)), nullptr);
  EXPECT_EQ(matching_slice_rule("Model/x", std::span<const SliceRule>(rules).first(3)),
            nullptr);  // case counts
}

TEST(SliceRuleTest, SplitRowsIsNumpyArraySplit) {
  // np.array_split(np.arange(10), 3) -> sizes 4, 3, 3; of 2 rows in 3 -> 1, 1, 0.
  EXPECT_EQ(split_rows(10, 0, 3), std::make_pair(std::uint64_t{0}, std::uint64_t{4}));
  EXPECT_EQ(split_rows(10, 1, 3), std::make_pair(std::uint64_t{4}, std::uint64_t{7}));
  EXPECT_EQ(split_rows(10, 2, 3), std::make_pair(std::uint64_t{7}, std::uint64_t{10}));
  EXPECT_EQ(split_rows(2, 2, 3), std::make_pair(std::uint64_t{2}, std::uint64_t{2}));
  for (std::uint32_t w = 1; w <= 9; ++w) {
    for (std::uint32_t r = 0; r < w; ++r) EXPECT_EQ(split_rows(13, r, w), array_split_part(13, r, w));
  }
}

// GGUF shapes are ne[] (innermost first): dim 0 of ne=[4, 6] is the 6-row axis.
TEST(SliceLoadTest, GgufDimZeroIsTheOuterAxisOfReversedNe) {
  const test::TempDir dir;
  const Model model =
      test::load_model(write_or_fail(dir.file("g.gguf"), Format::gguf, {{"w", DType::F32, {6, 4}}}));
  ASSERT_EQ(model.tensors()[0].shape, (Shape{4, 6}));
  PipelineOptions options = test::small_ring(Strategy::mmap_pipelined);
  options.slices = {{"w", 0}};
  options.rank = 1;
  options.world = 2;
  Shape shape;
  options.on_tensor_ready = [&](const TensorInfo& info, const Destination&) { shape = info.shape; };
  HostSink sink;
  auto report = load_into(model, sink, options);
  ASSERT_TRUE(report) << report.error().to_string();
  const auto whole = *model.tensor_bytes("w");
  // Rows 3..5 of 6 rows of 4 F32: the last 48 bytes.
  ASSERT_EQ(sink.bytes(0).size(), 48U);
  EXPECT_EQ(std::memcmp(sink.bytes(0).data(), whole.data() + 48, 48), 0);
  EXPECT_EQ(shape, (Shape{4, 3}));
  ASSERT_EQ(report->digests.size(), 1U);
  EXPECT_EQ(report->digests[0].offset, model.tensors()[0].offset + 48);
}

TEST(SliceLoadTest, Sha256HashesThePartAsDelivered) {
  const test::TempDir dir;
  const Model model = test::load_model(
      write_or_fail(dir.file("m.safetensors"), Format::safetensors, {{"w", DType::BF16, {5, 9, 3}}}));
  PipelineOptions options = test::small_ring(Strategy::mmap_pipelined);
  options.slices = {{"w", 1}};
  options.rank = 2;
  options.world = 4;
  options.checksum_sha256 = true;
  HostSink sink;
  auto report = load_into(model, sink, options);
  ASSERT_TRUE(report) << report.error().to_string();
  const auto part = reference_part(*model.tensor_bytes("w"), {5, 9, 3}, DType::BF16, 1, 2, 4);
  auto digest = Sha256::create();
  ASSERT_TRUE(digest);
  digest->update(part);
  ASSERT_EQ(report->digests.size(), 1U);
  EXPECT_EQ(report->digests[0].sha256, digest->finish_hex());
  EXPECT_EQ(report->digests[0].size, part.size());
  // Rows 5..6 of 9 (sizes 3, 2, 2, 2): the first run starts 5 rows of 3 BF16 in.
  EXPECT_EQ(report->digests[0].offset, model.tensors()[0].offset + 5 * 3 * 2);
}

// An outer split is one range per tensor: never the whole tensor, at most a page of trim each side
// (with a max_gap of one page, so the holes between tensors' parts are not read through).
TEST(SliceLoadTest, OuterSplitReadsOnlyThePart) {
  const test::TempDir dir;
  const std::vector<MadeTensor> made{
      {"a", DType::F32, {64, 301}}, {"b", DType::F16, {97, 257}}, {"c", DType::F32, {13, 1000}}};
  const Model model = test::load_model(write_or_fail(dir.file("m.safetensors"), Format::safetensors, made));
  for (const Strategy strategy : {Strategy::mmap_pipelined, Strategy::uring_direct, Strategy::pread_direct}) {
    const auto alignment = read_alignment(strategy, model);
    if (!alignment) continue;
    for (std::uint32_t rank = 0; rank < 4; ++rank) {
      PipelineOptions options = test::small_ring(strategy);
      options.slices = {{"*", 0}};
      options.rank = rank;
      options.world = 4;
      options.read_size = 4096;
      HostSink sink;
      auto report = load_into(model, sink, options);
      if (!report && test::environment_refuses(strategy, report.error())) continue;
      ASSERT_TRUE(report) << report.error().to_string();
      std::uint64_t bound = 0;
      std::uint64_t whole = 0;
      for (const MadeTensor& m : made) {
        const auto [a, b] = array_split_part(m.rm[0], rank, 4);
        bound += (b - a) * m.rm[1] * dtype_info(m.dtype).block_bytes + 2 * *alignment;
        whole += m.rm[0] * m.rm[1] * dtype_info(m.dtype).block_bytes;
      }
      EXPECT_LE(report->bytes_read, bound) << to_string(strategy) << " rank " << rank;
      EXPECT_LT(report->bytes_read, whole / 2) << to_string(strategy) << " rank " << rank;
    }
  }
}

// An inner split's runs: holes above max_gap are skipped (one aligned region per run), holes
// within it are read and trimmed (one region from the first run to the last).
TEST(SlicePlanTest, InnerSplitRunsAreReadSeparatelyOrTrimmedByMaxGap) {
  const test::TempDir dir;
  constexpr std::uint64_t kCols = 2 * 10240;  // a row: 80 KiB of F32, a half-row run 40 KiB
  const Model model = test::load_model(
      write_or_fail(dir.file("m.safetensors"), Format::safetensors, {{"w", DType::F32, {4, kCols}}}));
  const TensorInfo& t = model.tensors()[0];
  const std::vector<SliceRule> rules{{"w", 1}};
  const std::vector<Format> formats{Format::safetensors};
  for (const std::uint64_t max_gap : {std::uint64_t{4096}, std::uint64_t{1} << 20}) {
    PlanOptions options;
    options.slot_size = 1ULL << 20;
    options.alignment = 4096;
    options.max_gap = max_gap;
    options.slices = rules;
    options.slice_rank = 1;
    options.slice_world = 2;
    options.file_formats = formats;
    auto plan = make_plan(model, options);
    ASSERT_TRUE(plan) << plan.error().to_string();
    const std::uint64_t run = kCols / 2 * 4;
    std::uint64_t expected = 0;
    if (max_gap < run) {
      for (std::uint64_t r = 0; r < 4; ++r) {
        const std::uint64_t begin = t.offset + r * 2 * run + run;
        expected += std::min(*align_up(begin + run, 4096), model.file_size()) - align_down(begin, 4096);
      }
    } else {
      expected =
          std::min(*align_up(t.offset + 8 * run, 4096), model.file_size()) - align_down(t.offset + run, 4096);
    }
    EXPECT_EQ(plan->bytes_read, expected) << "max_gap " << max_gap;
    EXPECT_EQ(plan->bytes, 4 * run);
    // The pieces put the runs one after the other in the destination.
    std::uint64_t next = 0;
    for (const Chunk& c : plan->chunks) {
      EXPECT_EQ(c.file_offset % 4096, 0U);
      for (const Piece& p : c.pieces) {
        EXPECT_EQ(p.tensor_offset, next);
        next += p.length;
      }
    }
    EXPECT_EQ(next, 4 * run);
  }
}

TEST(SliceLoadTest, MoreRanksThanRowsGiveEmptyParts) {
  const test::TempDir dir;
  const Model model = test::load_model(
      write_or_fail(dir.file("m.safetensors"), Format::safetensors, {{"w", DType::I32, {2, 5}}}));
  for (std::uint32_t rank = 0; rank < 8; ++rank) {
    PipelineOptions options = test::small_ring(Strategy::mmap_pipelined);
    options.slices = {{"w", 0}};
    options.rank = rank;
    options.world = 8;
    HostSink sink;
    auto report = load_into(model, sink, options);
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_EQ(sink.bytes(0).size(), rank < 2 ? 20U : 0U);
  }
}

Result<LoadReport> load_one(const Model& model, std::vector<SliceRule> rules, std::uint32_t rank,
                            std::uint32_t world, std::uint32_t shard_world = 1) {
  PipelineOptions options = test::small_ring(Strategy::mmap_pipelined);
  options.slices = std::move(rules);
  options.rank = rank;
  options.world = world;
  options.shard_world = shard_world;
  HostSink sink;
  return load_into(model, sink, options);
}

TEST(SliceLoadTest, ImpossibleSplitsAreInvalidArgumentsNamingTheTensor) {
  const test::TempDir dir;
  const Model st = test::load_model(write_or_fail(dir.file("m.safetensors"), Format::safetensors,
                                                  {{"w", DType::F32, {4, 6}}, {"s", DType::F32, {}}}));
  const auto expect_refused = [](const Result<LoadReport>& r, const std::string& tensor) {
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument) << r.error().to_string();
    EXPECT_EQ(r.error().tensor, tensor) << r.error().to_string();
  };
  expect_refused(load_one(st, {{"w", 2}}, 0, 2), "w");  // no dim 2
  expect_refused(load_one(st, {{"s", 0}}, 0, 2), "s");  // a scalar
  for (const auto& [rank, world] : {std::pair{2U, 2U}, std::pair{0U, 0U}}) {
    auto r = load_one(st, {{"w", 0}}, rank, world);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
  }
  auto combined = load_one(st, {{"w", 0}}, 0, 2, /*shard_world=*/2);
  ASSERT_FALSE(combined);
  EXPECT_EQ(combined.error().kind, ErrorKind::invalid_argument);
  // Rank and world without a rule change nothing.
  auto plain = load_one(st, {}, 1, 2);
  ASSERT_TRUE(plain) << plain.error().to_string();
  EXPECT_EQ(plain->bytes, st.tensors()[0].size + st.tensors()[1].size);

  // A quantized block is never cut: Q8_0 rows of 96 elements (3 blocks of 32) split in 2 parts of
  // 48 would cut one; in 3 parts of 32 they do not.
  const Model gguf =
      test::load_model(write_or_fail(dir.file("q.gguf"), Format::gguf, {{"q", DType::Q8_0, {4, 96}}}));
  expect_refused(load_one(gguf, {{"q", 1}}, 0, 2), "q");
  EXPECT_TRUE(load_one(gguf, {{"q", 1}}, 0, 3));
  EXPECT_TRUE(load_one(gguf, {{"q", 0}}, 0, 3));

  // APR_Q8's per-tensor scale prefix belongs to every part.
  const Model apr =
      test::load_model(write_or_fail(dir.file("a.apr"), Format::apr, {{"p", DType::APR_Q8, {4, 8}}}));
  expect_refused(load_one(apr, {{"p", 0}}, 0, 2), "p");
}

TEST(SliceLoadTest, CheckpointOfSeveralFilesSlicesEveryShardsTensors) {
  const test::TempDir dir;
  std::vector<gen::TensorSpec> specs;
  std::vector<MadeTensor> made;
  for (std::uint32_t i = 0; i < 6; ++i) {
    made.push_back(MadeTensor{fmt::format("layers.{}.weight", i), DType::F32, {7 + i, 33}});
    specs.push_back(spec_of(made.back(), Format::safetensors));
  }
  gen::GenOptions options;
  options.format = Format::safetensors;
  options.shards = 3;
  auto written = gen::write_checkpoint(dir.path(), options, specs);
  ASSERT_TRUE(written) << written.error().to_string();
  auto checkpoint = Checkpoint::open(dir.path());
  ASSERT_TRUE(checkpoint) << checkpoint.error().to_string();
  ASSERT_EQ(checkpoint->files().size(), 3U);
  for (const std::uint32_t dim : {0U, 1U}) {
    for (std::uint32_t rank = 0; rank < 3; ++rank) {
      PipelineOptions options = test::small_ring(Strategy::mmap_pipelined);
      options.slices = {{"layers.*.weight", dim}};
      options.rank = rank;
      options.world = 3;
      HostSink sink;
      auto report = load_into(*checkpoint, sink, options);
      ASSERT_TRUE(report) << report.error().to_string();
      const auto tensors = checkpoint->tensors();
      ASSERT_EQ(sink.tensor_count(), tensors.size());
      for (std::uint32_t i = 0; i < tensors.size(); ++i) {
        const TensorInfo& t = tensors[i];
        auto file = read_file(checkpoint->files()[t.file].path);
        ASSERT_TRUE(file);
        const auto whole = std::span<const std::byte>(*file).subspan(t.offset, t.size);
        const auto m =
            std::find_if(made.begin(), made.end(), [&](const MadeTensor& x) { return x.name == t.name; });
        const auto want = reference_part(whole, m->rm, DType::F32, dim, rank, 3);
        ASSERT_EQ(sink.bytes(i).size(), want.size()) << t.name;
        EXPECT_EQ(std::memcmp(sink.bytes(i).data(), want.data(), want.size()), 0) << t.name;
      }
    }
  }
}

}  // namespace
}  // namespace ringload
