// The CUDA sink: no_device without a GPU (every CUDA build machine here), byte-exact round trips
// through staging slots and streams where a GPU exists (skipped elsewhere), and copy_to_host's
// host-memory path, which every build has.
#include "ringload/sink.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/staging_ring.hpp"
#include "ringload/error.hpp"
#include "ringload/model.hpp"

#ifndef RINGLOAD_HAVE_CUDA
#error "RINGLOAD_HAVE_CUDA must be 0 or 1 (src/meson.build defines it for ringload_internal_dep)"
#endif
#if RINGLOAD_HAVE_CUDA
#include <cuda_runtime.h>
#endif

namespace ringload {
namespace {

// What cudaGetDeviceCount says, asked independently of the sink under test.
struct DeviceProbe {
  int count = 0;
  std::string reason;  // why there is none (empty when count > 0)
};

DeviceProbe probe_devices() {
#if RINGLOAD_HAVE_CUDA
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    (void)cudaGetLastError();
    return {.count = 0, .reason = cudaGetErrorString(status)};
  }
  if (count <= 0) return {.count = 0, .reason = "0 devices"};
  return {.count = count, .reason = {}};
#else
  return {.count = 0, .reason = "built without CUDA"};
#endif
}

// Random-ish bytes (xorshift64), different per seed: a misplaced chunk cannot compare equal.
std::vector<std::byte> pattern(std::size_t size_bytes, std::uint64_t seed) {
  std::vector<std::byte> out(size_bytes);
  std::uint64_t state = 0x9E3779B97F4A7C15ULL * (seed + 1);
  for (std::byte& b : out) {
    state ^= state << 13;
    state ^= state >> 7;
    state ^= state << 17;
    b = static_cast<std::byte>(state >> 56);
  }
  return out;
}

struct FreeDeleter {
  void operator()(std::byte* p) const noexcept { std::free(p); }
};
using AlignedBytes = std::unique_ptr<std::byte[], FreeDeleter>;

// A page-aligned staging ring, as the pipeline allocates one.
AlignedBytes aligned_bytes(std::size_t size_bytes) {
  return AlignedBytes(static_cast<std::byte*>(std::aligned_alloc(4096, size_bytes)));
}

struct Tensors {
  std::vector<TensorInfo> infos;
  std::vector<SinkTensor> sink;
  std::vector<std::vector<std::byte>> contents;
};

Tensors make_tensors(const std::vector<std::uint64_t>& sizes, std::uint64_t seed) {
  Tensors t;
  t.infos.resize(sizes.size());
  std::uint64_t file_offset = 0;
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    t.infos[i].name = "t" + std::to_string(i);
    t.infos[i].offset = file_offset;
    t.infos[i].size = sizes[i];
    t.contents.push_back(pattern(sizes[i], seed + i));
    file_offset += sizes[i];
  }
  for (std::size_t i = 0; i < sizes.size(); ++i) {
    t.sink.push_back(SinkTensor{.index = static_cast<std::uint32_t>(i),
                                .info = &t.infos[i],
                                .file_offset = t.infos[i].offset,
                                .size = sizes[i]});
  }
  return t;
}

// Feeds every tensor through the ring the way the pipeline does: chunks of chunk_bytes (not a
// divisor of anything, so offsets are unaligned), slots in turn, each refilled only once idle.
void write_through_ring(Sink& sink, const Tensors& tensors, std::span<std::byte> staging,
                        std::uint32_t slot_count, std::size_t chunk_bytes) {
  const std::size_t slot_bytes = staging.size() / slot_count;
  ASSERT_LE(chunk_bytes, slot_bytes);
  std::uint32_t next = 0;
  for (const SinkTensor& tensor : tensors.sink) {
    const std::vector<std::byte>& content = tensors.contents[tensor.index];
    for (std::size_t offset = 0; offset < content.size(); offset += chunk_bytes) {
      const std::size_t n = std::min(chunk_bytes, content.size() - offset);
      const std::uint32_t slot = next++ % slot_count;
      auto idle = sink.wait_slot_idle(slot);
      ASSERT_TRUE(idle) << idle.error().to_string();
      std::span<std::byte> slot_bytes_span = staging.subspan(slot * slot_bytes, n);
      std::memcpy(slot_bytes_span.data(), content.data() + offset, n);
      auto written = sink.write(tensor.index, offset, slot_bytes_span, slot);
      ASSERT_TRUE(written) << written.error().to_string();
      auto marked = sink.slot_written(slot);
      ASSERT_TRUE(marked) << marked.error().to_string();
    }
  }
}

