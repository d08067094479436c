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

TEST(CudaSink, PinnedH2dCeilingWithoutDeviceIsNoDevice) {
  const DeviceProbe probe = probe_devices();
  if (probe.count > 0) GTEST_SKIP() << probe.count << " CUDA device(s) present";
  auto gbps = measure_pinned_h2d_gb_per_s();
  ASSERT_FALSE(gbps);
  EXPECT_EQ(gbps.error().kind, ErrorKind::no_device);
}

TEST(CudaSink, PinnedH2dCeilingIsPositiveOnADevice) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "no CUDA device: " << probe.reason;
  auto gbps = measure_pinned_h2d_gb_per_s(0, 64ULL << 20, 3);
  ASSERT_TRUE(gbps) << gbps.error().to_string();
  EXPECT_GT(*gbps, 1.0) << "pinned H2D below 1 GB/s is no PCIe link";
}

TEST(CudaSink, CreateWithoutDeviceIsNoDevice) {
  const DeviceProbe probe = probe_devices();
  if (probe.count > 0) GTEST_SKIP() << probe.count << " CUDA device(s) present";
  auto sink = make_cuda_sink();
  ASSERT_FALSE(sink);
  EXPECT_EQ(sink.error().kind, ErrorKind::no_device);
  EXPECT_EQ(sink.error().offset, std::nullopt);
  const std::string& message = sink.error().message;
#if RINGLOAD_HAVE_CUDA
  EXPECT_NE(message.find("no CUDA device: "), std::string::npos) << message;
  EXPECT_NE(message.find(probe.reason), std::string::npos) << message << " lacks: " << probe.reason;
#else
  EXPECT_EQ(message, "this ringload was built without CUDA (no toolkit found at build time)");
#endif
}

TEST(CudaSink, ZeroStreamsIsInvalidArgumentOnEveryMachine) {
  if (!cuda_sink_compiled()) GTEST_SKIP() << "built without CUDA: every request is no_device";
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
  AlignedBytes staging = aligned_bytes(kSlots * kSlotBytes);
  ASSERT_NE(staging, nullptr);
  const std::span<std::byte> ring(staging.get(), kSlots * kSlotBytes);
  if (pin_staging) {
    auto attached = sink.attach_staging(ring);
    ASSERT_TRUE(attached) << attached.error().to_string();
    auto again = sink.attach_staging(ring);  // a loader reusing its ring: nothing to do
    ASSERT_TRUE(again) << again.error().to_string();
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
  ASSERT_TRUE(sink.attach_staging(slot));
  const Tensors tensors = make_tensors({kSlotBytes, kSlotBytes}, 21);
  ASSERT_TRUE(sink.prepare(tensors.sink));

  auto idle_before = sink.slot_idle(0);  // never copied from
  ASSERT_TRUE(idle_before);
  EXPECT_TRUE(*idle_before);
  std::memcpy(slot.data(), tensors.contents[0].data(), kSlotBytes);
  ASSERT_TRUE(sink.write(0, 0, slot, 0));
  auto waited = sink.wait_slot_idle(0);
  ASSERT_TRUE(waited) << waited.error().to_string();
  auto idle = sink.slot_idle(0);
  ASSERT_TRUE(idle) << idle.error().to_string();
  EXPECT_TRUE(*idle);
  // Overwrite the slot at once: tensor 0 must keep the first contents.
  std::memcpy(slot.data(), tensors.contents[1].data(), kSlotBytes);
  ASSERT_TRUE(sink.write(1, 0, slot, 0));
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

TEST(CudaSink, AttachPinsStagingOnceAndEmptySpanUnpinsIt) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
#if RINGLOAD_HAVE_CUDA
  const auto memory_type = [](const std::byte* p) {
    cudaPointerAttributes attributes{};
    EXPECT_EQ(cudaPointerGetAttributes(&attributes, p), cudaSuccess);
    return attributes.type;
  };
  AlignedBytes staging = aligned_bytes(kSlotBytes);
  ASSERT_NE(staging, nullptr);
  const std::span<std::byte> ring(staging.get(), kSlotBytes);
  const std::byte* last = ring.data() + ring.size() - 1;
  if (memory_type(ring.data()) != cudaMemoryTypeUnregistered) {
    GTEST_SKIP() << "malloc'd memory does not report cudaMemoryTypeUnregistered on this system";
  }

  auto first = make_cuda_sink();
  ASSERT_TRUE(first) << first.error().to_string();
  auto attached = (**first).attach_staging(ring);
  ASSERT_TRUE(attached) << attached.error().to_string();
  EXPECT_EQ(memory_type(ring.data()), cudaMemoryTypeHost);
  EXPECT_EQ(memory_type(last), cudaMemoryTypeHost);
  {
    // A second sink on the same ring finds it pinned; the pin is not its to undo.
    auto second = make_cuda_sink();
    ASSERT_TRUE(second) << second.error().to_string();
    auto shared = (**second).attach_staging(ring);
    ASSERT_TRUE(shared) << shared.error().to_string();
  }
  EXPECT_EQ(memory_type(ring.data()), cudaMemoryTypeHost);

  auto detached = (**first).attach_staging({});
  ASSERT_TRUE(detached) << detached.error().to_string();
  EXPECT_EQ(memory_type(ring.data()), cudaMemoryTypeUnregistered);

  ASSERT_TRUE((**first).attach_staging(ring));
  first->reset();  // destroying the sink unpins what it pinned
  EXPECT_EQ(memory_type(ring.data()), cudaMemoryTypeUnregistered);
#endif
}

TEST(CudaSink, OutOfRangeDeviceIsNoDevice) {
  const DeviceProbe probe = probe_devices();
  if (probe.count == 0) GTEST_SKIP() << "needs a CUDA device: " << probe.reason;
  for (const int device : {probe.count, -1}) {
    auto sink = make_cuda_sink(CudaSinkOptions{.device = device, .streams = 2});
    ASSERT_FALSE(sink) << "device " << device;
    EXPECT_EQ(sink.error().kind, ErrorKind::no_device);
    EXPECT_NE(sink.error().message.find("no CUDA device " + std::to_string(device)), std::string::npos)
        << sink.error().message;
  }
}

}  // namespace
}  // namespace ringload
