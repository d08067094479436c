// The Loader end to end: every strategy × sink × format delivers the bytes Model::tensor_bytes
// gives, in file order, with a report that adds up; real fixtures, empty tensors, name filters,
// shards, a reused ring, and what release leaves in the page cache.
#include "ringload/pipeline.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/json.hpp"
#include "base/sha256.hpp"
#include "gen/gen.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "io/uring.hpp"
#include "pipeline/plan.hpp"
#include "support/build_bytes.hpp"
#include "support/fixtures.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::ByteBuilder;
using test::environment_refuses;
using test::holds_model;
using test::is_baseline;
using test::kRingBytes;
using test::kSlotBytes;
using test::kSlots;
using test::load_model;
using test::needs_uring;
using test::small_ring;
using test::strategy_label;
using test::TempDir;

constexpr std::uint64_t kPage = 4096;

// What a load of `model` with an explicit `requested` must report as having run (DESIGN.md
// "strategies"): itself, except that a model already in memory has no file to read and is copied
// from memory. Auto's choice depends on the cache state and is LoaderAuto's test.
Strategy explicit_strategy_run(const Model& model, Strategy requested) {
  const bool reads_the_file = test::needs_uring(requested) || requested == Strategy::pread_direct;
  return !model.is_mmap() && reads_the_file ? Strategy::mmap_pipelined : requested;
}

std::span<const std::byte> tensor_bytes(const Model& model, const std::string& name) {
  auto bytes = model.tensor_bytes(name);
  EXPECT_TRUE(bytes) << bytes.error().to_string();
  return bytes ? *bytes : std::span<const std::byte>{};
}

// Byte-exact comparison with the first differing position in the failure message.
::testing::AssertionResult same_bytes(std::span<const std::byte> got, std::span<const std::byte> want) {
  if (got.size() != want.size()) {
    return ::testing::AssertionFailure() << "size " << got.size() << ", expected " << want.size();
  }
  if (want.empty() || std::memcmp(got.data(), want.data(), want.size()) == 0) {
    return ::testing::AssertionSuccess();
  }
  const auto diff = std::mismatch(got.begin(), got.end(), want.begin());
  return ::testing::AssertionFailure()
         << "first difference at byte " << (diff.first - got.begin()) << " of " << want.size();
}

// NullSink's fold of a whole tensor handed over in one write: its little-endian 64-bit words,
// then the bytes of a final partial word one by one. A load that cuts a tensor only at
// multiples of 8 from its start folds to the same value whatever its chunking.
std::uint64_t fold_of(std::span<const std::byte> bytes) {
  std::uint64_t acc = 0;
  std::size_t i = 0;
  for (; i + 8 <= bytes.size(); i += 8) {
    std::uint64_t word = 0;
    std::memcpy(&word, bytes.data() + i, 8);
    acc += word;
  }
  for (; i < bytes.size(); ++i) acc += static_cast<std::uint64_t>(bytes[i]);
  return acc;
}

std::uint64_t fold_of_model(const Model& model) {
  std::uint64_t acc = 0;
  for (const TensorInfo& t : model.tensors()) acc += fold_of(tensor_bytes(model, t.name));
  return acc;
}

std::uint64_t total_bytes(const Model& model) {
  std::uint64_t total = 0;
  for (const TensorInfo& t : model.tensors()) total += t.size;
  return total;
}

gen::GenOptions gen_options(Format format, std::uint64_t target_bytes, std::uint64_t seed,
                            gen::Compression compression = gen::Compression::none) {
  gen::GenOptions o;
  o.format = format;
  o.target_bytes = target_bytes;
  o.seed = seed;
  o.compression = compression;
  o.dtype = DType::BF16;
  o.tensor_count = 24;  // a layer's matrices, norms and biases: large tensors and many small ones
  return o;
}

std::filesystem::path generate_file(const std::filesystem::path& path, const gen::GenOptions& options) {
  auto written = gen::generate(path, options);
  EXPECT_TRUE(written) << written.error().to_string();
  return path;
}

// ---------------------------------------------------------------------------------------------
// Every strategy × sink × format on generated files.

enum class SinkKind : std::uint8_t { host, null };
enum class FileKind : std::uint8_t { safetensors, gguf, apr, apr_zstd };

std::string file_label(FileKind k) {
  switch (k) {
    case FileKind::safetensors: return "safetensors";
    case FileKind::gguf: return "gguf";
    case FileKind::apr: return "apr";
    case FileKind::apr_zstd: return "apr_zstd";
  }
  return "unknown";
}

class LoaderMatrix : public ::testing::TestWithParam<std::tuple<Strategy, SinkKind, FileKind>> {
 protected:
  // One file per format for the whole suite: 56 cases read them, none writes them.
  static void SetUpTestSuite() {
    dir_ = std::make_unique<TempDir>();
    const auto make = [](FileKind kind, Format format, gen::Compression compression, const char* name) {
      auto options = gen_options(format, 3ULL << 20, 11 + static_cast<int>(kind), compression);
      files_[static_cast<int>(kind)] = generate_file(dir_->file(name), options);
    };
    make(FileKind::safetensors, Format::safetensors, gen::Compression::none, "m.safetensors");
    make(FileKind::gguf, Format::gguf, gen::Compression::none, "m.gguf");
    make(FileKind::apr, Format::apr, gen::Compression::none, "m.apr");
    make(FileKind::apr_zstd, Format::apr, gen::Compression::zstd, "m.zstd.apr");
  }
  static void TearDownTestSuite() { dir_.reset(); }

  static std::filesystem::path file(FileKind kind) { return files_[static_cast<int>(kind)]; }

 private:
  static inline std::unique_ptr<TempDir> dir_;
  static inline std::filesystem::path files_[4];
};