void expect_contents(const Sink& sink, const Tensors& tensors) {
  for (const SinkTensor& tensor : tensors.sink) {
    const Destination destination = sink.destination(tensor.index);
    EXPECT_TRUE(destination.on_device);
    EXPECT_EQ(destination.size, tensor.size);
    EXPECT_EQ(destination.data == nullptr, tensor.size == 0) << "tensor " << tensor.index;
    auto back = copy_to_host(sink, tensor.index);
    ASSERT_TRUE(back) << back.error().to_string();
    EXPECT_TRUE(*back == tensors.contents[tensor.index]) << "tensor " << tensor.index << " differs";
  }
}

// A sink whose one destination (index 0) is whatever the test says.
class FakeSink final : public Sink {
 public:
  FakeSink(std::vector<std::byte> bytes, bool keeps_bytes, bool on_device)
      : bytes_(std::move(bytes)), keeps_bytes_(keeps_bytes), on_device_(on_device) {}
  [[nodiscard]] std::string_view name() const override { return "fake"; }
  Result<void> prepare(std::span<const SinkTensor>) override { return {}; }
  Result<void> write(std::uint32_t, std::uint64_t, std::span<const std::byte>, std::uint32_t) override {
    return {};
  }
  Result<void> finish() override { return {}; }
  [[nodiscard]] Destination destination(std::uint32_t index) const override {
    if (index != 0) return {};
    return Destination{.data = keeps_bytes_ ? const_cast<std::byte*>(bytes_.data()) : nullptr,
                       .size = bytes_.size(),
                       .on_device = on_device_};
  }

 private:
  std::vector<std::byte> bytes_;
  bool keeps_bytes_;
  bool on_device_;
};

TEST(CudaSink, CompiledWhenToolkitFound) { EXPECT_EQ(cuda_sink_compiled(), RINGLOAD_HAVE_CUDA == 1); }

TEST(CudaSink, CreateWithoutDeviceIsNoDevice) {
  const DeviceProbe probe = probe_devices();
  if (probe.count > 0) GTEST_SKIP() << probe.count << " CUDA device(s) present";
  auto sink = make_cuda_sink();
  ASSERT_FALSE(sink);
  EXPECT_EQ(sink.error().kind, ErrorKind::no_device);
  EXPECT_EQ(sink.error().offset, std::nullopt);
  const std::string& message = sink.error().message;
#if RINGLOAD_HAVE_CUDA
  // The runtime's own reason reaches the user.
  EXPECT_NE(message.find(probe.reason), std::string::npos) << message << " lacks: " << probe.reason;
#else
  EXPECT_FALSE(message.empty());
#endif
}

TEST(CudaSink, ZeroStreamsIsInvalidArgumentOnEveryMachine) {
  auto sink = make_cuda_sink(CudaSinkOptions{.device = 0, .streams = 0});
  ASSERT_FALSE(sink);
  EXPECT_EQ(sink.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(sink.error().message.find("0 streams"), std::string::npos) << sink.error().message;
}

TEST(CudaSink, CopyToHostReadsHostDestinations) {
  const std::vector<std::byte> bytes = pattern(4097, 7);
  FakeSink sink(bytes, /*keeps_bytes=*/true, /*on_device=*/false);
  auto back = copy_to_host(sink, 0);
  ASSERT_TRUE(back) << back.error().to_string();
  EXPECT_TRUE(*back == bytes);
  auto unknown = copy_to_host(sink, 1);  // an empty destination
  ASSERT_TRUE(unknown) << unknown.error().to_string();
  EXPECT_TRUE(unknown->empty());
}

TEST(CudaSink, CopyToHostRejectsSinkThatKeepsNoBytes) {
  FakeSink sink(pattern(16, 1), /*keeps_bytes=*/false, /*on_device=*/false);
  auto back = copy_to_host(sink, 0);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(back.error().message.find("'fake'"), std::string::npos) << back.error().message;
}

TEST(CudaSink, CopyToHostRejectsDeviceDestinationOfAnotherSink) {
  FakeSink sink(pattern(16, 2), /*keeps_bytes=*/true, /*on_device=*/true);
  auto back = copy_to_host(sink, 0);
  ASSERT_FALSE(back);
  EXPECT_EQ(back.error().kind, cuda_sink_compiled() ? ErrorKind::invalid_argument : ErrorKind::no_device);
}

// ---- With a device only ----------------------------------------------------------------------

constexpr std::uint32_t kSlots = 4;
constexpr std::size_t kSlotBytes = 1 << 20;

void round_trip(bool pin_staging, std::uint32_t streams) {
  auto made = make_cuda_sink(CudaSinkOptions{.device = 0, .streams = streams});
  ASSERT_TRUE(made) << made.error().to_string();
  Sink& sink = **made;
  EXPECT_EQ(sink.name(), "cuda");
  EXPECT_EQ(sink.staging_device(), 0);
  // The ring pins itself (the sink never does), as the pipeline's does.
  auto staging = StagingRing::create(kSlots, kSlotBytes);
  ASSERT_TRUE(staging) << staging.error().to_string();
  const std::span<std::byte> ring = (*staging)->memory();
  if (pin_staging) {
    auto pinned = (*staging)->pin_for(0, cuda_pinner());
    ASSERT_TRUE(pinned) << pinned.error().to_string();
  }
  const Tensors tensors = make_tensors({0, 1, 4097, 8 << 20, 3}, 11);
  auto prepared = sink.prepare(tensors.sink);
  ASSERT_TRUE(prepared) << prepared.error().to_string();
  ASSERT_NO_FATAL_FAILURE(write_through_ring(sink, tensors, ring, kSlots, kSlotBytes - 3));
  auto finished = sink.finish();
  ASSERT_TRUE(finished) << finished.error().to_string();
  for (std::uint32_t slot = 0; slot < kSlots; ++slot) {
    auto idle = sink.slot_idle(slot);
    ASSERT_TRUE(idle) << idle.error().to_string();
    EXPECT_TRUE(*idle) << "slot " << slot << " busy after finish()";
  }
  expect_contents(sink, tensors);
}

TEST(CudaSink, RoundTripsThroughPinnedSlotsAndStreamsByteExact) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  ASSERT_NO_FATAL_FAILURE(round_trip(/*pin_staging=*/true, /*streams=*/3));
  ASSERT_NO_FATAL_FAILURE(round_trip(/*pin_staging=*/true, /*streams=*/1));
}

