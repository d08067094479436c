// The Loader into the CUDA sink, every strategy, byte-exact back on the host; the ring pinned for
// the device by the ring itself. Needs a GPU: skipped with the reason elsewhere (the pin lifecycle
// is tested without one in staging_ring_test.cpp).
#include <gtest/gtest.h>

#include <cstdint>

#include "gen/gen.hpp"
#include "ringload/pipeline.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

class LoaderCuda : public ::testing::TestWithParam<Strategy> {};

TEST_P(LoaderCuda, DeliversEveryTensorToTheDeviceByteExact) {
  const Strategy strategy = GetParam();
  auto made = make_cuda_sink(CudaSinkOptions{.device = 0, .streams = 2});
  if (!made) GTEST_SKIP() << "needs a CUDA device: " << made.error().to_string();
  test::TempDir dir;
  gen::GenOptions options;
  options.format = Format::gguf;
  options.target_bytes = 3ULL << 20;
  options.tensor_count = 24;
  const auto path = dir.file("m.gguf");
  ASSERT_TRUE(gen::generate(path, options));
  const Model model = test::load_model(path);
  Loader loader;
  for (int load = 0; load < 2; ++load) {  // the second reuses the ring and its pin
    SCOPED_TRACE(load);
    auto report = loader.load(model, **made, test::small_ring(strategy));
    ASSERT_LOADED_OR_SKIP(report, strategy);
    EXPECT_EQ(report->staging_pinned, report->staging_bytes > 0)
        << "a ring is pinned for the device it feeds";
    for (std::uint32_t i = 0; i < model.tensors().size(); ++i) {
      const TensorInfo& t = model.tensors()[i];
      auto back = copy_to_host(**made, i);
      ASSERT_TRUE(back) << back.error().to_string();
      auto want = model.tensor_bytes(t.name);
      ASSERT_TRUE(want);
      ASSERT_EQ(back->size(), want->size()) << t.name;
      EXPECT_TRUE(std::equal(back->begin(), back->end(), want->begin())) << t.name;
    }
  }
}

INSTANTIATE_TEST_SUITE_P(, LoaderCuda, ::testing::ValuesIn(all_strategies().begin(), all_strategies().end()),
                         [](const auto& info) { return test::strategy_label(info.param); });

}  // namespace
}  // namespace ringload
