// What opening a checkpoint costs and keeps: headers only (no tensor page of an evicted shard
// enters the page cache, through Checkpoint::open or a shard's Model::load), no fd or mapping held
// after open() however many shards, spans from tensor_bytes() valid for the checkpoint's life, and
// release_cpu_pages() leaving ≤ 1 % cached.
#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "gen/gen.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/model.hpp"
#include "support/checkpoints.hpp"
#include "support/process_counts.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::TempDir;

constexpr std::uint64_t kPage = 4096;

// Written back first: gen does not fsync, and dirty pages cannot be dropped.
void write_back(const std::filesystem::path& dir) {
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    auto fd = UniqueFd::open(entry.path(), O_RDONLY);
    ASSERT_TRUE(fd) << fd.error().to_string();
    ASSERT_EQ(::fsync(fd->get()), 0) << entry.path();
  }
}

void evict(const std::filesystem::path& path) {
  auto fd = UniqueFd::open(path, O_RDONLY);
  ASSERT_TRUE(fd) << fd.error().to_string();
  ASSERT_TRUE(drop_file_cache(fd->get(), 0, 0, path.string()));
}

// Pages of `path` in the page cache from `offset` to the end.
std::uint64_t resident_pages(const std::filesystem::path& path, std::uint64_t offset = 0) {
  auto fd = UniqueFd::open(path, O_RDONLY);
  EXPECT_TRUE(fd) << fd.error().to_string();
  if (!fd) return 0;
  auto residency = file_residency(fd->get(), path.string(), offset, 0);
  EXPECT_TRUE(residency) << residency.error().to_string();
  return residency ? residency->resident_pages : 0;
}

// Where each file's tensor data starts, rounded up to a page: the first page no header byte is in.
std::uint64_t first_data_page_offset(const Checkpoint& ckpt, std::size_t file) {
  const CheckpointFile& f = ckpt.files()[file];
  std::uint64_t first = f.file_size;
  for (std::uint32_t i = 0; i < f.tensor_count; ++i)
    first = std::min(first, ckpt.tensors()[f.first_tensor + i].offset);
  return (first + kPage - 1) / kPage * kPage;
}

class CheckpointResources : public testing::TestWithParam<Format> {};

// Writes a checkpoint of 4 shards of 16 MiB over `tensors` in all under `dir` and evicts it.
void write_cold_checkpoint(const std::filesystem::path& dir, Format format, std::uint32_t tensors) {
  // Shards of 16 MiB: far more data than header, and more than a readahead window past the
  // header (8 MiB on this machine's disk) could reach.
  test::write_uniform_checkpoint(dir, format, 4, tensors, (std::uint64_t{64} << 20) / tensors);
  write_back(dir);
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    evict(entry.path());
    ASSERT_EQ(resident_pages(entry.path()), 0U) << entry.path() << " stays cached: something else holds it";
  }
}

// Opens a cold checkpoint and checks that no page past a shard's header is cached afterwards (the
// kernel's readahead past the header included) and that no fd or mapping is left.
void expect_cold_open_leaves_nothing(Format format, std::uint32_t tensors) {
  TempDir tmp;
  if (test::is_memory_fs(tmp.path())) GTEST_SKIP() << "page-cache residency needs a disk file system";
  const auto dir = tmp.path() / "ckpt";
  ASSERT_NO_FATAL_FAILURE(write_cold_checkpoint(dir, format, tensors));
  const std::size_t fds_before = test::open_fds();
  const std::size_t maps_before = test::mappings_under(dir);
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  EXPECT_EQ(test::open_fds(), fds_before);
  EXPECT_EQ(test::mappings_under(dir), maps_before);
  ASSERT_EQ(ckpt->files().size(), 4U);
  for (std::size_t f = 0; f < ckpt->files().size(); ++f) {
    const std::uint64_t data_page = first_data_page_offset(*ckpt, f);
    ASSERT_LT(data_page + kPage, ckpt->files()[f].file_size) << "the shard must have data pages to check";
    EXPECT_EQ(resident_pages(ckpt->files()[f].path, data_page), 0U)
        << ckpt->files()[f].path << ": open() left tensor pages in the page cache";
  }
}