TEST(CudaSink, RoundTripsFromUnpinnedStagingByteExact) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  ASSERT_NO_FATAL_FAILURE(round_trip(/*pin_staging=*/false, /*streams=*/2));
}

TEST(CudaSink, SlotIsReusableAfterWaitSlotIdle) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  auto made = make_cuda_sink(CudaSinkOptions{.device = 0, .streams = 2});
  ASSERT_TRUE(made) << made.error().to_string();
  Sink& sink = **made;
  AlignedBytes staging = aligned_bytes(kSlotBytes);
  ASSERT_NE(staging, nullptr);
  const std::span<std::byte> slot(staging.get(), kSlotBytes);
  const Tensors tensors = make_tensors({kSlotBytes, kSlotBytes}, 21);
  ASSERT_TRUE(sink.prepare(tensors.sink));

  auto idle_before = sink.slot_idle(0);  // never copied from
  ASSERT_TRUE(idle_before);
  EXPECT_TRUE(*idle_before);
  std::memcpy(slot.data(), tensors.contents[0].data(), kSlotBytes);
  ASSERT_TRUE(sink.write(0, 0, slot, 0));
  ASSERT_TRUE(sink.slot_written(0));
  auto waited = sink.wait_slot_idle(0);
  ASSERT_TRUE(waited) << waited.error().to_string();
  auto idle = sink.slot_idle(0);
  ASSERT_TRUE(idle) << idle.error().to_string();
  EXPECT_TRUE(*idle);
  // Overwrite the slot at once: tensor 0 must keep the first contents.
  std::memcpy(slot.data(), tensors.contents[1].data(), kSlotBytes);
  ASSERT_TRUE(sink.write(1, 0, slot, 0));
  ASSERT_TRUE(sink.slot_written(0));
  ASSERT_TRUE(sink.finish());
  expect_contents(sink, tensors);
}

TEST(CudaSink, UnslottedWritesLandByFinish) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  auto made = make_cuda_sink(CudaSinkOptions{.device = 0, .streams = 2});
  ASSERT_TRUE(made) << made.error().to_string();
  Sink& sink = **made;
  const Tensors tensors = make_tensors({4097, 8 << 20, 1}, 31);
  ASSERT_TRUE(sink.prepare(tensors.sink));
  // Pageable bytes the caller keeps valid until finish() (the `read` and `mmap` baselines).
  for (const SinkTensor& tensor : tensors.sink) {
    const std::vector<std::byte>& content = tensors.contents[tensor.index];
    const std::size_t half = content.size() / 2;
    ASSERT_TRUE(sink.write(tensor.index, 0, std::span(content).first(half), kNoSlot));
    ASSERT_TRUE(sink.write(tensor.index, half, std::span(content).subspan(half), kNoSlot));
  }
  auto finished = sink.finish();
  ASSERT_TRUE(finished) << finished.error().to_string();
  expect_contents(sink, tensors);
}

TEST(CudaSink, PrepareAgainReplacesDestinations) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  auto made = make_cuda_sink();
  ASSERT_TRUE(made) << made.error().to_string();
  Sink& sink = **made;
  const Tensors first = make_tensors({100, 200, 300}, 41);
  ASSERT_TRUE(sink.prepare(first.sink));
  for (const SinkTensor& tensor : first.sink) {
    ASSERT_TRUE(sink.write(tensor.index, 0, first.contents[tensor.index], kNoSlot));
  }
  const Tensors second = make_tensors({5000}, 42);
  ASSERT_TRUE(sink.prepare(second.sink));
  ASSERT_TRUE(sink.write(0, 0, second.contents[0], kNoSlot));
  ASSERT_TRUE(sink.finish());
  expect_contents(sink, second);
  auto gone = copy_to_host(sink, 1);
  ASSERT_FALSE(gone);
  EXPECT_EQ(gone.error().kind, ErrorKind::invalid_argument);
}

