// A collective load's group over MPI (collective.hpp): the ranks of a communicator, host memory.
// Part of libringload_mpi (pkg-config ringload-mpi), built where Open MPI is found, so that the core
// library and its headers keep no MPI dependency.
#pragma once

#include <mpi.h>

#include <cstdint>
#include <vector>

#include "ringload/collective.hpp"

namespace ringload {

class MpiGroup final : public Collective {
 public:
  // Duplicates `comm` (the load's traffic never meets the caller's) and makes its errors come back
  // as values. MPI must be initialised, with at least MPI_THREAD_FUNNELED, until the group is
  // destroyed, and the load must run on the thread that initialised it: the group's calls are
  // made there (the reads run on a worker thread that never calls MPI).
  static Result<MpiGroup> create(MPI_Comm comm);

  MpiGroup(MpiGroup&& other) noexcept;
  MpiGroup& operator=(MpiGroup&& other) noexcept;
  ~MpiGroup() override;

  [[nodiscard]] std::uint32_t rank() const noexcept override { return rank_; }
  [[nodiscard]] std::uint32_t world() const noexcept override { return world_; }
  [[nodiscard]] bool device_buffers() const noexcept override { return false; }
  Result<std::vector<RankStatus>> exchange_status(const RankStatus& mine) override;
  Result<void> start_broadcast(void* data, std::uint64_t bytes, std::uint32_t root) override;
  Result<void> wait_broadcasts() override;
  // MPI_Abort on the group's communicator: ends every rank of the job.
  void abort(const Error& why) noexcept override;

 private:
  MpiGroup(MPI_Comm comm, std::uint32_t rank, std::uint32_t world)
      : comm_(comm), rank_(rank), world_(world) {}
  void free() noexcept;

  MPI_Comm comm_ = MPI_COMM_NULL;
  std::uint32_t rank_ = 0;
  std::uint32_t world_ = 1;
  std::vector<MPI_Request> pending_;
};

}  // namespace ringload
