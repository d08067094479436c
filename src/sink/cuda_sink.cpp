// The CUDA sink: a cudaMalloc'd destination per tensor, copies on K streams round-robin by staging
// slot, an event per slot that says when the slot may be refilled. Compiled only when meson finds
// the CUDA toolkit; plain C++ against the runtime API (no kernels, so no nvcc).
//
// Every CUDA call's status becomes an Error naming the call and cudaGetErrorString on the spot. A
// failed call also sets the thread's "last error", which a caller's own launch check
// (`kernel<<<...>>>(); cudaGetLastError()`) would then mistake for its own: we consume it, since
// the Error value already reports it.
#include <cuda_runtime.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "ringload/error.hpp"
#include "ringload/sink.hpp"

namespace ringload {
namespace {

// More streams than copy engines buy nothing; a larger count is a caller's mistake.
constexpr std::uint32_t kMaxStreams = 64;
// Events are kept per slot index; a ring of more slots than this is a caller's mistake.
constexpr std::uint32_t kMaxSlots = 1U << 16;

// Drops the thread's sticky-until-read "last error" after we have turned `status` into a value.
void consume_last_error(cudaError_t status) noexcept {
  if (status != cudaSuccess) (void)cudaGetLastError();
}

[[nodiscard]] ErrorKind kind_of(cudaError_t status) noexcept {
  switch (status) {
    case cudaErrorMemoryAllocation: return ErrorKind::out_of_memory;
    case cudaErrorNoDevice:
    case cudaErrorInvalidDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorStubLibrary:
    case cudaErrorCallRequiresNewerDriver:
    case cudaErrorDevicesUnavailable:
    case cudaErrorDeviceNotLicensed:
    case cudaErrorSystemNotReady:
    case cudaErrorSystemDriverMismatch:
    case cudaErrorCompatNotSupportedOnDevice: return ErrorKind::no_device;
    default: return ErrorKind::io;
  }
}

// "cudaMemcpyAsync failed: an illegal memory access was encountered (cudaErrorIllegalAddress)"
[[nodiscard]] Error cuda_error(cudaError_t status, std::string_view call, std::string tensor = {}) {
  consume_last_error(status);
  return make_error(
      kind_of(status),
      fmt::format("{} failed: {} ({})", call, cudaGetErrorString(status), cudaGetErrorName(status)),
      std::nullopt, std::move(tensor));
}

[[nodiscard]] Result<void> check(cudaError_t status, std::string_view call) {
  if (status != cudaSuccess) return cuda_error(status, call);
  return {};
}

// Makes `device` current on the calling thread: the pipeline's io thread is not the thread that
// made the sink. The previous device is deliberately not restored: since CUDA 12, cudaSetDevice
// creates the device's primary context, so restoring the default device 0 on a thread that never
// used it would put a context on GPU 0 in every process of a multi-GPU service (one per rank).
[[nodiscard]] Result<void> make_current(int device) {
  int current = 0;
  const cudaError_t got = cudaGetDevice(&current);
  if (got != cudaSuccess) return cuda_error(got, "cudaGetDevice");
  if (current == device) return {};
  const cudaError_t set = cudaSetDevice(device);
  if (set != cudaSuccess) return cuda_error(set, fmt::format("cudaSetDevice({})", device));
  return {};
}

// Owner: the sink. The owning device must be current when it is freed (the sink's methods and
// destructor make it current first).
class DeviceBuffer {
 public:
  DeviceBuffer() noexcept = default;
  DeviceBuffer(DeviceBuffer&& other) noexcept
      : data_(std::exchange(other.data_, nullptr)), size_bytes_(std::exchange(other.size_bytes_, 0)) {}
  DeviceBuffer& operator=(DeviceBuffer&& other) noexcept {
    if (this != &other) {
      reset();
      data_ = std::exchange(other.data_, nullptr);
      size_bytes_ = std::exchange(other.size_bytes_, 0);
    }
    return *this;
  }
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  ~DeviceBuffer() { reset(); }