// Model::load of a cold file (what a load does per shard, and under --mpi each rank per shard,
// after another rank may have dropped the shard's header pages) reads its header and nothing past
// it: faulting a header in through a mapping with readahead on reads up to read_ahead_kb into
// tensor data, which then counts as storage read twice.
void expect_cold_model_load_reads_only_the_header(Format format, std::uint32_t tensors) {
  TempDir tmp;
  if (test::is_memory_fs(tmp.path())) GTEST_SKIP() << "page-cache residency needs a disk file system";
  const auto dir = tmp.path() / "ckpt";
  ASSERT_NO_FATAL_FAILURE(write_cold_checkpoint(dir, format, tensors));
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  for (std::size_t f = 0; f < ckpt->files().size(); ++f) {
    const CheckpointFile& file = ckpt->files()[f];
    evict(file.path);
    auto model = Model::load(file.path);
    ASSERT_TRUE(model) << model.error().to_string();
    ASSERT_EQ(model->tensors().size(), file.tensor_count);
    EXPECT_GT(resident_pages(file.path), 0U) << file.path << ": the header was not read through the cache";
    EXPECT_EQ(resident_pages(file.path, first_data_page_offset(*ckpt, f)), 0U)
        << file.path << ": Model::load left tensor pages in the page cache";
    // A mapping strategy's own readahead is back on once the header is parsed: faulting the first
    // tensor page in brings more than that one page (the mapping is not left MADV_RANDOM).
    const TensorInfo& first = ckpt->tensors()[file.first_tensor];
    const auto bytes = model->tensor_bytes(first.name);
    ASSERT_TRUE(bytes) << bytes.error().to_string();
    volatile std::byte sink = (*bytes)[bytes->size() / 2];
    static_cast<void>(sink);
    EXPECT_GT(resident_pages(file.path, first_data_page_offset(*ckpt, f)), 1U)
        << file.path << ": the mapping's readahead stays off after Model::load";
  }
}

TEST_P(CheckpointResources, ColdOpenLeavesNoTensorPageCachedAfterSmallHeaders) {
  expect_cold_open_leaves_nothing(GetParam(), 40);
}

// Headers of ~100 KiB: parsing them walks far enough for readahead to run megabytes ahead.
TEST_P(CheckpointResources, ColdOpenLeavesNoTensorPageCachedAfterLargeHeaders) {
  expect_cold_open_leaves_nothing(GetParam(), 8000);
}

TEST_P(CheckpointResources, ColdModelLoadReadsOnlyTheHeaderAfterSmallHeaders) {
  expect_cold_model_load_reads_only_the_header(GetParam(), 40);
}

TEST_P(CheckpointResources, ColdModelLoadReadsOnlyTheHeaderAfterLargeHeaders) {
  expect_cold_model_load_reads_only_the_header(GetParam(), 8000);
}

TEST_P(CheckpointResources, ThreeHundredShardsOpenHoldingNoFdOrMapping) {
  TempDir tmp;
  const auto dir = tmp.path() / "ckpt";
  test::generate_or_fail(dir, test::small_checkpoint(GetParam(), 300, 300, std::uint64_t{3} << 20));
  const std::size_t fds_before = test::open_fds();
  const std::size_t maps_before = test::mappings_under(dir);
  {
    auto ckpt = Checkpoint::open(dir);
    ASSERT_TRUE(ckpt) << ckpt.error().to_string();
    EXPECT_EQ(ckpt->files().size(), 300U);
    EXPECT_EQ(ckpt->tensors().size(), 300U);
    EXPECT_EQ(test::open_fds(), fds_before) << "open() left descriptors open";
    EXPECT_EQ(test::mappings_under(dir), maps_before) << "open() left shards mapped";
    // tensor_bytes opens the files it reads from and keeps them until the checkpoint goes.
    for (const TensorInfo& t : ckpt->tensors().subspan(0, 3)) ASSERT_TRUE(ckpt->tensor_bytes(t.name));
    EXPECT_GT(test::mappings_under(dir), maps_before);
  }
  EXPECT_EQ(test::open_fds(), fds_before) << "the checkpoint left descriptors open";
  EXPECT_EQ(test::mappings_under(dir), maps_before) << "the checkpoint left shards mapped";
}