TEST_P(LoaderMatrix, DeliversEveryTensorByteExactWithAConsistentReport) {
  // Plain variables, not a structured binding: clang 14 cannot capture those in a lambda.
  const Strategy strategy = std::get<0>(GetParam());
  const SinkKind sink_kind = std::get<1>(GetParam());
  const FileKind file_kind = std::get<2>(GetParam());
  const Model model = load_model(file(file_kind));
  const auto tensors = model.tensors();
  ASSERT_FALSE(tensors.empty());
  const std::uint64_t total = total_bytes(model);
  const auto largest = std::max_element(tensors.begin(), tensors.end(),
                                        [](const auto& a, const auto& b) { return a.size < b.size; });
  ASSERT_GT(largest->size, kRingBytes) << "the file must have a tensor larger than the whole ring";
  EXPECT_EQ(model.is_mmap(), file_kind != FileKind::apr_zstd);

  PipelineOptions options = small_ring(strategy);
  options.checksum_sha256 = true;
  std::vector<std::string> ready_names;
  std::vector<std::uint64_t> ready_sizes;
  std::vector<std::string> incomplete_at_ready;
  HostSink host;
  NullSink null;
  Sink& sink = sink_kind == SinkKind::host ? static_cast<Sink&>(host) : static_cast<Sink&>(null);
  options.on_tensor_ready = [&](const TensorInfo& t, const Destination& d) {
    ready_names.push_back(t.name);
    ready_sizes.push_back(d.size);
    EXPECT_FALSE(d.on_device);
    if (sink_kind != SinkKind::host) return;
    // The callback's promise: the tensor's bytes are all at the destination now.
    const auto want = tensor_bytes(model, t.name);
    if (d.size != want.size() ||
        (!want.empty() && (d.data == nullptr || std::memcmp(d.data, want.data(), want.size()) != 0))) {
      incomplete_at_ready.push_back(t.name);
    }
  };
  std::vector<LoadProgress> progress;
  options.on_progress = [&](const LoadProgress& p) { progress.push_back(p); };

  Loader loader;
  auto report = loader.load(model, sink, options);
  ASSERT_LOADED_OR_SKIP(report, strategy);

  if (sink_kind == SinkKind::host) {
    EXPECT_TRUE(holds_model(host, model));
  } else {
    EXPECT_EQ(null.bytes_seen(), total);
    // The generated files keep every tensor at a multiple of 8 (so chunk cuts are too).
    for (const TensorInfo& t : tensors) ASSERT_EQ(t.offset % 8, 0U) << t.name;
    EXPECT_EQ(null.fold(), fold_of_model(model));
  }

  // Per-tensor digests, in file order, of what went through the ring.
  ASSERT_EQ(report->digests.size(), tensors.size());
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const TensorDigest& d = report->digests[i];
    EXPECT_EQ(d.name, tensors[i].name);
    EXPECT_EQ(d.offset, tensors[i].offset) << d.name;
    EXPECT_EQ(d.size, tensors[i].size) << d.name;
    EXPECT_EQ(d.sha256, sha256_hex(tensor_bytes(model, tensors[i].name))) << d.name;
  }

  // on_tensor_ready: once per tensor, file order, destination sized right, bytes already there.
  EXPECT_EQ(ready_names, model.tensor_names());
  std::vector<std::uint64_t> sizes;
  for (const TensorInfo& t : tensors) sizes.push_back(t.size);
  EXPECT_EQ(ready_sizes, sizes);
  EXPECT_TRUE(incomplete_at_ready.empty())
      << "ready before its bytes landed: " << incomplete_at_ready.front();

  // Progress never runs backwards and knows the totals (that the last report carries them is
  // LoaderProgress's test).
  ASSERT_FALSE(progress.empty());
  for (std::size_t i = 0; i < progress.size(); ++i) {
    EXPECT_EQ(progress[i].bytes_total, total);
    EXPECT_EQ(progress[i].tensors_total, tensors.size());
    EXPECT_LE(progress[i].bytes_done, total);
    if (i > 0) {
      EXPECT_GE(progress[i].bytes_done, progress[i - 1].bytes_done);
    }
  }

  EXPECT_EQ(report->path, model.path());
  EXPECT_EQ(report->requested, strategy);
  if (strategy == Strategy::automatic) {
    EXPECT_TRUE(report->strategy == Strategy::mmap_pipelined || report->strategy == Strategy::uring_direct ||
                report->strategy == Strategy::uring)
        << "auto ran " << to_string(report->strategy);
  } else {
    EXPECT_EQ(report->strategy, explicit_strategy_run(model, strategy))
        << "ran " << to_string(report->strategy) << " for " << to_string(strategy);
  }
  EXPECT_EQ(report->sink, sink.name());
  EXPECT_EQ(report->bytes, total);
  EXPECT_EQ(report->tensors, tensors.size());
  EXPECT_GE(report->bytes_read, total);
  EXPECT_LE(report->bytes_read, model.image().size());
  // Reads that land wherever they are told go straight into a host sink's file images (no staging
  // copy), each tensor then at its file offset's place modulo the page; everything else stages.
  const bool reads_anywhere =
      report->strategy == Strategy::uring || report->strategy == Strategy::uring_direct ||
      report->strategy == Strategy::uring_dontcache || report->strategy == Strategy::pread_direct;
  const bool in_place = sink_kind == SinkKind::host && reads_anywhere;
  EXPECT_EQ(report->bytes_read_in_place, in_place ? report->bytes_read : 0U);
  if (in_place) {
    for (std::uint32_t i = 0; i < tensors.size(); ++i) {
      if (tensors[i].size == 0) continue;
      EXPECT_EQ((reinterpret_cast<std::uintptr_t>(host.destination(i).data) - tensors[i].offset) % kPage, 0U)
          << tensors[i].name;
    }
  }
  // The baselines read no staging slots and get no ring (it would inflate their peak RSS).
  EXPECT_EQ(report->staging_bytes, !is_baseline(strategy) ? kRingBytes : 0U);
  EXPECT_GE(report->time_to_first_tensor_s, 0);
  EXPECT_LE(report->time_to_first_tensor_s, report->wall_s);
  EXPECT_GT(report->wall_s, 0);
  if (model.is_mmap()) {
    EXPECT_EQ(report->file_total_pages, (model.file_size() + kPage - 1) / kPage);
  } else if (strategy != Strategy::read && strategy != Strategy::mmap &&
             strategy != Strategy::mmap_pipelined) {
    EXPECT_FALSE(report->warnings.empty())
        << "a heap model read from memory instead of " << to_string(strategy) << " must say so";
  }
}

