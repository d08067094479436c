// Reads straight into the destination (file_images.hpp) beyond what LoaderMatrix checks on whole
// files: a name filter leaving large holes (one image per stretch, still in place), a filter whose
// holes would cost too much memory (staged instead, byte-exact either way), every file of a
// checkpoint, and a cancel while reads land in the images.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gen/gen.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/pipeline.hpp"
#include "support/checkpoints.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::small_ring;
using test::TempDir;

constexpr std::uint64_t kRead = 64 * 1024;  // small_ring's read size: the plan's max_gap

// A safetensors file of `count` F32 tensors "t00", "t01", ... of `bytes` each, back to back (names
// that sort as they count: the file keeps them in name order).
Model write_tensors(const TempDir& dir, std::uint32_t count, std::uint64_t bytes) {
  std::vector<gen::TensorSpec> specs;
  for (std::uint32_t i = 0; i < count; ++i) {
    specs.push_back(gen::TensorSpec{fmt::format("t{:02}", i), DType::F32, {bytes / 4}, bytes});
  }
  const auto path = dir.file("m.safetensors");
  auto written = gen::write_model(path, gen::GenOptions{.format = Format::safetensors, .seed = 5}, specs);
  EXPECT_TRUE(written) << written.error().to_string();
  return test::load_model(path);
}

// Each loaded tensor (load order) holds what the model file has under its name.
::testing::AssertionResult holds_named(const HostSink& sink, const Model& model,
                                       const std::vector<std::string>& names) {
  if (sink.tensor_count() != names.size()) {
    return ::testing::AssertionFailure() << sink.tensor_count() << " tensors, expected " << names.size();
  }
  for (std::uint32_t i = 0; i < names.size(); ++i) {
    auto want = model.tensor_bytes(names[i]);
    if (!want) return ::testing::AssertionFailure() << want.error().to_string();
    const auto got = sink.bytes(i);
    if (got.size() != want->size() || std::memcmp(got.data(), want->data(), got.size()) != 0) {
      std::size_t at = 0;
      while (at < got.size() && at < want->size() && got[at] == (*want)[at]) ++at;
      return ::testing::AssertionFailure() << names[i] << " differs from the file at byte " << at << " of "
                                           << want->size() << " (" << got.size() << " loaded)";
    }
  }
  return ::testing::AssertionSuccess();
}

class ReadInPlace : public ::testing::TestWithParam<Strategy> {
 protected:
  // Loads only `names` of `model` into `sink`; the bytes are checked here, the rest by the caller.
  Result<LoadReport> load_named(const Model& model, const std::vector<std::string>& names, HostSink& sink) {
    PipelineOptions options = small_ring(GetParam());
    options.tensor_names = names;
    auto report = load_into(model, sink, options);
    if (report) EXPECT_TRUE(holds_named(sink, model, names));
    return report;
  }
};

TEST_P(ReadInPlace, ANameFilterLeavingLargeHolesStillReadsEveryStretchInPlace) {
  const TempDir dir;
  const Model model = write_tensors(dir, 9, 3 * kRead);  // holes of 6 x max_gap between kept ones
  HostSink sink;
  auto report = load_named(model, {"t00", "t03", "t06"}, sink);
  ASSERT_LOADED_OR_SKIP(report, GetParam());
  EXPECT_EQ(report->bytes_read_in_place, report->bytes_read);
  EXPECT_LT(report->bytes_read, model.file_size() / 2) << "the holes were read";
  // Three images, not one spanning the holes: the sink holds about the three tensors' bytes.
  EXPECT_LE(sink.allocated_bytes(), 3 * (3 * kRead + 2 * 4096));
}

TEST_P(ReadInPlace, HolesThatWouldCostMoreThanASixteenthAreStagedInstead) {
  const TempDir dir;
  const Model model = write_tensors(dir, 16, 16 * 1024);  // holes of 16 KiB: read through
  std::vector<std::string> names;
  for (std::uint32_t i = 0; i < 16; i += 2) names.push_back(fmt::format("t{:02}", i));
  HostSink sink;
  auto report = load_named(model, names, sink);
  ASSERT_LOADED_OR_SKIP(report, GetParam());
  EXPECT_EQ(report->bytes_read_in_place, 0U) << "an image would have held the skipped tensors too";
  EXPECT_LT(sink.allocated_bytes(), 9 * 16 * 1024U);
}

TEST_P(ReadInPlace, EveryFileOfACheckpointIsReadInPlace) {
  const TempDir dir;
  test::write_uniform_checkpoint(dir.path(), Format::safetensors, 3, 12, 100'000);
  auto checkpoint = Checkpoint::open(dir.path());
  ASSERT_TRUE(checkpoint) << checkpoint.error().to_string();
  HostSink sink;
  auto report = load_into(*checkpoint, sink, small_ring(GetParam()));
  ASSERT_LOADED_OR_SKIP(report, GetParam());
  ASSERT_EQ(report->files.size(), 3U);
  EXPECT_EQ(report->bytes_read_in_place, report->bytes_read);
  const auto tensors = checkpoint->tensors();
  ASSERT_EQ(sink.tensor_count(), tensors.size());
  for (std::uint32_t i = 0; i < tensors.size(); ++i) {
    auto want = checkpoint->tensor_bytes(tensors[i].name);
    ASSERT_TRUE(want) << want.error().to_string();
    ASSERT_EQ(sink.bytes(i).size(), want->size());
    EXPECT_EQ(std::memcmp(sink.bytes(i).data(), want->data(), want->size()), 0) << tensors[i].name;
  }
}

TEST_P(ReadInPlace, ACancelWhileReadsLandInTheImagesFreesThem) {
  const TempDir dir;
  const Model model = write_tensors(dir, 32, 256 * 1024);
  PipelineOptions options = small_ring(GetParam());
  std::uint32_t ready = 0;
  options.on_tensor_ready = [&](const TensorInfo&, const Destination&) {
    if (++ready == 2) options.cancel.cancel();
  };
  HostSink sink;
  auto report = load_into(model, sink, options);
  if (!report && test::environment_refuses(GetParam(), report.error()))
    GTEST_SKIP() << report.error().to_string();
  ASSERT_FALSE(report) << "the load ignored its cancel";
  EXPECT_EQ(report.error().kind, ErrorKind::cancelled) << report.error().to_string();
  EXPECT_EQ(sink.tensor_count(), 0U) << "a cancelled load keeps no destinations";
  EXPECT_EQ(sink.allocated_bytes(), 0U);
  // The same sink loads the whole file afterwards.
  options.on_tensor_ready = nullptr;
  options.cancel = CancellationToken{};
  auto again = load_into(model, sink, options);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_TRUE(test::holds_model(sink, model));
  EXPECT_EQ(again->bytes_read_in_place, again->bytes_read);
}

INSTANTIATE_TEST_SUITE_P(, ReadInPlace,
                         ::testing::Values(Strategy::uring, Strategy::uring_direct, Strategy::uring_dontcache,
                                           Strategy::pread_direct),
                         [](const auto& info) { return test::strategy_label(info.param); });

}  // namespace
}  // namespace ringload
