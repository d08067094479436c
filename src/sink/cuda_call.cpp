#include "sink/cuda_call.hpp"

#include <fmt/format.h>

namespace ringload::cuda {

ErrorKind kind_of(cudaError_t status) noexcept {
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

Error error(cudaError_t status, std::string_view call, std::string tensor) {
  // The failure is reported here; the sticky copy would be mistaken for the caller's own.
  if (status != cudaSuccess && status != cudaErrorNotReady) (void)cudaGetLastError();
  return make_error(
      kind_of(status),
      fmt::format("{} failed: {} ({})", call, cudaGetErrorString(status), cudaGetErrorName(status)),
      std::nullopt, std::move(tensor));
}

Result<DeviceGuard> DeviceGuard::enter(int device) {
  int current = 0;
  RINGLOAD_TRY_VOID(check(cudaGetDevice(&current), "cudaGetDevice"));
  if (current == device) return DeviceGuard(current, false);
  RINGLOAD_TRY_VOID(check(cudaSetDevice(device), fmt::format("cudaSetDevice({})", device)));
  return DeviceGuard(current, true);
}

DeviceGuard::~DeviceGuard() {
  if (restore_ && cudaSetDevice(previous_) != cudaSuccess) (void)cudaGetLastError();
}

Result<Stream> Stream::create() {
  cudaStream_t stream = nullptr;
  RINGLOAD_TRY_VOID(
      check(cudaStreamCreateWithFlags(&stream, cudaStreamNonBlocking), "cudaStreamCreateWithFlags"));
  return Stream(stream);
}

Stream::~Stream() {
  if (stream_ != nullptr) (void)cudaStreamDestroy(stream_);
}

Result<Event> Event::create() {
  cudaEvent_t event = nullptr;
  RINGLOAD_TRY_VOID(check(cudaEventCreateWithFlags(&event, cudaEventDisableTiming | cudaEventBlockingSync),
                          "cudaEventCreateWithFlags"));
  return Event(event);
}

Event& Event::operator=(Event&& other) noexcept {
  if (this != &other) {
    if (event_ != nullptr) (void)cudaEventDestroy(event_);
    event_ = std::exchange(other.event_, nullptr);
  }
  return *this;
}

Event::~Event() {
  if (event_ != nullptr) (void)cudaEventDestroy(event_);
}

Result<bool> Event::done() const {
  const cudaError_t status = cudaEventQuery(event_);
  if (status == cudaSuccess) return true;
  if (status == cudaErrorNotReady) return false;  // not an error: nothing to consume
  return error(status, "cudaEventQuery");
}

}  // namespace ringload::cuda
