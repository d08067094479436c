// Loads that go wrong: a file truncated under its Model, cancellation, an injected EIO, options
// that make no sense, and a GPU sink without a GPU. Each returns its ErrorKind — never a SIGBUS,
// a hang, or a slot, fd or thread left behind.
#include "ringload/pipeline.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gen/gen.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "io/uring.hpp"
#include "pipeline/testing.hpp"
#include "support/pipeline.hpp"
#include "support/process_counts.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::environment_refuses;
using test::holds_model;
using test::is_baseline;
using test::kRingBytes;
using test::kSlotBytes;
using test::kSlots;
using test::load_model;
using test::mappings_of;
using test::open_fds;
using test::small_ring;
using test::strategy_label;
using test::TempDir;
using test::user_threads;

// One ~24 MiB generated file per suite; tests that damage it work on a copy.
class BigFile {
 protected:
  static void make_big_file() {
    dir_ = std::make_unique<TempDir>();
    gen::GenOptions options;
    options.format = Format::safetensors;
    options.target_bytes = 24ULL << 20;
    options.seed = 31;
    path_ = dir_->file("big.safetensors");
    auto written = gen::generate(path_, options);
    ASSERT_TRUE(written) << written.error().to_string();
  }
  static void remove_big_file() { dir_.reset(); }

  static inline std::unique_ptr<TempDir> dir_;
  static inline std::filesystem::path path_;
};

class LoaderFailure : public ::testing::TestWithParam<Strategy>, protected BigFile {
 protected:
  static void SetUpTestSuite() { make_big_file(); }
  static void TearDownTestSuite() { remove_big_file(); }
};

TEST_P(LoaderFailure, FileTruncatedAfterOpenIsTruncatedNeverSigbus) {
  const Strategy strategy = GetParam();
  TempDir dir;
  for (const bool host : {true, false}) {
    SCOPED_TRACE(host ? "host sink" : "null sink");
    const auto path = dir.file(host ? "host.safetensors" : "null.safetensors");
    std::filesystem::copy_file(path_, path, std::filesystem::copy_options::overwrite_existing);
    const Model model = load_model(path);
    const std::uint64_t old_size = model.file_size();
    const std::uint64_t new_size = old_size / 2;
    // The mapping and the fd stay; the bytes past new_size are gone. A mapped page past the new
    // end now raises SIGBUS, and reads stop short.
    ASSERT_EQ(::truncate(path.c_str(), static_cast<off_t>(new_size)), 0) << std::strerror(errno);

    HostSink host_sink;
    NullSink null_sink;
    Sink& sink = host ? static_cast<Sink&>(host_sink) : static_cast<Sink&>(null_sink);
    PipelineOptions options = small_ring(strategy);
    // With the host sink the digest runs too: on the mmap paths it is what touches the lost page.
    options.checksum_sha256 = host;
    Loader loader;
    auto report = loader.load(model, sink, options);
    if (!report && environment_refuses(strategy, report.error())) GTEST_SKIP() << report.error().to_string();
    ASSERT_FALSE(report) << "a load of a file cut in half succeeded";
    const Error& e = report.error();
    EXPECT_EQ(e.kind, ErrorKind::truncated) << e.to_string();
    EXPECT_EQ(e.path, path.string());
    ASSERT_TRUE(e.offset.has_value()) << e.to_string();
    EXPECT_GE(*e.offset, new_size) << e.to_string();
    EXPECT_LT(*e.offset, old_size) << e.to_string();
    if (strategy == Strategy::read) {
      EXPECT_EQ(*e.offset, new_size) << "read sees the short file at once";
    }

    // Nothing of the failed load is left in flight: the same Loader loads an intact file.
    const Model intact = load_model(path_);
    HostSink again;
    auto reloaded = loader.load(intact, again, small_ring(strategy));
    ASSERT_TRUE(reloaded) << reloaded.error().to_string();
    EXPECT_TRUE(holds_model(again, intact));
  }
}