TEST(CudaSink, WritePastDestinationEndIsOutOfBounds) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  auto made = make_cuda_sink();
  ASSERT_TRUE(made) << made.error().to_string();
  Sink& sink = **made;
  const Tensors tensors = make_tensors({4096}, 51);
  ASSERT_TRUE(sink.prepare(tensors.sink));
  const std::vector<std::byte> bytes = pattern(2, 52);
  auto past = sink.write(0, 4095, bytes, kNoSlot);
  ASSERT_FALSE(past);
  EXPECT_EQ(past.error().kind, ErrorKind::out_of_bounds);
  EXPECT_EQ(past.error().tensor, "t0");
  auto wrapped = sink.write(0, UINT64_MAX, bytes, 0);
  ASSERT_FALSE(wrapped);
  EXPECT_EQ(wrapped.error().kind, ErrorKind::out_of_bounds);
  auto unknown = sink.write(1, 0, bytes, 0);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().kind, ErrorKind::invalid_argument);
  ASSERT_TRUE(sink.finish());
}

TEST(CudaSink, RepeatedTensorIndexIsInvalidArgument) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  auto made = make_cuda_sink();
  ASSERT_TRUE(made) << made.error().to_string();
  Tensors tensors = make_tensors({16, 16}, 61);
  tensors.sink[1].index = 0;
  auto prepared = (**made).prepare(tensors.sink);
  ASSERT_FALSE(prepared);
  EXPECT_EQ(prepared.error().kind, ErrorKind::invalid_argument);
}

TEST(CudaSink, TheRingsPinLastsAsLongAsTheRing) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
#if RINGLOAD_HAVE_CUDA
  const auto memory_type = [](const std::byte* p) {
    cudaPointerAttributes attributes{};
    EXPECT_EQ(cudaPointerGetAttributes(&attributes, p), cudaSuccess);
    return attributes.type;
  };
  std::byte* first = nullptr;
  {
    auto ring = StagingRing::create(2, kSlotBytes);
    ASSERT_TRUE(ring) << ring.error().to_string();
    first = (*ring)->memory().data();
    ASSERT_EQ(memory_type(first), cudaMemoryTypeUnregistered);
    ASSERT_TRUE((*ring)->pin_for(0, cuda_pinner()));
    EXPECT_EQ(memory_type(first), cudaMemoryTypeHost);
    EXPECT_EQ(memory_type((*ring)->memory().data() + (*ring)->memory().size() - 1), cudaMemoryTypeHost);
    {
      auto sink = make_cuda_sink();  // a sink made and destroyed touches no pin
      ASSERT_TRUE(sink) << sink.error().to_string();
    }
    EXPECT_EQ(memory_type(first), cudaMemoryTypeHost);
  }
  // The ring is gone and so is its registration: a new ring (maybe at the same address) is not
  // taken for pinned.
  auto again = StagingRing::create(2, kSlotBytes);
  ASSERT_TRUE(again);
  EXPECT_EQ(memory_type((*again)->memory().data()), cudaMemoryTypeUnregistered);
#endif
}

TEST(CudaSink, LeavesTheCallersCurrentDeviceAsItWas) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
#if RINGLOAD_HAVE_CUDA
  const int mine = probe.count - 1;  // the last device: on a multi-GPU machine, not the sink's
  ASSERT_EQ(cudaSetDevice(mine), cudaSuccess);
  auto made = make_cuda_sink(CudaSinkOptions{.device = 0, .streams = 2});
  ASSERT_TRUE(made) << made.error().to_string();
  const Tensors tensors = make_tensors({4097, 3}, 71);
  ASSERT_TRUE((**made).prepare(tensors.sink));
  for (const SinkTensor& t : tensors.sink)
    ASSERT_TRUE((**made).write(t.index, 0, tensors.contents[t.index], kNoSlot));
  ASSERT_TRUE((**made).finish());
  int current = -1;
  ASSERT_EQ(cudaGetDevice(&current), cudaSuccess);
  EXPECT_EQ(current, mine);
  expect_contents(**made, tensors);
#endif
}

TEST(CudaSink, OutOfRangeDeviceIsNoDevice) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  auto sink = make_cuda_sink(CudaSinkOptions{.device = probe.count, .streams = 2});
  ASSERT_FALSE(sink);
  EXPECT_EQ(sink.error().kind, ErrorKind::no_device);
}

}  // namespace
}  // namespace ringload
