#include "ringload/nccl_group.hpp"

#include <array>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <thread>
#include <utility>

#include <fmt/format.h>

#include "collective/status_record.hpp"
#include "sink/cuda_call.hpp"

namespace ringload {
namespace {

Error nccl_error(ncclResult_t rc, std::string_view what) {
  return make_error(ErrorKind::io, fmt::format("{} failed: {}", what, ncclGetErrorString(rc)));
}

}  // namespace

Result<NcclGroup> NcclGroup::create(ncclComm_t comm, cudaStream_t stream) {
  int device = 0;
  int rank = 0;
  int count = 0;
  if (auto rc = ncclCommCuDevice(comm, &device); rc != ncclSuccess) return nccl_error(rc, "ncclCommCuDevice");
  if (auto rc = ncclCommUserRank(comm, &rank); rc != ncclSuccess) return nccl_error(rc, "ncclCommUserRank");
  if (auto rc = ncclCommCount(comm, &count); rc != ncclSuccess) return nccl_error(rc, "ncclCommCount");
  return NcclGroup(comm, stream, device, static_cast<std::uint32_t>(rank), static_cast<std::uint32_t>(count));
}

NcclGroup::NcclGroup(NcclGroup&& other) noexcept
    : comm_(std::exchange(other.comm_, nullptr)),
      stream_(other.stream_),
      device_(other.device_),
      rank_(other.rank_),
      world_(other.world_),
      status_buffer_(std::exchange(other.status_buffer_, nullptr)) {}

NcclGroup& NcclGroup::operator=(NcclGroup&& other) noexcept {
  if (this != &other) {
    free();
    comm_ = std::exchange(other.comm_, nullptr);
    stream_ = other.stream_;
    device_ = other.device_;
    rank_ = other.rank_;
    world_ = other.world_;
    status_buffer_ = std::exchange(other.status_buffer_, nullptr);
  }
  return *this;
}

NcclGroup::~NcclGroup() { free(); }

void NcclGroup::free() noexcept {
  if (status_buffer_ == nullptr) return;
  // Best effort, as destruction must be: freed even where the device cannot be made current.
  const auto guard = cuda::DeviceGuard::enter(device_);
  cudaStreamSynchronize(stream_);  // a broadcast of a failed load may still run
  cudaFree(status_buffer_);
  status_buffer_ = nullptr;
}

Result<std::vector<RankStatus>> NcclGroup::exchange_status(const RankStatus& mine) {
  const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
  if (status_buffer_ == nullptr) {
    RINGLOAD_TRY_VOID(cuda::check(cudaMalloc(&status_buffer_, kStatusRecordBytes * world_), "cudaMalloc"));
  }
  const StatusRecord record = encode_status(mine);
  auto* slots = static_cast<char*>(status_buffer_);
  RINGLOAD_TRY_VOID(cuda::check(cudaMemcpyAsync(slots + rank_ * kStatusRecordBytes, record.data(),
                                                kStatusRecordBytes, cudaMemcpyHostToDevice, stream_),
                                "cudaMemcpyAsync"));
  if (auto rc = ncclAllGather(slots + rank_ * kStatusRecordBytes, slots, kStatusRecordBytes, ncclChar, comm_,
                              stream_);
      rc != ncclSuccess) {
    return nccl_error(rc, "ncclAllGather of the ranks' status");
  }
  std::vector<char> all(kStatusRecordBytes * world_);
  RINGLOAD_TRY_VOID(cuda::check(
      cudaMemcpyAsync(all.data(), slots, all.size(), cudaMemcpyDeviceToHost, stream_), "cudaMemcpyAsync"));
  RINGLOAD_TRY_VOID(cuda::check(cudaStreamSynchronize(stream_), "cudaStreamSynchronize"));
  std::vector<RankStatus> statuses;
  for (std::uint32_t r = 0; r < world_; ++r)
    statuses.push_back(decode_status(all.data() + r * kStatusRecordBytes));
  return statuses;
}

Result<void> NcclGroup::start_broadcast(void* data, std::uint64_t bytes, std::uint32_t root) {
  const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
  if (auto rc = ncclBroadcast(data, data, bytes, ncclChar, static_cast<int>(root), comm_, stream_);
      rc != ncclSuccess) {
    return nccl_error(rc, "ncclBroadcast");
  }
  return {};
}

Result<void> NcclGroup::wait_broadcasts() {
  const auto guard = RINGLOAD_TRY(cuda::DeviceGuard::enter(device_));
  for (;;) {
    const cudaError_t done = cudaStreamQuery(stream_);
    if (done == cudaSuccess) break;
    if (done != cudaErrorNotReady) return cuda::error(done, "cudaStreamQuery");
    ncclResult_t async = ncclSuccess;
    if (auto rc = ncclCommGetAsyncError(comm_, &async); rc != ncclSuccess) {
      return nccl_error(rc, "ncclCommGetAsyncError");
    }
    if (async != ncclSuccess && async != ncclInProgress) return nccl_error(async, "a broadcast");
    std::this_thread::sleep_for(std::chrono::microseconds(50));
  }
  return {};
}

void NcclGroup::abort(const Error& why) noexcept {
  (void)std::fprintf(stderr,
                     "ringload: rank %u of %u: the NCCL group failed (%s): aborting the communicator\n",
                     rank_, world_, why.to_string().c_str());
  if (comm_ != nullptr) ncclCommAbort(comm_);
  comm_ = nullptr;
}

}  // namespace ringload