TEST_P(LoaderFailure, FileTruncatedDuringTheLoadIsTruncated) {
  const Strategy strategy = GetParam();
  // read holds a heap copy of the whole file before it hands over the first tensor: a later
  // truncation cannot reach the bytes it has (FileTruncatedAfterOpen covers it).
  if (strategy == Strategy::read) GTEST_SKIP() << "read has the whole file on the heap by then";
  TempDir dir;
  const auto path = dir.file("shrinking.safetensors");
  std::filesystem::copy_file(path_, path);
  const Model model = load_model(path);
  const std::uint64_t old_size = model.file_size();
  const std::uint64_t new_size = old_size / 2;
  PipelineOptions options = small_ring(strategy);
  std::uint32_t ready = 0;
  options.on_tensor_ready = [&](const TensorInfo&, const Destination&) {
    if (++ready == 2) {
      EXPECT_EQ(::truncate(path.c_str(), static_cast<off_t>(new_size)), 0) << std::strerror(errno);
    }
  };
  HostSink sink;
  Loader loader;
  auto report = loader.load(model, sink, options);
  if (!report && environment_refuses(strategy, report.error())) GTEST_SKIP() << report.error().to_string();
  ASSERT_FALSE(report) << "a load of a file cut in half during the load succeeded";
  const Error& e = report.error();
  EXPECT_EQ(e.kind, ErrorKind::truncated) << e.to_string();
  EXPECT_EQ(e.path, path.string());
  ASSERT_TRUE(e.offset.has_value()) << e.to_string();
  EXPECT_GE(*e.offset, new_size) << e.to_string();
  EXPECT_LT(*e.offset, old_size) << e.to_string();
}

TEST_P(LoaderFailure, CancelAfterTheSecondTensorReturnsPromptlyAndLeavesNothingBehind) {
  const Strategy strategy = GetParam();
  {  // written back first: dirty pages cannot be dropped, and would read as pages the load left
    auto fd = UniqueFd::open(path_, O_RDONLY);
    ASSERT_TRUE(fd) << fd.error().to_string();
    ASSERT_EQ(::fsync(fd->get()), 0);
  }
  const Model model = load_model(path_);
  std::uint64_t total = 0;
  for (const TensorInfo& t : model.tensors()) total += t.size;
  Loader loader;
  {
    // The Loader keeps its ring and io_uring for the next load (by design): count what a load
    // leaves after one complete load has created them.
    NullSink warm_sink;
    auto warm = loader.load(model, warm_sink, small_ring(strategy));
    ASSERT_LOADED_OR_SKIP(warm, strategy);
  }
  const std::size_t fds_before = open_fds();
  const std::size_t threads_before = user_threads();
  const std::size_t mappings_before = mappings_of(path_);
  ASSERT_GE(mappings_before, 1U) << "the Model's own mapping is not in /proc/self/maps";

  PipelineOptions options = small_ring(strategy);
  CancellationToken token;
  options.cancel = token;
  NullSink sink;
  std::uint32_t ready = 0;
  std::uint64_t bytes_at_cancel = 0;
  options.on_tensor_ready = [&](const TensorInfo&, const Destination&) {
    if (++ready == 2) {
      bytes_at_cancel = sink.bytes_seen();
      token.cancel();
    }
  };
  auto report = loader.load(model, sink, options);
  ASSERT_FALSE(report) << "the load ran to the end despite the cancellation";
  EXPECT_EQ(report.error().kind, ErrorKind::cancelled) << report.error().to_string();
  EXPECT_EQ(report.error().path, model.path());
  ASSERT_GE(ready, 2U);
  // Promptly: the baselines stop before the next tensor; the pipelined strategies deliver at
  // most what was already in the ring.
  const std::uint64_t after_cancel = sink.bytes_seen() - bytes_at_cancel;
  if (is_baseline(strategy)) {
    EXPECT_EQ(after_cancel, 0U);
  } else {
    EXPECT_LE(after_cancel, kRingBytes);
  }
  EXPECT_LT(sink.bytes_seen(), total / 2);

  EXPECT_EQ(open_fds(), fds_before) << "an fd outlived the cancelled load";
  EXPECT_EQ(user_threads(), threads_before) << "a thread outlived the cancelled load";
  EXPECT_EQ(mappings_of(path_), mappings_before) << "a mapping of the file outlived the cancelled load";
  if (!test::is_memory_fs(path_.parent_path())) {
    // Nothing cached either: a cancel can land while the kernel still reads ahead for the load.
    auto cached = file_residency(path_);
    ASSERT_TRUE(cached) << cached.error().to_string();
    EXPECT_LE(cached->resident_pages * 100, cached->total_pages)
        << cached->resident_pages << " of " << cached->total_pages << " pages cached after the cancel";
  }

  // No read still in flight into a slot: the next load through the same ring is byte-exact.
  HostSink again;
  auto reloaded = loader.load(model, again, small_ring(strategy));
  ASSERT_TRUE(reloaded) << reloaded.error().to_string();
  EXPECT_TRUE(holds_model(again, model));
  EXPECT_EQ(open_fds(), fds_before);
}