std::string matrix_case_name(const ::testing::TestParamInfo<std::tuple<Strategy, SinkKind, FileKind>>& info) {
  return fmt::format("{}_{}_{}", strategy_label(std::get<0>(info.param)),
                     std::get<1>(info.param) == SinkKind::host ? "host" : "null",
                     file_label(std::get<2>(info.param)));
}

INSTANTIATE_TEST_SUITE_P(, LoaderMatrix,
                         ::testing::Combine(::testing::ValuesIn(all_strategies().begin(),
                                                                all_strategies().end()),
                                            ::testing::Values(SinkKind::host, SinkKind::null),
                                            ::testing::Values(FileKind::safetensors, FileKind::gguf,
                                                              FileKind::apr, FileKind::apr_zstd)),
                         matrix_case_name);

// ---------------------------------------------------------------------------------------------
// Real files, every strategy, host sink.

class LoaderFixtures : public ::testing::TestWithParam<Strategy> {};

TEST_P(LoaderFixtures, DeliverEveryTensorByteExact) {
  const Strategy strategy = GetParam();
  const auto dir = test::fixtures_dir();
  if (!dir) GTEST_SKIP() << "fixtures not found (set RINGLOAD_FIXTURES to shared/fixtures)";
  // 1-byte unaligned I8 tensors; rank-0 tensors; GGUF alignment 64; a GGUF with F16/F32 data;
  // GGUF v1; many dtypes; a file with no tensors at all.
  const std::vector<std::string> names = {
      "hadamards.safetensors",
      "burn-mnist.safetensors",
      "emel-lifecycle-smoke-align64.gguf",
      "ollama-llama-2-tiny-random.gguf",
      "crabml-tinyllamas-stories-260k-f32-v1.gguf",
      "jl-model-alldtypes.safetensors",
      "ollama-minicpm3-4b-testdata.safetensors",
      "ggml-vocab-gpt-2.gguf",
  };
  for (const std::string& name : names) {
    SCOPED_TRACE(name);
    const auto path = *dir / name;
    if (!std::filesystem::exists(path)) GTEST_SKIP() << "fixture " << name << " not found";
    const Model model = load_model(path);
    HostSink sink;
    PipelineOptions options = small_ring(strategy);
    std::uint32_t ready = 0;
    options.on_tensor_ready = [&](const TensorInfo&, const Destination&) { ++ready; };
    Loader loader;
    auto report = loader.load(model, sink, options);
    ASSERT_LOADED_OR_SKIP(report, strategy);
    EXPECT_TRUE(holds_model(sink, model));
    EXPECT_EQ(ready, model.tensors().size());
    EXPECT_EQ(report->tensors, model.tensors().size());
    EXPECT_EQ(report->bytes, total_bytes(model));
  }
}