  // cudaMalloc of `size_bytes` on the current device; 0 bytes allocates nothing (null data).
  static Result<DeviceBuffer> allocate(std::uint64_t size_bytes, const std::string& tensor, int device) {
    DeviceBuffer buffer;
    buffer.size_bytes_ = size_bytes;
    if (size_bytes == 0) return buffer;
    const cudaError_t status = cudaMalloc(&buffer.data_, size_bytes);
    if (status == cudaSuccess) return buffer;
    buffer.data_ = nullptr;
    consume_last_error(status);
    if (status != cudaErrorMemoryAllocation) return cuda_error(status, "cudaMalloc", tensor);
    std::size_t free_bytes = 0;
    std::size_t total_bytes = 0;
    const cudaError_t info = cudaMemGetInfo(&free_bytes, &total_bytes);
    consume_last_error(info);
    const std::string room = info == cudaSuccess ? fmt::format(" (device {} has {} of {} bytes free)", device,
                                                               free_bytes, total_bytes)
                                                 : std::string();
    return make_error(ErrorKind::out_of_memory,
                      fmt::format("cudaMalloc of {} bytes for tensor '{}' failed: {}{}", size_bytes, tensor,
                                  cudaGetErrorString(status), room),
                      std::nullopt, tensor);
  }

  [[nodiscard]] std::byte* data() const noexcept { return static_cast<std::byte*>(data_); }
  [[nodiscard]] std::uint64_t size_bytes() const noexcept { return size_bytes_; }

 private:
  void reset() noexcept {
    if (data_ != nullptr) (void)cudaFree(data_);
    data_ = nullptr;
    size_bytes_ = 0;
  }
  void* data_ = nullptr;
  std::uint64_t size_bytes_ = 0;
};

// Owner: the sink. Non-blocking: the copies must not serialize with work a service runs on the
// legacy default stream (and copy_to_host synchronizes our streams itself before reading back).
class CudaStream {
 public:
  CudaStream(CudaStream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  CudaStream& operator=(CudaStream&&) = delete;
  CudaStream(const CudaStream&) = delete;
  CudaStream& operator=(const CudaStream&) = delete;
  ~CudaStream() {
    if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
  }

  static Result<CudaStream> create() {
    cudaStream_t stream = nullptr;
    const cudaError_t status = cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking);
    if (status != cudaSuccess) return cuda_error(status, "cudaStreamCreateWithFlags");
    return CudaStream(stream);
  }

  [[nodiscard]] cudaStream_t get() const noexcept { return stream_; }

 private:
  explicit CudaStream(cudaStream_t stream) noexcept : stream_(stream) {}
  cudaStream_t stream_ = nullptr;
};

// Owner: the sink. No timing (cheaper to record); blocking sync, so that wait_slot_idle and finish
// sleep in the driver instead of spinning a core (the 2-core CI machine, a busy io thread).
class CudaEvent {
 public:
  CudaEvent() noexcept = default;
  CudaEvent(CudaEvent&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  CudaEvent& operator=(CudaEvent&& other) noexcept {
    if (this != &other) {
      reset();
      event_ = std::exchange(other.event_, nullptr);
    }
    return *this;
  }
  CudaEvent(const CudaEvent&) = delete;
  CudaEvent& operator=(const CudaEvent&) = delete;
  ~CudaEvent() { reset(); }

  static Result<CudaEvent> create() {
    cudaEvent_t event = nullptr;
    const cudaError_t status =
        cudaEventCreateWithFlags(&event, cudaEventDisableTiming | cudaEventBlockingSync);
    if (status != cudaSuccess) return cuda_error(status, "cudaEventCreateWithFlags");
    return CudaEvent(event);
  }

  [[nodiscard]] bool valid() const noexcept { return event_ != nullptr; }
  [[nodiscard]] cudaEvent_t get() const noexcept { return event_; }

 private:
  explicit CudaEvent(cudaEvent_t event) noexcept : event_(event) {}
  void reset() noexcept {
    if (event_ != nullptr) (void)cudaEventDestroy(event_);
    event_ = nullptr;
  }
  cudaEvent_t event_ = nullptr;
};

// True when both ends of `range` are page-locked already (cudaHostAlloc'd, or registered by
// someone else); a failed query just means "register it".
[[nodiscard]] bool pinned_already(std::span<const std::byte> range) noexcept {
  for (const std::byte* p : {range.data(), range.data() + range.size() - 1}) {
    cudaPointerAttributes attributes{};
    const cudaError_t status = cudaPointerGetAttributes(&attributes, p);
    consume_last_error(status);
    if (status != cudaSuccess || attributes.type != cudaMemoryTypeHost) return false;
  }
  return true;
}

// A page-locked host range (cudaHostRegister). Pinned staging is what makes cudaMemcpyAsync truly
// asynchronous; from pageable memory the driver first copies into its own pinned buffer.
// Owner: the sink. The range must stay allocated while registered (freeing registered memory is
// undefined for the driver, which tracks the pinned pages by address): whoever frees the staging
// while the sink lives detaches it first (attach_staging with an empty span).
class HostRegistration {
 public:
  HostRegistration(HostRegistration&& other) noexcept
      : range_(std::exchange(other.range_, {})), owned_(std::exchange(other.owned_, false)) {}
  HostRegistration& operator=(HostRegistration&&) = delete;
  HostRegistration(const HostRegistration&) = delete;
  HostRegistration& operator=(const HostRegistration&) = delete;
  ~HostRegistration() {
    if (owned_) (void)cudaHostUnregister(range_.data());
  }

