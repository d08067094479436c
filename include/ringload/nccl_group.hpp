// A collective load's group over NCCL (collective.hpp): the GPUs of a communicator, device memory
// (load into a CUDA sink). Part of libringload_nccl (pkg-config ringload-nccl), built where the
// CUDA toolkit's NCCL is found, so that the core library and its headers keep no NCCL dependency.
#pragma once

#include <cuda_runtime_api.h>
#include <nccl.h>

#include <cstdint>
#include <vector>

#include "ringload/collective.hpp"

namespace ringload {

class NcclGroup final : public Collective {
 public:
  // Broadcasts on `stream` through `comm`; both stay the caller's. Every call leaves the calling
  // thread's current device as it found it.
  static Result<NcclGroup> create(ncclComm_t comm, cudaStream_t stream);

  NcclGroup(NcclGroup&& other) noexcept;
  NcclGroup& operator=(NcclGroup&& other) noexcept;
  ~NcclGroup() override;

  [[nodiscard]] std::uint32_t rank() const noexcept override { return rank_; }
  [[nodiscard]] std::uint32_t world() const noexcept override { return world_; }
  [[nodiscard]] bool device_buffers() const noexcept override { return true; }
  Result<std::vector<RankStatus>> exchange_status(const RankStatus& mine) override;
  Result<void> start_broadcast(void* data, std::uint64_t bytes, std::uint32_t root) override;
  // Polls the stream and the communicator's asynchronous error: a rank whose peer died returns
  // its error instead of waiting forever.
  Result<void> wait_broadcasts() override;
  // ncclCommAbort: ends the communicator on every rank (and frees it: the caller must not destroy
  // it afterwards).
  void abort(const Error& why) noexcept override;

 private:
  NcclGroup(ncclComm_t comm, cudaStream_t stream, int device, std::uint32_t rank, std::uint32_t world)
      : comm_(comm), stream_(stream), device_(device), rank_(rank), world_(world) {}
  void free() noexcept;

  ncclComm_t comm_ = nullptr;
  cudaStream_t stream_ = nullptr;
  int device_ = 0;
  std::uint32_t rank_ = 0;
  std::uint32_t world_ = 1;
  void* status_buffer_ = nullptr;  // device memory the status all-gather goes through, made on first use
};

}  // namespace ringload
