// The CUDA sink: one stream-ordered device allocation per load with the tensors in file order, so
// a chunk of neighbouring tensors is one cudaMemcpyAsync and one event; copies on K streams
// round-robin by staging slot; freed with cudaFreeAsync, so an unload never synchronises the
// device. The staging ring pins itself (StagingRing::pin_for); the sink only names its device.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "ringload/sink.hpp"
#include "sink/cuda_call.hpp"
#include "sink/destination_layout.hpp"
#include "sink/host_readback.hpp"

namespace ringload {
namespace {

// Events are kept per slot index; a ring of more slots than this is a caller's mistake.
constexpr std::uint32_t kMaxSlots = 1U << 16;
// Device pointers of every tensor on a 256-byte boundary: what cudaMalloc gives, what kernels
// assume.
constexpr std::uint64_t kDeviceAlignment = 256;

// Owner: the pipeline's io thread calls every method (see Sink); not thread-safe.
class CudaSink final : public Sink {
 public:
  CudaSink(int device, bool stream_ordered, std::vector<cuda::Stream> streams,
           std::vector<cuda::Event> stream_done)
      : device_(device),
        stream_ordered_(stream_ordered),
        streams_(std::move(streams)),
        stream_done_(std::move(stream_done)) {}
  CudaSink(const CudaSink&) = delete;
  CudaSink& operator=(const CudaSink&) = delete;
  CudaSink(CudaSink&&) = delete;
  CudaSink& operator=(CudaSink&&) = delete;

  ~CudaSink() override {
    // Copies in flight still read staging and write the arena: let them land first.
    if (auto guard = cuda::DeviceGuard::enter(device_)) {
      (void)synchronize_streams();
      free_arena();
      if (stream_ordered_) (void)cudaStreamSynchronize(streams_.front().get());  // the free itself
    }
  }

  static Result<std::unique_ptr<Sink>> create(int device, std::uint32_t stream_count) {
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device));
    int pools = 0;
    RINGLOAD_TRY_VOID(cuda::check(cudaDeviceGetAttribute(&pools, cudaDevAttrMemoryPoolsSupported, device),
                                  "cudaDeviceGetAttribute(MemoryPoolsSupported)"));
    std::vector<cuda::Stream> streams;
    std::vector<cuda::Event> stream_done;
    for (std::uint32_t i = 0; i < stream_count; ++i) {
      streams.push_back(RINGLOAD_TRY(cuda::Stream::create()));
      stream_done.push_back(RINGLOAD_TRY(cuda::Event::create()));
    }
    return std::unique_ptr<Sink>(
        std::make_unique<CudaSink>(device, pools != 0, std::move(streams), std::move(stream_done)));
  }

  [[nodiscard]] std::string_view name() const override { return "cuda"; }
  [[nodiscard]] std::optional<int> staging_device() const override { return device_; }

  Result<void> prepare(std::span<const SinkTensor> tensors) override {
    auto layout = RINGLOAD_TRY(DestinationLayout::make(tensors, kDeviceAlignment, name()));
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
    // A previous load's copies may still be writing into the arena about to be freed.
    RINGLOAD_TRY_VOID(synchronize_streams());
    free_arena();
    layout_ = std::move(layout);
    RINGLOAD_TRY_VOID(allocate_arena());
    return {};
  }

  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override {
    RINGLOAD_TRY_VOID(layout_.check_write(index, offset, bytes.size()));
    if (slot != kNoSlot && slot >= kMaxSlots) {
      return make_error(
          ErrorKind::invalid_argument,
          fmt::format("staging slot {} is beyond the {} slots this sink tracks", slot, kMaxSlots));
    }
    if (bytes.empty()) return {};
    std::byte* destination = arena_ + layout_.offset(index) + offset;
    if (pending_.slot == slot && pending_.bytes > 0 && pending_.destination + pending_.bytes == destination &&
        pending_.source + pending_.bytes == bytes.data()) {
      pending_.bytes += bytes.size();  // the next tensor of the chunk: the same copy, longer
      return {};
    }
    RINGLOAD_TRY_VOID(flush());
    pending_ = Pending{destination, bytes.data(), bytes.size(), slot, index};
    // Bytes outside the ring (kNoSlot) are the caller's until finish(), which waits on every
    // stream: issue them now.
    if (slot == kNoSlot) RINGLOAD_TRY_VOID(flush());
    return {};
  }

