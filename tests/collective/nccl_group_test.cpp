// A collective load through an NcclGroup of one GPU into the CUDA sink: every tensor byte-exact
// back on the host, the report's collective figures those of a group of one. Needs a GPU: skipped
// with the reason elsewhere (CI compiles it; bench/gpu/check.sh runs it on a lent machine).
#include <cuda_runtime_api.h>
#include <nccl.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <memory>

#include "ringload/checkpoint.hpp"
#include "ringload/nccl_group.hpp"
#include "support/checkpoints.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

struct CommDeleter {
  void operator()(ncclComm* comm) const noexcept { ncclCommDestroy(comm); }
};
struct StreamDeleter {
  void operator()(CUstream_st* stream) const noexcept { cudaStreamDestroy(stream); }
};

TEST(NcclGroupTest, OneGpuLoadsEveryTensorByteExact) {
  auto sink = make_cuda_sink(CudaSinkOptions{.device = 0, .streams = 2});
  if (!sink) GTEST_SKIP() << "needs a CUDA device: " << sink.error().to_string();
  ncclComm_t raw_comm = nullptr;
  const int devices[] = {0};
  ASSERT_EQ(ncclCommInitAll(&raw_comm, 1, devices), ncclSuccess);
  const std::unique_ptr<ncclComm, CommDeleter> comm(raw_comm);
  cudaStream_t raw_stream = nullptr;
  ASSERT_EQ(cudaSetDevice(0), cudaSuccess);
  ASSERT_EQ(cudaStreamCreate(&raw_stream), cudaSuccess);
  const std::unique_ptr<CUstream_st, StreamDeleter> stream(raw_stream);
  auto group = NcclGroup::create(comm.get(), stream.get());
  ASSERT_TRUE(group) << group.error().to_string();

  test::TempDir dir;
  test::generate_or_fail(dir.file("ckpt"), test::small_checkpoint(Format::safetensors, 3, 24, 3ULL << 20));
  auto checkpoint = Checkpoint::open(dir.file("ckpt"));
  ASSERT_TRUE(checkpoint) << checkpoint.error().to_string();
  auto report = load_into(*checkpoint, **sink, test::small_ring(Strategy::automatic), *group,
                          CollectiveOptions{.round_bytes = 1ULL << 20});
  ASSERT_TRUE(report) << report.error().to_string();
  ASSERT_TRUE(report->collective);
  EXPECT_EQ(report->collective->world, 1U);
  EXPECT_EQ(report->collective->bytes_received, 0U);
  for (std::uint32_t i = 0; i < checkpoint->tensors().size(); ++i) {
    const TensorInfo& t = checkpoint->tensors()[i];
    auto back = copy_to_host(**sink, i);
    ASSERT_TRUE(back) << back.error().to_string();
    auto want = checkpoint->tensor_bytes(t.name);
    ASSERT_TRUE(want) << want.error().to_string();
    ASSERT_EQ(back->size(), want->size()) << t.name;
    EXPECT_TRUE(std::equal(back->begin(), back->end(), want->begin())) << t.name;
  }
}

}  // namespace
}  // namespace ringload
