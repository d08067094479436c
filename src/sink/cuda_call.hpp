// The CUDA runtime's resources as move-only RAII types, and its statuses as Errors. Plain C++
// against the runtime API (no kernels, no nvcc); compiled only where meson found the toolkit.
//
// Every failed call becomes an Error naming the call and cudaGetErrorString on the spot, and the
// thread's sticky "last error" it set is consumed (a caller's own launch check would otherwise
// mistake it for its own). cudaErrorNotReady is not a failure and consumes nothing: a caller's
// pending error stays the caller's.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <string>
#include <string_view>
#include <utility>

#include "ringload/error.hpp"

namespace ringload::cuda {

[[nodiscard]] ErrorKind kind_of(cudaError_t status) noexcept;
// "cudaMemcpyAsync failed: an illegal memory access was encountered (cudaErrorIllegalAddress)"
[[nodiscard]] Error error(cudaError_t status, std::string_view call, std::string tensor = {});
[[nodiscard]] inline Result<void> check(cudaError_t status, std::string_view call) {
  if (status != cudaSuccess) return error(status, call);
  return {};
}

// Makes `device` current for the guard's lifetime and then restores the caller's current device,
// so a sink used from a caller's thread never leaves it on another GPU. (On a thread that never
// chose a device, CUDA reports device 0 and that is what is restored.)
class DeviceGuard {
 public:
  static Result<DeviceGuard> enter(int device);
  DeviceGuard(DeviceGuard&& other) noexcept
      : previous_(other.previous_), restore_(std::exchange(other.restore_, false)) {}
  DeviceGuard& operator=(DeviceGuard&&) = delete;
  DeviceGuard(const DeviceGuard&) = delete;
  DeviceGuard& operator=(const DeviceGuard&) = delete;
  ~DeviceGuard();

 private:
  DeviceGuard(int previous, bool restore) noexcept : previous_(previous), restore_(restore) {}
  int previous_;
  bool restore_;
};

// Non-blocking: copies must not serialise with work a service runs on the legacy default stream.
class Stream {
 public:
  static Result<Stream> create();
  Stream(Stream&& other) noexcept : stream_(std::exchange(other.stream_, nullptr)) {}
  Stream& operator=(Stream&&) = delete;
  Stream(const Stream&) = delete;
  Stream& operator=(const Stream&) = delete;
  ~Stream();
  [[nodiscard]] cudaStream_t get() const noexcept { return stream_; }

 private:
  explicit Stream(cudaStream_t stream) noexcept : stream_(stream) {}
  cudaStream_t stream_ = nullptr;
};

// No timing (cheaper to record); blocking sync, so waits sleep in the driver instead of spinning
// a core (the 2-core CI machine, a busy io thread).
class Event {
 public:
  static Result<Event> create();
  Event() noexcept = default;
  Event(Event&& other) noexcept : event_(std::exchange(other.event_, nullptr)) {}
  Event& operator=(Event&& other) noexcept;
  Event(const Event&) = delete;
  Event& operator=(const Event&) = delete;
  ~Event();
  [[nodiscard]] bool valid() const noexcept { return event_ != nullptr; }
  [[nodiscard]] cudaEvent_t get() const noexcept { return event_; }
  // True once the work recorded before it has finished.
  [[nodiscard]] Result<bool> done() const;

 private:
  explicit Event(cudaEvent_t event) noexcept : event_(event) {}
  cudaEvent_t event_ = nullptr;
};

}  // namespace ringload::cuda