  Result<void> slot_written(std::uint32_t slot) override {
    if (slot == kNoSlot) return {};
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
    RINGLOAD_TRY_VOID(flush());
    // A slot always maps to the same stream, so the event recorded after its latest copy also
    // covers every earlier copy from that slot (a stream runs in order).
    if (slot >= slot_done_.size()) slot_done_.resize(static_cast<std::size_t>(slot) + 1);
    if (!slot_done_[slot].valid()) slot_done_[slot] = RINGLOAD_TRY(cuda::Event::create());
    return cuda::check(cudaEventRecord(slot_done_[slot].get(), stream_for(slot)), "cudaEventRecord");
  }

  Result<bool> slot_idle(std::uint32_t slot) override {
    if (slot >= slot_done_.size() || !slot_done_[slot].valid()) return true;  // never copied from
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
    return slot_done_[slot].done();
  }

  Result<void> wait_slot_idle(std::uint32_t slot) override {
    if (slot >= slot_done_.size() || !slot_done_[slot].valid()) return {};
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
    return cuda::check(cudaEventSynchronize(slot_done_[slot].get()), "cudaEventSynchronize");
  }

  Result<void> finish() override {
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
    RINGLOAD_TRY_VOID(flush());
    return synchronize_streams();
  }

  [[nodiscard]] Destination destination(std::uint32_t index) const override {
    if (index >= layout_.count()) return Destination{.data = nullptr, .size = 0, .on_device = true};
    return Destination{.data = layout_.size(index) > 0 ? arena_ + layout_.offset(index) : nullptr,
                       .size = layout_.size(index),
                       .on_device = true};
  }

  void discard() noexcept override {
    auto guard = cuda::DeviceGuard::enter(device_);
    if (!guard) return;
    pending_ = Pending{};
    free_arena();  // stream-ordered after every copy issued so far
    layout_ = DestinationLayout{};
  }

