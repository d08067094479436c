// A whole checkpoint through one load: every strategy × {host, null} byte-exact with each tensor's
// file named; digests equal to loading each shard on its own; the name filter and shards across
// the set; 300 small shards with fds and mappings bounded during the load and back after; a
// cancel in the middle of shard 150 that leaves nothing behind.
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "io/page_cache.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/pipeline.hpp"
#include "support/build_bytes.hpp"
#include "support/pipeline.hpp"
#include "support/process_counts.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::environment_refuses;
using test::small_ring;
using test::strategy_label;

// A safetensors shard of U8 tensors "PREFIX.wK" of the given sizes, every byte a function of
// (shard, tensor, position): a byte in the wrong place or the wrong file cannot compare equal.
std::filesystem::path write_shard(const std::filesystem::path& path, const std::string& prefix,
                                  const std::vector<std::uint64_t>& sizes) {
  std::string header = "{";
  std::uint64_t at = 0;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    header += fmt::format(R"({}"{}.w{}":{{"dtype":"U8","shape":[{}],"data_offsets":[{},{}]}})", k ? "," : "",
                          prefix, k, sizes[k], at, at + sizes[k]);
    at += sizes[k];
  }
  header += "}";
  while ((8 + header.size()) % 8 != 0) header += ' ';
  test::ByteBuilder b;
  b.u64(header.size()).str(header);
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    const std::uint64_t seed = std::hash<std::string>{}(prefix) + k * 7919;
    for (std::uint64_t p = 0; p < sizes[k]; ++p)
      b.u8(static_cast<std::uint8_t>((p * 131 + seed + (p >> 11)) & 0xff));
  }
  const auto file = test::write_file(path, b.bytes());
  return file;
}

// Five shards of mixed sizes: tensors larger than the 256 KiB test ring, odd sizes, an empty one.
std::vector<std::filesystem::path> five_shards(const test::TempDir& dir) {
  return {write_shard(dir.file("s0.safetensors"), "a", {300000, 17, 4096}),
          write_shard(dir.file("s1.safetensors"), "b", {0, 1, 700001}),
          write_shard(dir.file("s2.safetensors"), "c", {65536}),
          write_shard(dir.file("s3.safetensors"), "d", {123, 456, 789, 262144 * 2 + 3}),
          write_shard(dir.file("s4.safetensors"), "e", {5})};
}

std::span<const std::byte> bytes_of(const Checkpoint& c, const std::string& name) {
  auto b = c.tensor_bytes(name);
  EXPECT_TRUE(b) << b.error().to_string();
  return b ? *b : std::span<const std::byte>{};
}

class CheckpointLoad : public ::testing::TestWithParam<Strategy> {};