  // `range` is not empty.
  static Result<HostRegistration> pin(std::span<std::byte> range) {
    // Pinned already (a cudaHostAlloc'd ring, or another sink fed by the same loader): copies from
    // it are asynchronous as they are, and the pin is not ours to undo.
    if (pinned_already(range)) return HostRegistration(range, false);
    const cudaError_t status = cudaHostRegister(range.data(), range.size(), cudaHostRegisterDefault);
    if (status == cudaSuccess) return HostRegistration(range, true);
    consume_last_error(status);
    if (status == cudaErrorHostMemoryAlreadyRegistered) return HostRegistration(range, false);
    const ErrorKind kind = status == cudaErrorMemoryAllocation ? ErrorKind::out_of_memory : ErrorKind::io;
    return make_error(kind, fmt::format("cudaHostRegister of the {}-byte staging ring failed: {} ({}); "
                                        "copies from unpinned staging still work, at lower speed",
                                        range.size(), cudaGetErrorString(status), cudaGetErrorName(status)));
  }

  [[nodiscard]] bool covers(std::span<const std::byte> range) const noexcept {
    return range.data() == range_.data() && range.size() == range_.size();
  }

 private:
  HostRegistration(std::span<std::byte> range, bool owned) noexcept : range_(range), owned_(owned) {}
  std::span<std::byte> range_;
  bool owned_ = false;
};

// Owner: the pipeline's io thread calls every method (see Sink); not thread-safe.
class CudaSink final : public Sink {
 public:
  // Takes resources already made on `device`, so no half-built sink exists.
  CudaSink(int device, std::vector<CudaStream> streams, std::vector<CudaEvent> stream_done) noexcept
      : device_(device), streams_(std::move(streams)), stream_done_(std::move(stream_done)) {}
  CudaSink(const CudaSink&) = delete;
  CudaSink& operator=(const CudaSink&) = delete;
  CudaSink(CudaSink&&) = delete;
  CudaSink& operator=(CudaSink&&) = delete;

  ~CudaSink() override {
    // In-flight copies still read staging and write destinations: let them land before the
    // buffers are freed and the staging is unpinned. Errors cannot be reported from here.
    if (make_current(device_)) (void)synchronize_streams();
    // Explicitly, in this order: the staging range stays pinned until nothing can read it.
    slot_done_.clear();
    stream_done_.clear();
    streams_.clear();
    buffers_.clear();
    staging_.reset();
  }

  static Result<std::unique_ptr<Sink>> create(int device, std::uint32_t stream_count) {
    RINGLOAD_TRY_VOID(make_current(device));
    std::vector<CudaStream> streams;
    std::vector<CudaEvent> stream_done;
    streams.reserve(stream_count);
    stream_done.reserve(stream_count);
    for (std::uint32_t i = 0; i < stream_count; ++i) {
      streams.push_back(RINGLOAD_TRY(CudaStream::create()));
      stream_done.push_back(RINGLOAD_TRY(CudaEvent::create()));
    }
    return std::unique_ptr<Sink>(
        std::make_unique<CudaSink>(device, std::move(streams), std::move(stream_done)));
  }

  [[nodiscard]] std::string_view name() const override { return "cuda"; }

  Result<void> attach_staging(std::span<std::byte> staging) override {
    if (staging_ && staging_->covers(staging)) return {};  // a loader reusing its ring
    RINGLOAD_TRY_VOID(make_current(device_));
    // Copies may still read the old range: it stays pinned until they have landed.
    RINGLOAD_TRY_VOID(synchronize_streams());
    staging_.reset();
    if (staging.empty()) return {};
    staging_.emplace(RINGLOAD_TRY(HostRegistration::pin(staging)));
    return {};
  }