INSTANTIATE_TEST_SUITE_P(, LoaderFixtures,
                         ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

// ---------------------------------------------------------------------------------------------
// Empty tensors and odd sizes, built by hand.

struct HandTensor {
  std::string name;
  const char* dtype;
  std::vector<std::uint64_t> shape;
  std::uint64_t size = 0;
};

// safetensors with empty tensors first, in the middle (two sharing an offset with a non-empty
// one) and last; a tensor of an odd size so the next one starts at an odd offset; and a file
// size that is not a multiple of 4 KiB. Tensor bytes are the generator's content for seed 7.
std::vector<std::byte> edge_case_safetensors() {
  const std::vector<HandTensor> tensors = {
      {"a.empty", "U8", {0}, 0},      {"b.odd", "U8", {100001}, 100001}, {"c.empty", "F32", {0}, 0},
      {"d.empty", "BF16", {3, 0}, 0}, {"e.f32", "F32", {70000}, 280000}, {"f.small", "U8", {3}, 3},
      {"g.empty", "U8", {0}, 0},
  };
  std::string header = "{";
  std::uint64_t begin = 0;
  for (std::size_t k = 0; k < tensors.size(); ++k) {
    const HandTensor& t = tensors[k];
    if (k > 0) header += ',';
    header += fmt::format(R"("{}":{{"dtype":"{}","shape":[{}],"data_offsets":[{},{}]}})", t.name, t.dtype,
                          fmt::join(t.shape, ","), begin, begin + t.size);
    begin += t.size;
  }
  header += "}";
  if ((8 + header.size() + begin) % kPage == 0) header += ' ';
  ByteBuilder b;
  b.u64(header.size()).str(header);
  for (const HandTensor& t : tensors) {
    std::vector<std::byte> bytes(t.size);
    gen::fill_tensor_bytes(gen::tensor_key(7, t.name), 0, bytes);
    b.append(bytes);
  }
  return b.take();
}

class LoaderEdge : public ::testing::TestWithParam<Strategy> {};

TEST_P(LoaderEdge, ZeroSizeTensorsAndAnOddFileSizeLoadByteExact) {
  const Strategy strategy = GetParam();
  TempDir dir;
  const auto path = test::write_file(dir.file("edge.safetensors"), edge_case_safetensors());
  const Model model = load_model(path);
  ASSERT_NE(model.file_size() % kPage, 0U);
  ASSERT_EQ(model.tensors().size(), 7U);
  HostSink sink;
  PipelineOptions options = small_ring(strategy);
  options.checksum_sha256 = true;
  std::vector<std::string> ready;
  options.on_tensor_ready = [&](const TensorInfo& t, const Destination& d) {
    ready.push_back(t.name);
    EXPECT_EQ(d.size, t.size) << t.name;
  };
  Loader loader;
  auto report = loader.load(model, sink, options);
  ASSERT_LOADED_OR_SKIP(report, strategy);
  EXPECT_TRUE(holds_model(sink, model));
  EXPECT_EQ(ready, (std::vector<std::string>{"a.empty", "b.odd", "c.empty", "d.empty", "e.f32", "f.small",
                                             "g.empty"}));
  ASSERT_EQ(report->digests.size(), 7U);
  EXPECT_EQ(report->digests[0].sha256, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855")
      << "an empty tensor's digest is the SHA-256 of no bytes";
  EXPECT_EQ(report->digests[4].sha256, sha256_hex(tensor_bytes(model, "e.f32")));
  EXPECT_EQ(report->bytes, 380004U);
}

INSTANTIATE_TEST_SUITE_P(, LoaderEdge, ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

// Regression (was a bug in src/sink/null_sink.cpp, NullSink::write): the fold starts a new 64-bit word at the
// start of every write, so it depends on where the pipeline cuts a tensor, not only on the bytes: a tensor at
// an odd offset that crosses a chunk boundary folds differently under the pipelined strategies than under
// read/mmap, which hand it over whole.
TEST(LoaderNullSink, FoldDependsOnlyOnTheBytesNotOnTheStrategy) {
  TempDir dir;
  const auto path = test::write_file(dir.file("edge.safetensors"), edge_case_safetensors());
  const Model model = load_model(path);
  ASSERT_NE(model.tensor("e.f32")->offset % 8, 0U) << "the case needs a tensor at an odd offset";
  for (Strategy strategy : all_strategies()) {
    SCOPED_TRACE(to_string(strategy));
    NullSink sink;
    Loader loader;
    auto report = loader.load(model, sink, small_ring(strategy));
    if (!report && environment_refuses(strategy, report.error())) continue;
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_EQ(sink.bytes_seen(), 380004U);
    EXPECT_EQ(sink.fold(), fold_of_model(model));
  }
}

// ---------------------------------------------------------------------------------------------
// Name filter and shards.

class LoaderSlices : public ::testing::TestWithParam<Strategy> {};

TEST_P(LoaderSlices, NameFilterDeliversOnlyTheNamedTensorsInFileOrder) {
  const Strategy strategy = GetParam();
  TempDir dir;
  const Model model = load_model(generate_file(dir.file("m.gguf"), gen_options(Format::gguf, 2ULL << 20, 3)));
  const auto all = model.tensor_names();
  ASSERT_GE(all.size(), 4U);
  PipelineOptions options = small_ring(strategy);
  options.tensor_names = {all.back(), all[2], all.front()};  // not in file order on purpose
  options.checksum_sha256 = true;
  HostSink sink;
  Loader loader;
  auto report = loader.load(model, sink, options);
  ASSERT_LOADED_OR_SKIP(report, strategy);
  const std::vector<std::string> expected = {all.front(), all[2], all.back()};
  ASSERT_EQ(sink.tensor_count(), 3U);
  ASSERT_EQ(report->digests.size(), 3U);
  std::uint64_t bytes = 0;
  for (std::uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(report->digests[i].name, expected[i]);
    EXPECT_TRUE(same_bytes(sink.bytes(i), tensor_bytes(model, expected[i]))) << expected[i];
    bytes += model.tensor(expected[i])->size;
  }
  EXPECT_EQ(report->tensors, 3U);
  EXPECT_EQ(report->bytes, bytes);
}

TEST_P(LoaderSlices, ShardRanksConcatenateToEveryTensorCutOnBlocks) {
  const Strategy strategy = GetParam();
  TempDir dir;
  auto options_q4k = gen_options(Format::gguf, 2ULL << 20, 9);
  options_q4k.dtype = DType::Q4_K;
  const Model model = load_model(generate_file(dir.file("q4k.gguf"), options_q4k));
  constexpr std::uint32_t kWorld = 3;
  std::vector<std::vector<std::byte>> joined(model.tensors().size());
  for (std::uint32_t rank = 0; rank < kWorld; ++rank) {
    SCOPED_TRACE(fmt::format("rank {} of {}", rank, kWorld));
    PipelineOptions options = small_ring(strategy);
    options.shard_rank = rank;
    options.shard_world = kWorld;
    HostSink sink;
    Loader loader;
    auto report = loader.load(model, sink, options);
    ASSERT_LOADED_OR_SKIP(report, strategy);
    ASSERT_EQ(sink.tensor_count(), model.tensors().size());
    for (std::uint32_t i = 0; i < sink.tensor_count(); ++i) {
      const TensorInfo& t = model.tensors()[i];
      const std::uint64_t block = dtype_info(t.dtype).block_bytes;
      EXPECT_EQ(sink.bytes(i).size() % block, 0U) << t.name << " cut inside a block";
      EXPECT_EQ(report->digests[i].offset, t.offset + joined[i].size()) << t.name;
      joined[i].insert(joined[i].end(), sink.bytes(i).begin(), sink.bytes(i).end());
    }
  }
  for (std::uint32_t i = 0; i < joined.size(); ++i) {
    const TensorInfo& t = model.tensors()[i];
    EXPECT_TRUE(same_bytes(joined[i], tensor_bytes(model, t.name))) << t.name;
  }
}

INSTANTIATE_TEST_SUITE_P(, LoaderSlices,
                         ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

// ---------------------------------------------------------------------------------------------
// One Loader, many loads.

// Into a host sink without a checksum, the baselines and mmap-pipelined copy in place (from the
// heap or the mapping straight to the destination): only the reading strategies take a ring.
bool uses_ring_into_host(Strategy ran) { return !is_baseline(ran) && ran != Strategy::mmap_pipelined; }

class LoaderReuse : public ::testing::TestWithParam<Strategy> {};

TEST_P(LoaderReuse, OneLoaderLoadsThreeFilesThenResizesItsRing) {
  const Strategy strategy = GetParam();
  TempDir dir;
  const std::vector<std::filesystem::path> paths = {
      generate_file(dir.file("a.safetensors"), gen_options(Format::safetensors, 1ULL << 20, 21)),
      generate_file(dir.file("b.gguf"), gen_options(Format::gguf, 2ULL << 20, 22)),
      generate_file(dir.file("c.apr"), gen_options(Format::apr, 1ULL << 20, 23)),
  };
  Loader loader;
  for (const auto& path : paths) {
    SCOPED_TRACE(path.filename().string());
    const Model model = load_model(path);
    HostSink sink;
    auto report = loader.load(model, sink, small_ring(strategy));
    ASSERT_LOADED_OR_SKIP(report, strategy);
    EXPECT_EQ(report->staging_bytes, uses_ring_into_host(report->strategy) ? kRingBytes : 0U);
    EXPECT_TRUE(holds_model(sink, model));
  }
  // A different ring shape replaces the ring (and, for io_uring, its registered buffers).
  for (std::uint32_t slots : {7U, kSlots}) {
    SCOPED_TRACE(fmt::format("{} slots", slots));
    const Model model = load_model(paths[1]);
    HostSink sink;
    PipelineOptions options = small_ring(strategy);
    options.slot_count = slots;
    auto report = loader.load(model, sink, options);
    ASSERT_LOADED_OR_SKIP(report, strategy);
    EXPECT_EQ(report->staging_bytes, uses_ring_into_host(report->strategy) ? slots * kSlotBytes : 0U);
    EXPECT_TRUE(holds_model(sink, model));
  }
}

INSTANTIATE_TEST_SUITE_P(, LoaderReuse, ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

// Regression (was a bug in src/io/uring.cpp, Uring::create; src/pipeline/loader.cpp,
// Loader::Impl::ensure_uring): the ring is created IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN
// and kept by the Loader, so the next load from another thread fails with io_uring_submit_and_wait's EEXIST
// ("File exists") as ErrorKind::io, on every io_uring strategy.
TEST(LoaderThreads, SameLoaderLoadsAgainFromAnotherThread) {
  // A service hands loads to whichever worker thread is free (DESIGN.md "Asio API"); the Loader
  // is not thread-safe, but one load at a time from different threads must work.
  TempDir dir;
  const Model model =
      load_model(generate_file(dir.file("m.safetensors"), gen_options(Format::safetensors, 1ULL << 20, 41)));
  for (Strategy strategy : all_strategies()) {
    SCOPED_TRACE(to_string(strategy));
    Loader loader;
    HostSink first;
    auto here = loader.load(model, first, small_ring(strategy));
    if (!here && environment_refuses(strategy, here.error())) continue;
    ASSERT_TRUE(here) << here.error().to_string();
    HostSink second;
    std::optional<Result<LoadReport>> there;
    std::thread worker([&] { there.emplace(loader.load(model, second, small_ring(strategy))); });
    worker.join();
    ASSERT_TRUE(there.has_value());
    EXPECT_TRUE(*there) << there->error().to_string();
    if (*there) EXPECT_TRUE(holds_model(second, model));
  }
}

TEST(LoaderUring, ManySmallReadsThroughAShallowQueueStayByteExact) {
  // 4 KiB reads into 1 MiB slots at queue depth 1: hundreds of reads per chunk, more than the
  // ring's submission and completion queues hold at once.
  TempDir dir;
  const Model model =
      load_model(generate_file(dir.file("m.gguf"), gen_options(Format::gguf, 4ULL << 20, 42)));
  for (Strategy strategy :
       {Strategy::uring, Strategy::uring_direct, Strategy::uring_dontcache, Strategy::pread_direct}) {
    SCOPED_TRACE(to_string(strategy));
    PipelineOptions options = small_ring(strategy);
    options.slot_size = 1ULL << 20;
    options.read_size = 4096;
    options.queue_depth = 1;
    HostSink sink;
    Loader loader;
    auto report = loader.load(model, sink, options);
    if (!report && environment_refuses(strategy, report.error())) continue;
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_TRUE(holds_model(sink, model));
  }
}

TEST(LoaderUring, DeeperQueueThanTheRingWasCreatedForStaysByteExact) {
  // The Loader sizes its io_uring at the first load (queue depth 1 → 8 entries); a later load
  // asks for 256 reads in flight, far more than the submission and completion queues hold.
  TempDir dir;
  const Model model =
      load_model(generate_file(dir.file("m.gguf"), gen_options(Format::gguf, 8ULL << 20, 45)));
  for (Strategy strategy : {Strategy::uring, Strategy::uring_direct, Strategy::uring_dontcache}) {
    SCOPED_TRACE(to_string(strategy));
    Loader loader;
    PipelineOptions shallow = small_ring(strategy);
    shallow.queue_depth = 1;
    HostSink first;
    auto report = loader.load(model, first, shallow);
    if (!report && environment_refuses(strategy, report.error())) continue;
    ASSERT_TRUE(report) << report.error().to_string();
    PipelineOptions deep = small_ring(strategy);
    deep.slot_count = 8;
    deep.slot_size = 1ULL << 20;
    deep.read_size = 4096;
    deep.queue_depth = 256;
    HostSink second;
    auto again = loader.load(model, second, deep);
    ASSERT_TRUE(again) << again.error().to_string();
    EXPECT_TRUE(holds_model(second, model));
  }
}

// ---------------------------------------------------------------------------------------------
// A file replaced (written to a temporary name and renamed over it, as every careful writer
// does) between Model::load and the load: the Model's mapping and fd still hold the old file.

// Regression (was a bug in src/pipeline/loader.cpp, Loader::Impl::load and run_read): the uring strategies
// reopen model.path() (UniqueFd::open(model.path(), ...)) and `read` calls read_file(model.path()) instead of
// reading through the Model's open fd, so after a rename over the path they read the *new* file at the old
// plan's offsets: a successful load of bytes that are not the Model's.
class LoaderReplacedFile : public ::testing::TestWithParam<Strategy> {};

TEST_P(LoaderReplacedFile, LoadsTheFileTheModelOpenedNotItsReplacement) {
  const Strategy strategy = GetParam();
  TempDir dir;
  const auto path =
      generate_file(dir.file("m.safetensors"), gen_options(Format::safetensors, 1ULL << 20, 51));
  const Model model = load_model(path);
  // Same shapes, other bytes: every offset in the Model's plan stays valid in the new file.
  generate_file(path, gen_options(Format::safetensors, 1ULL << 20, 52));
  HostSink sink;
  Loader loader;
  auto report = loader.load(model, sink, small_ring(strategy));
  ASSERT_LOADED_OR_SKIP(report, strategy);
  EXPECT_TRUE(holds_model(sink, model));
}

INSTANTIATE_TEST_SUITE_P(, LoaderReplacedFile,
                         ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

// ---------------------------------------------------------------------------------------------
// An asynchronous sink (what the CUDA sink is): the pipeline must not refill a slot the sink
// still reads, and must not call a tensor ready before its copies have run.

// write() only queues the copy out of the staging slot; it runs when the slot is polled idle
// (slot_idle says "busy" the first time it is asked), at wait_slot_idle, or at finish(). A slot
// refilled too early shows up as wrong bytes; a tensor called ready too early, as a destination
// that does not hold its bytes yet. Bytes outside the ring (kNoSlot) are copied at once.
class DeferredSink final : public Sink {
 public:
  [[nodiscard]] std::string_view name() const override { return "deferred"; }
  Result<void> prepare(std::span<const SinkTensor> tensors) override {
    buffers_.assign(tensors.size(), {});
    for (const SinkTensor& t : tensors) buffers_[t.index].resize(t.size);
    pending_.assign(kSlots, {});
    polls_.assign(kSlots, 0);
    return {};
  }
  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override {
    if (index >= buffers_.size() || offset + bytes.size() > buffers_[index].size()) {
      return make_error(ErrorKind::invalid_argument, "write outside the destination");
    }
    if (slot == kNoSlot) {
      if (!bytes.empty()) std::memcpy(buffers_[index].data() + offset, bytes.data(), bytes.size());
      return {};
    }
    if (slot >= pending_.size() || bytes.size() > kSlotBytes) {
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("bytes not from one of {} staging slots", kSlots));
    }
    pending_[slot].push_back({index, offset, bytes});
    polls_[slot] = 0;
    return {};
  }
  Result<bool> slot_idle(std::uint32_t slot) override {
    if (pending_[slot].empty()) return true;
    if (++polls_[slot] < 2) return false;
    complete(slot);
    return true;
  }
  Result<void> wait_slot_idle(std::uint32_t slot) override {
    complete(slot);
    return {};
  }
  Result<void> finish() override {
    for (std::uint32_t s = 0; s < pending_.size(); ++s) complete(s);
    return {};
  }
  [[nodiscard]] Destination destination(std::uint32_t index) const override {
    if (index >= buffers_.size()) return {};
    return Destination{const_cast<std::byte*>(buffers_[index].data()), buffers_[index].size(), true};
  }
  [[nodiscard]] std::span<const std::byte> bytes(std::uint32_t index) const { return buffers_[index]; }

 private:
  struct Copy {
    std::uint32_t index;
    std::uint64_t offset;
    std::span<const std::byte> bytes;
  };
  void complete(std::uint32_t slot) {
    for (const Copy& c : pending_[slot]) {
      if (!c.bytes.empty()) std::memcpy(buffers_[c.index].data() + c.offset, c.bytes.data(), c.bytes.size());
    }
    pending_[slot].clear();
  }

  std::vector<std::vector<std::byte>> buffers_;
  std::vector<std::vector<Copy>> pending_;
  std::vector<std::uint32_t> polls_;
};

class LoaderAsyncSink : public ::testing::TestWithParam<Strategy> {};

TEST_P(LoaderAsyncSink, NoSlotIsRefilledBeforeTheSinkHasReadIt) {
  const Strategy strategy = GetParam();
  TempDir dir;
  const Model model =
      load_model(generate_file(dir.file("m.gguf"), gen_options(Format::gguf, 3ULL << 20, 43)));
  DeferredSink sink;
  Loader loader;
  auto report = loader.load(model, sink, small_ring(strategy));
  ASSERT_LOADED_OR_SKIP(report, strategy);
  for (std::uint32_t i = 0; i < model.tensors().size(); ++i) {
    EXPECT_TRUE(same_bytes(sink.bytes(i), tensor_bytes(model, model.tensors()[i].name)))
        << model.tensors()[i].name;
  }
}

// Regression (was a bug in src/pipeline/loader.cpp, Loader::Impl::run_pipelined):
// tensors_ready_through(next_deliver) fires on_tensor_ready as soon as a chunk's writes have been *issued* to
// the sink, without waiting for slot_idle on the slots that hold the tensor's bytes; with an asynchronous
// sink (cudaMemcpyAsync) the callback runs while the copies are still in flight, although the header promises
// "as each tensor is complete at the sink".
TEST_P(LoaderAsyncSink, TensorIsReadyOnlyOnceItsBytesAreAtTheDestination) {
  const Strategy strategy = GetParam();
  TempDir dir;
  const Model model =
      load_model(generate_file(dir.file("m.gguf"), gen_options(Format::gguf, 3ULL << 20, 44)));
  DeferredSink sink;
  PipelineOptions options = small_ring(strategy);
  std::vector<std::string> early;
  options.on_tensor_ready = [&](const TensorInfo& t, const Destination& d) {
    const auto want = tensor_bytes(model, t.name);
    if (d.size != want.size() || (!want.empty() && std::memcmp(d.data, want.data(), want.size()) != 0)) {
      early.push_back(t.name);
    }
  };
  Loader loader;
  auto report = loader.load(model, sink, options);
  ASSERT_LOADED_OR_SKIP(report, strategy);
  EXPECT_TRUE(early.empty()) << early.size() << " of " << model.tensors().size()
                             << " tensors reported ready before their bytes landed, first " << early.front();
}

INSTANTIATE_TEST_SUITE_P(, LoaderAsyncSink,
                         ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

// ---------------------------------------------------------------------------------------------
// Progress and the timeline.

// Regression (was a bug in src/pipeline/loader.cpp, Delivery::progress / Loader::Impl::load): on_progress is
// rate-limited to one call per 50 ms and nothing forces a final call (progress(true) is never
// used), so a load that finishes within 50 ms of its previous report never tells the caller it
// reached the total.
TEST(LoaderProgress, LastReportCarriesTheTotalsOnEveryStrategy) {
  TempDir dir;
  const Model model =
      load_model(generate_file(dir.file("m.safetensors"), gen_options(Format::safetensors, 2ULL << 20, 4)));
  for (Strategy strategy : all_strategies()) {
    SCOPED_TRACE(to_string(strategy));
    NullSink sink;
    PipelineOptions options = small_ring(strategy);
    std::optional<LoadProgress> last;
    options.on_progress = [&](const LoadProgress& p) { last = p; };
    Loader loader;
    auto report = loader.load(model, sink, options);
    if (!report && environment_refuses(strategy, report.error())) continue;
    ASSERT_TRUE(report) << report.error().to_string();
    ASSERT_TRUE(last.has_value());
    EXPECT_EQ(last->bytes_done, total_bytes(model));
    EXPECT_EQ(last->bytes_total, total_bytes(model));
    EXPECT_EQ(last->tensors_done, model.tensors().size());
    EXPECT_EQ(last->tensors_total, model.tensors().size());
  }
}

TEST(LoaderTimeline, RecordsAReadCopyAndReleaseSpanPerChunk) {
  TempDir dir;
  const Model model = load_model(generate_file(dir.file("m.gguf"), gen_options(Format::gguf, 2ULL << 20, 6)));
  for (Strategy strategy : {Strategy::mmap_pipelined, Strategy::uring}) {
    SCOPED_TRACE(to_string(strategy));
    PipelineOptions options = small_ring(strategy);
    options.record_timeline = true;
    NullSink sink;
    Loader loader;
    auto report = loader.load(model, sink, options);
    ASSERT_LOADED_OR_SKIP(report, strategy);
    // mmap-pipelined into the null sink copies in place (no slot, byte-exact chunk edges); uring
    // reads 4 KiB-aligned chunks into slots.
    const bool in_place = strategy == Strategy::mmap_pipelined;
    PlanOptions plan_options;
    plan_options.slot_size = options.slot_size;
    plan_options.max_gap = options.read_size;
    plan_options.alignment = in_place ? 1 : 4096;
    auto plan = make_plan(model, plan_options);
    ASSERT_TRUE(plan);
    std::size_t spans[3] = {0, 0, 0};
    for (const TimelineSpan& s : report->timeline) {
      ++spans[static_cast<int>(s.stage)];
      EXPECT_LE(s.start_s, s.end_s);
      if (in_place) {
        EXPECT_EQ(s.slot, kNoSlot);
      } else {
        EXPECT_LT(s.slot, kSlots);
      }
    }
    EXPECT_EQ(spans[0], plan->chunks.size()) << "read spans";
    EXPECT_EQ(spans[1], plan->chunks.size()) << "copy spans";
    EXPECT_EQ(spans[2], plan->chunks.size()) << "release spans";
    auto trace = parse_json(timeline_trace_json(*report), 0);
    ASSERT_TRUE(trace) << trace.error().to_string();
    auto events = trace->find("traceEvents");
    ASSERT_NE(events, trace->end());
    EXPECT_EQ(events->size(), report->timeline.size() + 4) << "three lane names, a process name, the spans";
  }
}

// ---------------------------------------------------------------------------------------------
// Release: what a load leaves in the page cache.

std::filesystem::path write_synced_model(const TempDir& dir) {
  const auto path =
      generate_file(dir.file("release.safetensors"), gen_options(Format::safetensors, 16ULL << 20, 8));
  // Dirty pages cannot be dropped from the page cache: the residency checks need clean ones.
  auto fd = UniqueFd::open(path, O_RDONLY);
  EXPECT_TRUE(fd) << fd.error().to_string();
  if (fd) {
    EXPECT_EQ(::fsync(fd->get()), 0);
  }
  return path;
}

Residency residency_of(const std::filesystem::path& path) {
  auto r = file_residency(path);
  EXPECT_TRUE(r) << r.error().to_string();
  return r ? *r : Residency{};
}

class LoaderRelease : public ::testing::TestWithParam<Strategy> {};

TEST_P(LoaderRelease, ReleasedLoadOfACachedFileLeavesAtMostOnePercentResident) {
  const Strategy strategy = GetParam();
  TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "tmpfs keeps pages in memory by design";
  const auto path = write_synced_model(dir);
  // Start warm: every page cached, so release has everything to drop.
  ASSERT_TRUE(read_file(path));
  const Residency before = residency_of(path);
  ASSERT_GE(before.resident_pages * 100, before.total_pages * 90) << "the file did not stay cached";

  const Model model = load_model(path);
  HostSink sink;
  PipelineOptions options = small_ring(strategy);
  options.slot_size = 1ULL << 20;
  options.release = true;
  Loader loader;
  auto report = loader.load(model, sink, options);
  ASSERT_LOADED_OR_SKIP(report, strategy);
  // Measured before the bytes are checked: reading Model::tensor_bytes faults the file back in.
  const Residency after = residency_of(path);
  EXPECT_LE(after.resident_pages * 100, after.total_pages)
      << after.resident_pages << " of " << after.total_pages << " pages still cached (" << after.method
      << ")";
  EXPECT_EQ(report->file_total_pages, after.total_pages);
  EXPECT_LE(report->file_resident_pages_after * 100, report->file_total_pages);
  EXPECT_TRUE(holds_model(sink, model));
}

TEST(CompressedAprRelease, NothingStaysCachedOnceDecoded) {
  TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "tmpfs keeps pages in memory by design";
  const auto path =
      generate_file(dir.file("z.apr"), gen_options(Format::apr, 4ULL << 20, 9, gen::Compression::zstd));
  {  // written back, then read warm: every page cached before the model opens
    auto fd = UniqueFd::open(path, O_RDONLY);
    ASSERT_TRUE(fd);
    ASSERT_EQ(::fsync(fd->get()), 0);
  }
  ASSERT_TRUE(read_file(path));
  ASSERT_GT(residency_of(path).resident_pages, 0U);
  // The model holds the decoded image on the heap: the compressed file's pages serve nothing.
  const Model model = load_model(path);
  ASSERT_FALSE(model.is_mmap());
  EXPECT_EQ(residency_of(path).resident_pages, 0U);
  HostSink sink;
  auto report = load_into(model, sink, small_ring(Strategy::automatic));
  ASSERT_TRUE(report) << report.error().to_string();
  EXPECT_EQ(report->file_resident_pages_after, 0U);
  EXPECT_TRUE(holds_model(sink, model));
}

INSTANTIATE_TEST_SUITE_P(, LoaderRelease,
                         ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

TEST(LoaderReleaseOff, MmapPipelinedLeavesTheFileCached) {
  TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "tmpfs keeps pages in memory by design";
  const auto path = write_synced_model(dir);
  const Model model = load_model(path);
  // Start cold, so whatever is cached afterwards is what the load left. (The mapping holds the
  // header's pages since the open, so a bare FADV_DONTNEED would leave their folio cached.)
  ASSERT_TRUE(model.release_cpu_pages());
  const Residency cold = residency_of(path);
  ASSERT_LE(cold.resident_pages * 100, cold.total_pages) << "the file could not be evicted first";

  HostSink sink;
  PipelineOptions options = small_ring(Strategy::mmap_pipelined);
  options.slot_size = 1ULL << 20;
  options.release = false;
  Loader loader;
  auto report = loader.load(model, sink, options);
  ASSERT_TRUE(report) << report.error().to_string();
  // Measured before the bytes are checked, which would fault every page in by itself.
  const Residency after = residency_of(path);
  EXPECT_GE(after.resident_pages * 100, after.total_pages * 90)
      << after.resident_pages << " of " << after.total_pages << " pages cached (" << after.method << ")";
  EXPECT_GE(report->file_resident_pages_after * 100, report->file_total_pages * 90);
  EXPECT_TRUE(holds_model(sink, model));
}

}  // namespace
}  // namespace ringload

namespace ringload {
namespace {

// A one-shot load makes a ring for itself alone: never larger than its bytes rounded up to whole
// slots (a 3 MiB model does not pay for the whole 16-slot ring); a Loader keeps the full ring.
TEST(LoaderRingSize, AOneShotRingIsSizedToHalfTheWorkAndALoadersIsNot) {
  TempDir dir;
  const Model model =
      load_model(generate_file(dir.file("m.safetensors"), gen_options(Format::safetensors, 3ULL << 20, 51)));
  const std::uint64_t bytes = total_bytes(model);
  for (Strategy strategy : {Strategy::uring_direct, Strategy::uring}) {
    SCOPED_TRACE(to_string(strategy));
    PipelineOptions options = small_ring(strategy);
    options.slot_count = 64;  // 64 x 64 KiB = 4 MiB: more than the model needs
    HostSink once;
    auto report = load_into(model, once, options);
    ASSERT_LOADED_OR_SKIP(report, strategy);
    // Half the slots the model's bytes fill, reused (a fresh ring costs a first touch per byte).
    const std::uint64_t filled = (bytes + kSlotBytes - 1) / kSlotBytes;
    ASSERT_GT(filled, 2U);
    EXPECT_EQ(report->staging_bytes, (filled + 1) / 2 * kSlotBytes);
    EXPECT_TRUE(report->staging_registered) << "slots registered one by one as first used";
    EXPECT_TRUE(holds_model(once, model));
    Loader loader;
    HostSink kept;
    auto reused = loader.load(model, kept, options);
    ASSERT_TRUE(reused) << reused.error().to_string();
    EXPECT_EQ(reused->staging_bytes, 64 * kSlotBytes);
    EXPECT_TRUE(holds_model(kept, model));
  }
}

}  // namespace
}  // namespace ringload