  // The bytes of tensor `index`, read back after every copy so far has landed.
  [[nodiscard]] Result<std::vector<std::byte>> read_back(std::uint32_t index) const {
    if (index >= layout_.count()) {
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("copy_to_host: tensor index {}, but the sink holds {} tensors", index,
                                    layout_.count()));
    }
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
    RINGLOAD_TRY_VOID(synchronize_streams());
    std::vector<std::byte> host(layout_.size(index));
    if (host.empty()) return host;
    const cudaStream_t stream = streams_.front().get();
    const cudaError_t status = cudaMemcpyAsync(host.data(), arena_ + layout_.offset(index), host.size(),
                                               cudaMemcpyDeviceToHost, stream);
    if (status != cudaSuccess)
      return cuda::error(status, "cudaMemcpyAsync (device to host)", layout_.name(index));
    RINGLOAD_TRY_VOID(cuda::check(cudaStreamSynchronize(stream), "cudaStreamSynchronize"));
    return host;
  }

 private:
  struct Pending {  // a copy being extended while the chunk's next pieces continue it
    std::byte* destination = nullptr;
    const std::byte* source = nullptr;
    std::uint64_t bytes = 0;
    std::uint32_t slot = kNoSlot;
    std::uint32_t index = 0;  // its first tensor, for messages
  };

  [[nodiscard]] cudaStream_t stream_for(std::uint32_t slot) {
    if (slot != kNoSlot) return streams_[slot % streams_.size()].get();
    next_unslotted_ = (next_unslotted_ + 1) % streams_.size();
    return streams_[next_unslotted_].get();
  }

  // Issues the pending copy.
  Result<void> flush() {
    if (pending_.bytes == 0) return {};
    const Pending p = std::exchange(pending_, Pending{});
    const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
    const cudaError_t status =
        cudaMemcpyAsync(p.destination, p.source, p.bytes, cudaMemcpyHostToDevice, stream_for(p.slot));
    if (status != cudaSuccess) return cuda::error(status, "cudaMemcpyAsync", layout_.name(p.index));
    return {};
  }

  // One allocation for the load; streams other than the first wait for it to exist.
  Result<void> allocate_arena() {
    const std::uint64_t bytes = layout_.total_bytes();
    if (bytes == 0) return {};
    void* memory = nullptr;
    const cudaStream_t first = streams_.front().get();
    const cudaError_t status =
        stream_ordered_ ? cudaMallocAsync(&memory, bytes, first) : cudaMalloc(&memory, bytes);
    if (status != cudaSuccess) {
      Error e = cuda::error(status, fmt::format("allocating {} bytes on device {} for {} tensors", bytes,
                                                device_, layout_.count()));
      std::size_t free_bytes = 0;
      std::size_t total_bytes = 0;
      if (cudaMemGetInfo(&free_bytes, &total_bytes) == cudaSuccess) {
        e.message += fmt::format(" (device {} has {} of {} bytes free)", device_, free_bytes, total_bytes);
      } else {
        (void)cudaGetLastError();
      }
      return e;
    }
    arena_ = static_cast<std::byte*>(memory);
    if (stream_ordered_) {
      RINGLOAD_TRY_VOID(cuda::check(cudaEventRecord(stream_done_.front().get(), first), "cudaEventRecord"));
      for (std::size_t i = 1; i < streams_.size(); ++i) {
        RINGLOAD_TRY_VOID(cuda::check(cudaStreamWaitEvent(streams_[i].get(), stream_done_.front().get(), 0),
                                      "cudaStreamWaitEvent"));
      }
    }
    return {};
  }

  // Stream-ordered after every copy issued on any stream: the first stream waits for the others,
  // then frees. Nothing waits on the host, nothing synchronises the device.
  void free_arena() noexcept {
    if (arena_ == nullptr) return;
    if (!stream_ordered_) {
      (void)synchronize_streams();
      if (cudaFree(arena_) != cudaSuccess) (void)cudaGetLastError();
      arena_ = nullptr;
      return;
    }
    const cudaStream_t first = streams_.front().get();
    for (std::size_t i = 1; i < streams_.size(); ++i) {
      if (cudaEventRecord(stream_done_[i].get(), streams_[i].get()) != cudaSuccess ||
          cudaStreamWaitEvent(first, stream_done_[i].get(), 0) != cudaSuccess) {
        (void)cudaGetLastError();
      }
    }
    if (cudaFreeAsync(arena_, first) != cudaSuccess) (void)cudaGetLastError();
    arena_ = nullptr;
  }

  // Waits, sleeping, until every copy issued so far on our streams has landed; returns the first
  // error, including a sticky one left by an earlier asynchronous failure. The device is current.
  [[nodiscard]] Result<void> synchronize_streams() const {
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      RINGLOAD_TRY_VOID(
          cuda::check(cudaEventRecord(stream_done_[i].get(), streams_[i].get()), "cudaEventRecord"));
    }
    for (const cuda::Event& done : stream_done_) {
      RINGLOAD_TRY_VOID(cuda::check(cudaEventSynchronize(done.get()), "cudaEventSynchronize"));
    }
    return {};
  }

  int device_;
  bool stream_ordered_;  // the device has memory pools (cudaMallocAsync); else cudaMalloc/cudaFree
  std::vector<cuda::Stream> streams_;
  std::vector<cuda::Event> stream_done_;  // one per stream
  std::vector<cuda::Event> slot_done_;    // by staging slot; empty until the slot is first copied from
  DestinationLayout layout_;
  std::byte* arena_ = nullptr;
  Pending pending_;
  std::size_t next_unslotted_ = 0;
};

}  // namespace

Result<std::unique_ptr<Sink>> make_cuda_sink(const CudaSinkOptions& options) {
  RINGLOAD_TRY_VOID(check_cuda_sink_options(options));
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    Error e = cuda::error(status, "cudaGetDeviceCount");
    e.kind = ErrorKind::no_device;
    e.message = "no CUDA device: " + e.message;
    return e;
  }
  if (count <= 0)
    return make_error(ErrorKind::no_device, "no CUDA device: cudaGetDeviceCount found 0 devices");
  if (options.device >= count) {
    return make_error(ErrorKind::no_device, fmt::format("no CUDA device {}: this machine has {} (0..{})",
                                                        options.device, count, count - 1));
  }
  return CudaSink::create(options.device, options.streams);
}

Result<std::vector<std::byte>> copy_to_host(const Sink& sink, std::uint32_t index) {
  if (const auto* cuda = dynamic_cast<const CudaSink*>(&sink)) return cuda->read_back(index);
  return copy_host_destination(sink, index);
}

bool cuda_sink_compiled() noexcept { return true; }

}  // namespace ringload