TEST_P(LoaderFailure, TokenCancelledBeforeTheLoadReturnsCancelledAtOnce) {
  const Strategy strategy = GetParam();
  const Model model = load_model(path_);
  PipelineOptions options = small_ring(strategy);
  options.cancel.cancel();
  std::uint32_t ready = 0;
  options.on_tensor_ready = [&](const TensorInfo&, const Destination&) { ++ready; };
  NullSink sink;
  Loader loader;
  auto report = loader.load(model, sink, options);
  if (!report && environment_refuses(strategy, report.error())) GTEST_SKIP() << report.error().to_string();
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::cancelled);
  EXPECT_EQ(sink.bytes_seen(), 0U);
  EXPECT_EQ(ready, 0U);
}

INSTANTIATE_TEST_SUITE_P(, LoaderFailure,
                         ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

class LoaderFailureEio : public ::testing::TestWithParam<Strategy>, protected BigFile {
 protected:
  static void SetUpTestSuite() { make_big_file(); }
  static void TearDownTestSuite() { remove_big_file(); }
};

TEST_P(LoaderFailureEio, InjectedEioIsIoNamingTheFileAndTheFailingReadsOffset) {
  const Strategy strategy = GetParam();
  const Model model = load_model(path_);
  const auto tensors = model.tensors();
  // A byte in the middle of the file, inside a tensor and off any page boundary.
  const std::uint64_t bad_byte = tensors[tensors.size() / 2].offset + 12345;
  LoadEngine engine;
  std::optional<std::uint64_t> failed_read;
  engine.fault = [&](std::uint64_t offset, std::uint64_t length) -> std::int64_t {
    if (offset <= bad_byte && bad_byte < offset + length) {
      if (!failed_read) failed_read = offset;
      return -EIO;
    }
    return 0;
  };
  HostSink sink;
  auto report = run_load(engine, model, sink, small_ring(strategy));
  if (!report && environment_refuses(strategy, report.error())) GTEST_SKIP() << report.error().to_string();
  ASSERT_FALSE(report) << "a read failing with EIO went unnoticed";
  ASSERT_TRUE(failed_read.has_value()) << "no read covered byte " << bad_byte;
  const Error& e = report.error();
  EXPECT_EQ(e.kind, ErrorKind::io) << e.to_string();
  EXPECT_EQ(e.os_errno, EIO) << e.to_string();
  EXPECT_EQ(e.path, model.path());
  EXPECT_EQ(e.offset, failed_read) << e.to_string();
  EXPECT_NE(e.message.find(std::strerror(EIO)), std::string::npos) << e.message;
  // The tensor the failing read was fetching: the first one in the file ending after its offset.
  std::string fetching;
  std::uint64_t fetching_offset = UINT64_MAX;
  for (const TensorInfo& t : tensors) {
    if (t.size > 0 && t.offset + t.size > *failed_read && t.offset < fetching_offset) {
      fetching = t.name;
      fetching_offset = t.offset;
    }
  }
  EXPECT_EQ(e.tensor, fetching) << e.to_string();

  EXPECT_EQ(sink.tensor_count(), 0U) << "a failed load keeps no destinations";

  // Once the fault is gone the same engine (ring, io_uring) loads the file byte-exact.
  engine.fault = nullptr;
  HostSink again;
  auto reloaded = run_load(engine, model, again, small_ring(strategy));
  ASSERT_TRUE(reloaded) << reloaded.error().to_string();
  EXPECT_TRUE(holds_model(again, model));
}

INSTANTIATE_TEST_SUITE_P(, LoaderFailureEio,
                         ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return strategy_label(info.param); });

// ---------------------------------------------------------------------------------------------
// Options that make no sense.

Model tiny_model(const TempDir& dir) {
  gen::GenOptions options;
  options.format = Format::safetensors;
  options.target_bytes = 256 * 1024;
  options.seed = 2;
  const auto path = dir.file("tiny.safetensors");
  auto written = gen::generate(path, options);
  EXPECT_TRUE(written) << written.error().to_string();
  return load_model(path);
}

TEST(LoaderFailureOptions, NonsenseRingOrReadSizesAreInvalidArgument) {
  TempDir dir;
  const Model model = tiny_model(dir);
  struct Case {
    const char* what;
    void (*edit)(PipelineOptions&);
  };
  const Case cases[] = {
      {"no slots", [](PipelineOptions& o) { o.slot_count = 0; }},
      {"slot of 4 KiB", [](PipelineOptions& o) { o.slot_size = 4096; }},
      {"slot not a multiple of 64 KiB", [](PipelineOptions& o) { o.slot_size = 96 * 1024; }},
      {"read size 0", [](PipelineOptions& o) { o.read_size = 0; }},
      {"read size not a multiple of 4 KiB", [](PipelineOptions& o) { o.read_size = 1000; }},
      {"queue depth 0", [](PipelineOptions& o) { o.queue_depth = 0; }},
  };
  for (const Case& c : cases) {
    for (Strategy strategy : {Strategy::read, Strategy::mmap_pipelined, Strategy::automatic}) {
      SCOPED_TRACE(fmt::format("{}, {}", c.what, to_string(strategy)));
      PipelineOptions options = small_ring(strategy);
      c.edit(options);
      NullSink sink;
      Loader loader;
      auto report = loader.load(model, sink, options);
      ASSERT_FALSE(report);
      EXPECT_EQ(report.error().kind, ErrorKind::invalid_argument) << report.error().to_string();
      EXPECT_EQ(report.error().path, model.path());
      EXPECT_FALSE(report.error().message.empty());
    }
  }
}