  Result<void> prepare(std::span<const SinkTensor> tensors) override {
    RINGLOAD_TRY_VOID(make_current(device_));
    // A previous load's copies may still be writing into the buffers about to be freed.
    RINGLOAD_TRY_VOID(synchronize_streams());
    buffers_.clear();
    names_.clear();

    std::vector<DeviceBuffer> buffers(tensors.size());
    std::vector<std::string> names(tensors.size());
    std::vector<bool> seen(tensors.size(), false);
    for (const SinkTensor& tensor : tensors) {
      if (tensor.index >= tensors.size() || seen[tensor.index]) {
        return make_error(
            ErrorKind::invalid_argument,
            fmt::format("prepare: tensor index {} is {} (expected each of 0..{} once: the "
                        "position in the load's tensor list)",
                        tensor.index, tensor.index >= tensors.size() ? "out of range" : "repeated",
                        tensors.size() - 1));  // inside the loop: not empty
      }
      seen[tensor.index] = true;
      std::string name = tensor.info != nullptr ? tensor.info->name : fmt::format("#{}", tensor.index);
      buffers[tensor.index] = RINGLOAD_TRY(DeviceBuffer::allocate(tensor.size, name, device_));
      names[tensor.index] = std::move(name);
    }
    buffers_ = std::move(buffers);
    names_ = std::move(names);
    return {};
  }

  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override {
    if (index >= buffers_.size()) {
      return make_error(
          ErrorKind::invalid_argument,
          fmt::format("write to tensor index {}, but prepare() set up {} tensors", index, buffers_.size()));
    }
    const DeviceBuffer& buffer = buffers_[index];
    const auto end = checked_add(offset, bytes.size());
    if (!end || *end > buffer.size_bytes()) {
      // Never let a bad range reach the device: it would land silently in a neighbour's memory.
      return make_error(
          ErrorKind::out_of_bounds,
          fmt::format("write of {} bytes at offset {} runs past the end of the {}-byte destination",
                      bytes.size(), offset, buffer.size_bytes()),
          std::nullopt, names_[index]);
    }
    if (bytes.empty()) return {};
    if (slot != kNoSlot && slot >= kMaxSlots) {
      return make_error(
          ErrorKind::invalid_argument,
          fmt::format("staging slot {} is beyond the {} slots this sink tracks", slot, kMaxSlots));
    }
    RINGLOAD_TRY_VOID(make_current(device_));
    std::byte* destination = buffer.data() + offset;
    if (slot == kNoSlot) {
      // The caller keeps these (pageable) bytes valid until finish(), which waits on every stream
      // of ours, so an async copy is safe; from pageable memory it returns once the driver has
      // staged the bytes. (A plain cudaMemcpy would run on the legacy stream, which finish() does
      // not wait on, and may also return before its DMA has landed.)
      const cudaStream_t stream = streams_[next_unslotted_stream_].get();
      next_unslotted_stream_ = (next_unslotted_stream_ + 1) % streams_.size();
      const cudaError_t status =
          cudaMemcpyAsync(destination, bytes.data(), bytes.size(), cudaMemcpyHostToDevice, stream);
      if (status != cudaSuccess) return cuda_error(status, "cudaMemcpyAsync", names_[index]);
      return {};
    }
    // A slot always maps to the same stream, so the event recorded after its latest copy also
    // covers every earlier copy from that slot (a stream runs in order).
    const cudaStream_t stream = streams_[slot % streams_.size()].get();
    const CudaEvent* done = RINGLOAD_TRY(slot_event(slot));
    const cudaError_t status =
        cudaMemcpyAsync(destination, bytes.data(), bytes.size(), cudaMemcpyHostToDevice, stream);
    if (status != cudaSuccess) return cuda_error(status, "cudaMemcpyAsync", names_[index]);
    const cudaError_t recorded = cudaEventRecord(done->get(), stream);
    if (recorded != cudaSuccess) return cuda_error(recorded, "cudaEventRecord", names_[index]);
    return {};
  }