TEST_P(CheckpointLoad, EveryTensorOfEveryShardByteExactNamingItsFile) {
  const Strategy strategy = GetParam();
  test::TempDir dir;
  const auto shards = five_shards(dir);
  auto ckpt = Checkpoint::open(dir.path());  // a directory of model files: name order
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  ASSERT_EQ(ckpt->files().size(), 5U);
  for (const bool host : {true, false}) {
    SCOPED_TRACE(host ? "host" : "null");
    HostSink host_sink;
    NullSink null_sink;
    Sink& sink = host ? static_cast<Sink&>(host_sink) : static_cast<Sink&>(null_sink);
    PipelineOptions options = small_ring(strategy);
    options.checksum_sha256 = true;
    std::vector<std::string> ready;
    options.on_tensor_ready = [&](const TensorInfo& t, const Destination&) { ready.push_back(t.name); };
    Loader loader;
    auto report = loader.load(*ckpt, sink, options);
    ASSERT_LOADED_OR_SKIP(report, strategy);
    const auto tensors = ckpt->tensors();
    ASSERT_EQ(report->tensors, tensors.size());
    ASSERT_EQ(ready.size(), tensors.size());
    std::uint64_t total = 0;
    for (std::uint32_t i = 0; i < tensors.size(); ++i) {
      const TensorInfo& t = tensors[i];
      EXPECT_EQ(ready[i], t.name) << "load order: file order, then offset";
      total += t.size;
      if (host) {
        const auto got = host_sink.bytes(i);
        const auto want = bytes_of(*ckpt, t.name);
        ASSERT_EQ(got.size(), want.size()) << t.name;
        EXPECT_TRUE(want.empty() || std::memcmp(got.data(), want.data(), want.size()) == 0) << t.name;
      }
      EXPECT_EQ(report->digests[i].name, t.name);
      EXPECT_EQ(report->digests[i].file, ckpt->files()[t.file].path);
    }
    EXPECT_EQ(report->bytes, total);
    ASSERT_EQ(report->files.size(), 5U);
    for (std::size_t f = 0; f < 5; ++f) {
      EXPECT_EQ(report->files[f].path, ckpt->files()[f].path);
      EXPECT_EQ(report->files[f].bytes, ckpt->files()[f].tensor_bytes);
      if (strategy != Strategy::automatic) EXPECT_EQ(report->files[f].strategy, strategy);
    }
    if (!host) EXPECT_EQ(null_sink.bytes_seen(), total);

    // The same digests as loading each shard on its own.
    for (const auto& shard : shards) {
      NullSink alone;
      PipelineOptions one = small_ring(strategy);
      one.checksum_sha256 = true;
      auto single = load_into(shard, alone, one);
      ASSERT_TRUE(single) << single.error().to_string();
      for (const TensorDigest& d : single->digests) {
        const auto it = std::find_if(report->digests.begin(), report->digests.end(),
                                     [&](const TensorDigest& x) { return x.name == d.name; });
        ASSERT_NE(it, report->digests.end()) << d.name;
        EXPECT_EQ(it->sha256, d.sha256) << d.name;
        EXPECT_EQ(it->file, shard.string());
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(, CheckpointLoad,
                         ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

TEST(CheckpointLoadSelection, NamesAndShardsApplyAcrossTheSet) {
  test::TempDir dir;
  five_shards(dir);
  auto ckpt = Checkpoint::open(dir.path());
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  PipelineOptions options = small_ring(Strategy::mmap_pipelined);
  options.tensor_names = {"d.w3", "a.w0", "e.w0"};
  HostSink sink;
  auto report = load_into(*ckpt, sink, options);
  ASSERT_TRUE(report) << report.error().to_string();
  ASSERT_EQ(sink.tensor_count(), 3U);  // in load order, whatever order the names came in
  const char* order[] = {"a.w0", "d.w3", "e.w0"};
  for (std::uint32_t i = 0; i < 3; ++i) {
    const auto want = bytes_of(*ckpt, order[i]);
    ASSERT_EQ(sink.bytes(i).size(), want.size());
    EXPECT_EQ(std::memcmp(sink.bytes(i).data(), want.data(), want.size()), 0) << order[i];
  }
  // Three ranks' shards of every tensor concatenate to the tensor.
  std::map<std::string, std::vector<std::byte>> joined;
  for (std::uint32_t rank = 0; rank < 3; ++rank) {
    PipelineOptions part = small_ring(Strategy::automatic);
    part.shard_rank = rank;
    part.shard_world = 3;
    HostSink s;
    auto r = load_into(*ckpt, s, part);
    ASSERT_TRUE(r) << r.error().to_string();
    for (std::uint32_t i = 0; i < ckpt->tensors().size(); ++i) {
      auto& j = joined[ckpt->tensors()[i].name];
      j.insert(j.end(), s.bytes(i).begin(), s.bytes(i).end());
    }
  }
  for (const TensorInfo& t : ckpt->tensors()) {
    const auto want = bytes_of(*ckpt, t.name);
    EXPECT_TRUE(joined[t.name].size() == want.size() &&
                std::equal(want.begin(), want.end(), joined[t.name].begin()))
        << t.name;
  }
  PipelineOptions missing = small_ring(Strategy::automatic);
  missing.tensor_names = {"z.w9"};
  NullSink n;
  auto none = load_into(*ckpt, n, missing);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::not_found);
  EXPECT_EQ(none.error().tensor, "z.w9");
  EXPECT_EQ(none.error().path, dir.path().string());
}

// 300 shards of 3 tensors: the load keeps a few files open at a time, never all of them.
class ManyShards : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int s = 0; s < 300; ++s) {
      write_shard(dir_.file(fmt::format("s{:03}.safetensors", s)), fmt::format("t{:03}", s),
                  {9000, 70000, 3});
    }
  }
  test::TempDir dir_;
};

TEST_F(ManyShards, FdsAndMappingsStayBoundedDuringTheLoadAndReturnAfter) {
  auto ckpt = Checkpoint::open(dir_.path());
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  ASSERT_EQ(ckpt->files().size(), 300U);
  for (Strategy strategy : {Strategy::automatic, Strategy::mmap_pipelined, Strategy::uring, Strategy::read}) {
    SCOPED_TRACE(to_string(strategy));
    Loader loader;
    {  // the loader's own ring and io_uring, made by a first load, are not what is counted
      NullSink warm;
      auto first = loader.load(*ckpt, warm, small_ring(strategy));
      if (!first && environment_refuses(strategy, first.error())) continue;
      ASSERT_TRUE(first) << first.error().to_string();
    }
    const std::size_t fds_before = test::open_fds();
    std::size_t most_fds = 0;
    std::size_t most_mappings = 0;
    PipelineOptions options = small_ring(strategy);
    options.on_tensor_ready = [&](const TensorInfo& t, const Destination&) {
      most_fds = std::max(most_fds, test::open_fds());
      if (t.name.ends_with(".w1")) {
        std::size_t mapped = 0;
        for (const CheckpointFile& f : ckpt->files()) mapped += test::mappings_of(f.path);
        most_mappings = std::max(most_mappings, mapped);
      }
    };
    HostSink sink;
    auto report = loader.load(*ckpt, sink, options);
    ASSERT_TRUE(report) << report.error().to_string();
    EXPECT_EQ(report->tensors, 900U);
    // Each open file costs its Model's fd and, for the io_uring strategies, a reader fd.
    EXPECT_LE(most_fds, fds_before + 2 * 8) << "files held open at once";
    EXPECT_LE(most_mappings, 8U) << "file mappings held at once";
    EXPECT_EQ(test::open_fds(), fds_before) << "an fd outlived the load";
    std::size_t mapped_after = 0;
    for (const CheckpointFile& f : ckpt->files()) mapped_after += test::mappings_of(f.path);
    EXPECT_EQ(mapped_after, 0U);
  }
}

TEST_F(ManyShards, ACancelInShard150LeavesNoFdNoMappingAndNothingCached) {
  auto ckpt = Checkpoint::open(dir_.path());
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  for (Strategy strategy : {Strategy::automatic, Strategy::mmap_pipelined, Strategy::uring_direct}) {
    SCOPED_TRACE(to_string(strategy));
    Loader loader;
    {
      NullSink warm;
      auto first = loader.load(*ckpt, warm, small_ring(strategy));
      if (!first && environment_refuses(strategy, first.error())) continue;
      ASSERT_TRUE(first) << first.error().to_string();
    }
    // Warm every shard, so "nothing cached" is the release's doing.
    for (const CheckpointFile& f : ckpt->files()) {
      auto r = Model::load(f.path);
      ASSERT_TRUE(r);
      for (const TensorInfo& t : r->tensors()) {
        // The Result must outlive the loop: a range-for over *temporary reads freed stack.
        auto bytes = r->tensor_bytes(t.name);
        ASSERT_TRUE(bytes);
        volatile std::byte b{};
        for (std::byte x : *bytes) b = x;
      }
    }
    const std::size_t fds_before = test::open_fds();
    PipelineOptions options = small_ring(strategy);
    CancellationToken token;
    options.cancel = token;
    options.on_tensor_ready = [&](const TensorInfo& t, const Destination&) {
      if (t.name == "t150.w0") token.cancel();
    };
    NullSink sink;
    auto report = loader.load(*ckpt, sink, options);
    ASSERT_FALSE(report);
    EXPECT_EQ(report.error().kind, ErrorKind::cancelled);
    EXPECT_EQ(test::open_fds(), fds_before);
    std::size_t mapped = 0;
    for (const CheckpointFile& f : ckpt->files()) mapped += test::mappings_of(f.path);
    EXPECT_EQ(mapped, 0U);
    if (test::is_memory_fs(dir_.path())) continue;  // tmpfs keeps its pages by design
    for (const CheckpointFile& f : ckpt->files()) {
      auto cached = file_residency(std::filesystem::path(f.path));
      ASSERT_TRUE(cached);
      // The shards the load reached are released; the rest were never the load's to touch.
      const int shard = std::stoi(std::filesystem::path(f.path).stem().string().substr(1));
      if (shard <= 150) EXPECT_LE(cached->resident_pages * 100, cached->total_pages) << f.path;
    }
  }
}

}  // namespace
}  // namespace ringload