// Regression (was a bug in src/pipeline/loader.cpp, Loader::Impl::load, `RINGLOAD_TRY(make_plan(...))`):
// make_plan's invalid_argument for a bad shard leaves Error::path empty (only its not_found sets it), and
// load() passes it on without with_path(), so the error does not name the file.
TEST(LoaderFailureOptions, InvalidShardIsInvalidArgumentNamingTheFile) {
  TempDir dir;
  const Model model = tiny_model(dir);
  for (const auto& [rank, world] : {std::pair{2U, 2U}, std::pair{0U, 0U}, std::pair{5U, 3U}}) {
    for (Strategy strategy : {Strategy::read, Strategy::mmap_pipelined, Strategy::automatic}) {
      SCOPED_TRACE(fmt::format("shard {} of {}, {}", rank, world, to_string(strategy)));
      PipelineOptions options = small_ring(strategy);
      options.shard_rank = rank;
      options.shard_world = world;
      NullSink sink;
      Loader loader;
      auto report = loader.load(model, sink, options);
      ASSERT_FALSE(report);
      EXPECT_EQ(report.error().kind, ErrorKind::invalid_argument) << report.error().to_string();
      EXPECT_EQ(report.error().path, model.path());
    }
  }
}

// Regression (was a bug in src/pipeline/loader.cpp, Loader::Impl::load): PipelineOptions documents the ring
// as "≤ 256 MiB in all", but load() never checks slot_count × slot_size against it (StagingRing accepts up to
// 1 TiB), and the ring is pre-faulted with memset: a mistyped size commits that much memory at once instead
// of being invalid_argument.
TEST(LoaderFailureOptions, RingLargerThan256MiBIsInvalidArgument) {
  TempDir dir;
  const Model model = tiny_model(dir);
  PipelineOptions options = small_ring(Strategy::mmap_pipelined);
  options.slot_count = 4097;  // 4097 × 64 KiB: one slot over 256 MiB
  NullSink sink;
  Loader loader;
  auto report = loader.load(model, sink, options);
  ASSERT_FALSE(report) << "a " << report->staging_bytes << "-byte ring was allocated";
  EXPECT_EQ(report.error().kind, ErrorKind::invalid_argument) << report.error().to_string();
}

TEST(LoaderFailureOptions, UnknownTensorNameIsNotFoundNamingIt) {
  TempDir dir;
  const Model model = tiny_model(dir);
  PipelineOptions options = small_ring(Strategy::mmap_pipelined);
  options.tensor_names = {model.tensor_names().front(), "model.no_such.weight"};
  NullSink sink;
  auto report = load_into(model, sink, options);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::not_found);
  EXPECT_EQ(report.error().tensor, "model.no_such.weight");
  EXPECT_EQ(report.error().path, model.path());
  EXPECT_EQ(sink.bytes_seen(), 0U);
}

TEST(LoaderFailureOptions, MissingFileIsNotFoundWithThePath) {
  TempDir dir;
  NullSink sink;
  auto report = load_into(dir.file("absent.safetensors"), sink);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::not_found);
  EXPECT_EQ(report.error().path, dir.file("absent.safetensors").string());
}

// ---------------------------------------------------------------------------------------------
// A GPU sink where there is no GPU.

TEST(LoaderFailureCuda, MakeCudaSinkWithoutADeviceIsNoDevice) {
  auto sink = make_cuda_sink();
  if (sink) GTEST_SKIP() << "a CUDA device is present here: the no-device path cannot be reached";
  EXPECT_EQ(sink.error().kind, ErrorKind::no_device) << sink.error().to_string();
  EXPECT_FALSE(sink.error().message.empty());
  if (!cuda_sink_compiled()) {
    HostSink host;
    auto copied = copy_to_host(host, 0);
    ASSERT_FALSE(copied);
    EXPECT_EQ(copied.error().kind, ErrorKind::no_device);
  }
}

}  // namespace
}  // namespace ringload