  Result<bool> slot_idle(std::uint32_t slot) override {
    if (slot >= slot_done_.size() || !slot_done_[slot].valid()) return true;  // never copied from
    RINGLOAD_TRY_VOID(make_current(device_));
    const cudaError_t status = cudaEventQuery(slot_done_[slot].get());
    if (status == cudaSuccess) return true;
    if (status == cudaErrorNotReady) {
      consume_last_error(status);
      return false;
    }
    return cuda_error(status, "cudaEventQuery");
  }

  Result<void> wait_slot_idle(std::uint32_t slot) override {
    if (slot >= slot_done_.size() || !slot_done_[slot].valid()) return {};
    RINGLOAD_TRY_VOID(make_current(device_));
    return check(cudaEventSynchronize(slot_done_[slot].get()), "cudaEventSynchronize");
  }

  Result<void> finish() override {
    RINGLOAD_TRY_VOID(make_current(device_));
    return synchronize_streams();
  }

  [[nodiscard]] Destination destination(std::uint32_t index) const override {
    if (index >= buffers_.size()) return Destination{.data = nullptr, .size = 0, .on_device = true};
    return Destination{
        .data = buffers_[index].data(), .size = buffers_[index].size_bytes(), .on_device = true};
  }

  void discard() noexcept override {
    // Copies still in flight write into the buffers about to be freed; errors cannot be reported.
    if (make_current(device_)) (void)synchronize_streams();
    buffers_.clear();
    names_.clear();
  }

  // The bytes of tensor `index`, read back after every copy so far has landed.
  [[nodiscard]] Result<std::vector<std::byte>> read_back(std::uint32_t index) const {
    if (index >= buffers_.size()) {
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("copy_to_host: tensor index {}, but the sink holds {} tensors", index,
                                    buffers_.size()));
    }
    RINGLOAD_TRY_VOID(make_current(device_));
    // Our streams do not synchronize with the legacy stream cudaMemcpy runs on.
    RINGLOAD_TRY_VOID(synchronize_streams());
    const DeviceBuffer& buffer = buffers_[index];
    std::vector<std::byte> host(buffer.size_bytes());
    if (host.empty()) return host;
    const cudaError_t status = cudaMemcpy(host.data(), buffer.data(), host.size(), cudaMemcpyDeviceToHost);
    if (status != cudaSuccess) return cuda_error(status, "cudaMemcpy", names_[index]);
    return host;
  }

 private:
  // Waits, sleeping, until every copy issued so far on our streams has landed; returns the first
  // error, including a sticky one left by an earlier asynchronous failure. The device is current.
  // Const: it only records our own events, so copy_to_host can use it on a const sink.
  [[nodiscard]] Result<void> synchronize_streams() const {
    for (std::size_t i = 0; i < streams_.size(); ++i) {
      RINGLOAD_TRY_VOID(check(cudaEventRecord(stream_done_[i].get(), streams_[i].get()), "cudaEventRecord"));
    }
    for (const CudaEvent& done : stream_done_) {
      RINGLOAD_TRY_VOID(check(cudaEventSynchronize(done.get()), "cudaEventSynchronize"));
    }
    return {};
  }

  // The slot's event, created on first use. The device is current.
  Result<CudaEvent*> slot_event(std::uint32_t slot) {
    if (slot >= slot_done_.size()) slot_done_.resize(static_cast<std::size_t>(slot) + 1);
    if (!slot_done_[slot].valid()) slot_done_[slot] = RINGLOAD_TRY(CudaEvent::create());
    return &slot_done_[slot];
  }

  int device_;
  // Declared first, so destroyed last: nothing may read the range after it is unpinned.
  std::optional<HostRegistration> staging_;
  std::vector<DeviceBuffer> buffers_;  // by tensor index
  std::vector<std::string> names_;     // by tensor index, for error messages
  std::vector<CudaStream> streams_;
  std::vector<CudaEvent> stream_done_;  // one per stream, for finish()
  std::vector<CudaEvent> slot_done_;    // by staging slot; empty until the slot is first copied from
  std::size_t next_unslotted_stream_ = 0;
};

// Host-memory destinations (HostSink, test sinks) read back the same way, so tests can compare
// any sink's bytes uniformly.
[[nodiscard]] Result<std::vector<std::byte>> copy_host_destination(const Sink& sink, std::uint32_t index) {
  const Destination destination = sink.destination(index);
  if (destination.on_device) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("copy_to_host: sink '{}' keeps tensor {} on a device, but is not a CUDA sink",
                    sink.name(), index));
  }
  if (destination.size == 0) return std::vector<std::byte>();
  if (destination.data == nullptr) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("copy_to_host: sink '{}' keeps no bytes for tensor {}", sink.name(), index));
  }
  const auto* begin = static_cast<const std::byte*>(destination.data);
  return std::vector<std::byte>(begin, begin + destination.size);
}

}  // namespace

