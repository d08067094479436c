// Where a load's tensors sit in a sink's one allocation, and the checks every sink (the CUDA one
// included) makes on what it is handed, tested without a GPU.
#include "sink/destination_layout.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "sink/host_readback.hpp"

namespace ringload {
namespace {

struct Tensors {
  std::vector<TensorInfo> infos;
  std::vector<SinkTensor> sink;
};

Tensors tensors_of(const std::vector<std::uint64_t>& sizes) {
  Tensors t;
  t.infos.resize(sizes.size());
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    t.infos[i].name = "w" + std::to_string(i);
    t.infos[i].size = sizes[i];
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    t.sink.push_back(
        SinkTensor{.index = static_cast<std::uint32_t>(i), .info = &t.infos[i], .size = sizes[i]});
  }
  return t;
}

TEST(DestinationLayout, PlacesTensorsInLoadOrderOnAlignedBoundaries) {
  const Tensors t = tensors_of({256, 10, 0, 300, 1});
  auto layout = DestinationLayout::make(t.sink, 256, "test");
  ASSERT_TRUE(layout) << layout.error().to_string();
  // 256 fills its block exactly, so the next tensor follows at once: one copy for both.
  EXPECT_EQ(layout->offset(0), 0U);
  EXPECT_EQ(layout->offset(1), 256U);
  EXPECT_EQ(layout->offset(2), 512U);
  EXPECT_EQ(layout->offset(3), 512U);
  EXPECT_EQ(layout->offset(4), 1024U);
  EXPECT_EQ(layout->total_bytes(), 1025U);
  EXPECT_EQ(layout->name(3), "w3");
}

TEST(DestinationLayout, TensorsGivenOutOfOrderAreLaidOutByIndex) {
  Tensors t = tensors_of({64, 64});
  std::swap(t.sink[0], t.sink[1]);
  auto layout = DestinationLayout::make(t.sink, 64, "test");
  ASSERT_TRUE(layout);
  EXPECT_EQ(layout->offset(0), 0U);
  EXPECT_EQ(layout->offset(1), 64U);
}

TEST(DestinationLayout, ARepeatedOrOutOfRangeIndexIsInvalidArgument) {
  Tensors repeated = tensors_of({16, 16});
  repeated.sink[1].index = 0;
  auto a = DestinationLayout::make(repeated.sink, 64, "cuda");
  ASSERT_FALSE(a);
  EXPECT_EQ(a.error().kind, ErrorKind::invalid_argument);
  Tensors beyond = tensors_of({16, 16});
  beyond.sink[1].index = 2;
  auto b = DestinationLayout::make(beyond.sink, 64, "cuda");
  ASSERT_FALSE(b);
  EXPECT_EQ(b.error().kind, ErrorKind::invalid_argument);
}

TEST(DestinationLayout, SizesThatOverflowOneAllocationAreInvalidArgumentNamingTheTensor) {
  const Tensors t = tensors_of({UINT64_MAX - 10, 100});
  auto layout = DestinationLayout::make(t.sink, 64, "host");
  ASSERT_FALSE(layout);
  EXPECT_EQ(layout.error().kind, ErrorKind::invalid_argument);
  EXPECT_EQ(layout.error().tensor, "w1");
}

TEST(DestinationLayout, AWriteOutsideItsTensorIsOutOfBoundsNamingIt) {
  const Tensors t = tensors_of({4096, 8});
  auto layout = DestinationLayout::make(t.sink, 256, "cuda");
  ASSERT_TRUE(layout);
  EXPECT_TRUE(layout->check_write(0, 0, 4096));
  EXPECT_TRUE(layout->check_write(0, 4096, 0));
  auto past = layout->check_write(0, 4095, 2);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().kind, ErrorKind::out_of_bounds);
  EXPECT_EQ(past.error().tensor, "w0");
  auto wrapped = layout->check_write(1, UINT64_MAX, 2);
  ASSERT_FALSE(wrapped);
  EXPECT_EQ(wrapped.error().kind, ErrorKind::out_of_bounds);
  EXPECT_EQ(wrapped.error().tensor, "w1");
  auto unknown = layout->check_write(2, 0, 1);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::invalid_argument);
}

TEST(HostSinkChecks, RejectWhatTheCudaSinkRejects) {
  HostSink sink;
  Tensors repeated = tensors_of({16, 16});
  repeated.sink[1].index = 0;
  auto prepared = sink.prepare(repeated.sink);
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().kind, ErrorKind::invalid_argument);

  const Tensors t = tensors_of({100});
  ASSERT_TRUE(sink.prepare(t.sink));
  const std::vector<std::byte> two(2);
  auto past = sink.write(0, 99, two, 0);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().kind, ErrorKind::out_of_bounds);
  EXPECT_EQ(past.error().tensor, "w0");
}

TEST(NullSinkChecks, RejectAnIndexItWasNotPreparedFor) {
  NullSink sink;
  Tensors repeated = tensors_of({16, 16});
  repeated.sink[0].index = 1;
  auto prepared = sink.prepare(repeated.sink);
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().kind, ErrorKind::invalid_argument);
  const Tensors t = tensors_of({8});
  ASSERT_TRUE(sink.prepare(t.sink));
  const std::vector<std::byte> one(1);
  auto unknown = sink.write(1, 0, one, 0);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::out_of_bounds);
  EXPECT_EQ(sink.bytes_seen(), 0U);
}

TEST(CudaSinkOptionsCheck, StreamsAndDeviceAreCheckedOnEveryBuild) {
  EXPECT_TRUE(check_cuda_sink_options(CudaSinkOptions{.device = 0, .streams = 1}));
  EXPECT_TRUE(check_cuda_sink_options(CudaSinkOptions{.device = 7, .streams = kMaxCudaStreams}));
  for (const CudaSinkOptions bad : {CudaSinkOptions{.device = 0, .streams = 0},
                                    CudaSinkOptions{.device = 0, .streams = kMaxCudaStreams + 1},
                                    CudaSinkOptions{.device = -1, .streams = 2}}) {
    auto checked = check_cuda_sink_options(bad);
    ASSERT_FALSE(checked);
    EXPECT_EQ(checked.error().kind, ErrorKind::invalid_argument);
    // make_cuda_sink says the same, device or not.
    auto made = make_cuda_sink(bad);
    ASSERT_FALSE(made);
    EXPECT_EQ(made.error().kind, ErrorKind::invalid_argument);
  }
}

}  // namespace
}  // namespace ringload