TEST_P(CheckpointResources, SpansStayValidForTheCheckpointsLife) {
  TempDir tmp;
  const auto dir = tmp.path() / "ckpt";
  const gen::GenOptions options = test::small_checkpoint(GetParam(), 5, 30, std::uint64_t{1} << 20);
  test::generate_or_fail(dir, options);
  auto opened = Checkpoint::open(dir);
  ASSERT_TRUE(opened) << opened.error().to_string();
  std::vector<std::pair<TensorInfo, std::span<const std::byte>>> spans;
  for (const TensorInfo& t : opened->tensors()) spans.emplace_back(t, *opened->tensor_bytes(t.name));
  // Moving the checkpoint, asking again and dropping its pages all leave earlier spans readable
  // and unchanged (the pages fault back in from the file).
  Checkpoint ckpt = std::move(opened).value();
  for (const TensorInfo& t : ckpt.tensors()) ASSERT_TRUE(ckpt.tensor_bytes(t.name));
  ASSERT_TRUE(ckpt.release_cpu_pages());
  for (const auto& [t, bytes] : spans) {
    std::vector<std::byte> want(t.size);
    gen::fill_tensor_values(gen::tensor_key(options.seed, t.name), t.dtype, 0, want);
    ASSERT_EQ(bytes.size(), want.size()) << t.name;
    EXPECT_TRUE(std::equal(bytes.begin(), bytes.end(), want.begin())) << t.name;
  }
}

TEST_P(CheckpointResources, ReleaseLeavesAtMostOnePercentOfEachShardCached) {
  TempDir tmp;
  if (test::is_memory_fs(tmp.path())) GTEST_SKIP() << "page-cache residency needs a disk file system";
  const auto dir = tmp.path() / "ckpt";
  test::generate_or_fail(dir, test::small_checkpoint(GetParam(), 4, 40, std::uint64_t{8} << 20));
  write_back(dir);
  auto ckpt = Checkpoint::open(dir);
  ASSERT_TRUE(ckpt) << ckpt.error().to_string();
  // Half the shards read through the checkpoint (mapped and faulted in), the rest only cached by
  // a plain read: release must drop both kinds.
  std::uint64_t fold = 0;
  for (const TensorInfo& t : ckpt->tensors()) {
    if (t.file % 2 != 0) continue;
    const auto bytes = ckpt->tensor_bytes(t.name);  // a range-for over *temporary reads freed stack
    ASSERT_TRUE(bytes) << bytes.error().to_string();
    for (const std::byte b : *bytes) fold += static_cast<std::uint64_t>(b);
  }
  for (std::size_t f = 1; f < ckpt->files().size(); f += 2) ASSERT_TRUE(read_file(ckpt->files()[f].path));
  for (const CheckpointFile& f : ckpt->files()) {
    ASSERT_GT(resident_pages(f.path) * 2, f.file_size / kPage)
        << f.path << " should be cached before release";
  }
  ASSERT_TRUE(ckpt->release_cpu_pages());
  for (const CheckpointFile& f : ckpt->files()) {
    const std::uint64_t pages = (f.file_size + kPage - 1) / kPage;
    EXPECT_LE(resident_pages(f.path) * 100, pages) << f.path << ": more than 1 % still cached";
  }
  EXPECT_NE(fold, 0U);
}

INSTANTIATE_TEST_SUITE_P(Layouts, CheckpointResources, testing::Values(Format::safetensors, Format::gguf),
                         [](const testing::TestParamInfo<Format>& info) {
                           return std::string(to_string(info.param));
                         });

}  // namespace
}  // namespace ringload