Result<std::unique_ptr<Sink>> make_cuda_sink(const CudaSinkOptions& options) {
  // Options first: a nonsense option is the caller's bug on every machine, device or not.
  if (options.streams == 0 || options.streams > kMaxStreams) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("CUDA sink: {} streams requested, expected 1..{}", options.streams, kMaxStreams));
  }
  int count = 0;
  const cudaError_t status = cudaGetDeviceCount(&count);
  if (status != cudaSuccess) {
    consume_last_error(status);
    return make_error(ErrorKind::no_device, fmt::format("no CUDA device: {} ({})", cudaGetErrorString(status),
                                                        cudaGetErrorName(status)));
  }
  if (count <= 0) {
    return make_error(ErrorKind::no_device, "no CUDA device: cudaGetDeviceCount found 0 devices");
  }
  if (options.device < 0 || options.device >= count) {
    return make_error(ErrorKind::no_device, fmt::format("no CUDA device {}: this machine has {} (0..{})",
                                                        options.device, count, count - 1));
  }
  return CudaSink::create(options.device, options.streams);
}

Result<std::vector<std::byte>> copy_to_host(const Sink& sink, std::uint32_t index) {
  if (const auto* cuda = dynamic_cast<const CudaSink*>(&sink)) return cuda->read_back(index);
  return copy_host_destination(sink, index);
}

Result<double> measure_pinned_h2d_gb_per_s(int device, std::uint64_t bytes, int repeats) {
  // Through make_cuda_sink's checks: the same no_device answers on a machine without a GPU.
  (void)RINGLOAD_TRY(make_cuda_sink(CudaSinkOptions{.device = device, .streams = 1}));
  RINGLOAD_TRY_VOID(make_current(device));
  struct Pinned {
    void* p = nullptr;
    ~Pinned() {
      if (p != nullptr) (void)cudaFreeHost(p);
    }
  } host;
  struct Device {
    void* p = nullptr;
    ~Device() {
      if (p != nullptr) (void)cudaFree(p);
    }
  } dev;
  struct Events {
    cudaEvent_t start = nullptr;
    cudaEvent_t stop = nullptr;
    ~Events() {
      if (start != nullptr) (void)cudaEventDestroy(start);
      if (stop != nullptr) (void)cudaEventDestroy(stop);
    }
  } events;
  RINGLOAD_TRY_VOID(check(cudaHostAlloc(&host.p, bytes, cudaHostAllocDefault), "cudaHostAlloc"));
  RINGLOAD_TRY_VOID(check(cudaMalloc(&dev.p, bytes), "cudaMalloc"));
  RINGLOAD_TRY_VOID(check(cudaEventCreate(&events.start), "cudaEventCreate"));
  RINGLOAD_TRY_VOID(check(cudaEventCreate(&events.stop), "cudaEventCreate"));
  std::memset(host.p, 1, bytes);
  float best_ms = 0;
  for (int i = 0; i < std::max(1, repeats); ++i) {
    RINGLOAD_TRY_VOID(check(cudaEventRecord(events.start, nullptr), "cudaEventRecord"));
    RINGLOAD_TRY_VOID(
        check(cudaMemcpyAsync(dev.p, host.p, bytes, cudaMemcpyHostToDevice, nullptr), "cudaMemcpyAsync"));
    RINGLOAD_TRY_VOID(check(cudaEventRecord(events.stop, nullptr), "cudaEventRecord"));
    RINGLOAD_TRY_VOID(check(cudaEventSynchronize(events.stop), "cudaEventSynchronize"));
    float ms = 0;
    RINGLOAD_TRY_VOID(check(cudaEventElapsedTime(&ms, events.start, events.stop), "cudaEventElapsedTime"));
    if (i == 0 || ms < best_ms) best_ms = ms;
  }
  return best_ms > 0 ? static_cast<double>(bytes) / (static_cast<double>(best_ms) * 1e-3) / 1e9 : 0.0;
}

bool cuda_sink_compiled() noexcept { return true; }

}  // namespace ringload
