// Read once, deliver everywhere: a load shared by the ranks of a group (the processes of an
// `mpirun` job, or the GPUs of an NCCL communicator). Each rank reads a disjoint, contiguous
// 1/W of the checkpoint's tensor bytes through its own pipeline, and a collective hands every
// rank the rest, so the group reads the checkpoint from storage once instead of W times. Tensors
// that slice rules cut (PipelineOptions::slices) are read by each rank for itself: its part is
// already disjoint from the others', so no bytes of them travel.
//
// The core library knows only this interface: the MPI and NCCL groups live in their own headers
// and libraries (mpi_group.hpp / ringload-mpi, nccl_group.hpp / ringload-nccl).
//
// How a load runs, in rounds of at most CollectiveOptions::round_bytes per rank: every rank loads
// its share of round m into its sink; the ranks exchange their status (a failed or cancelled rank
// says so there, and every rank then ends with an error naming it — no rank is left waiting in a
// collective); the owners' bytes of round m are broadcast while round m + 1 is read.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "ringload/checkpoint.hpp"
#include "ringload/error.hpp"
#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"

namespace ringload {

// What one rank says of the step every rank just ended.
struct RankStatus {
  bool ok = true;
  ErrorKind kind = ErrorKind::io;  // when !ok
  std::string message;             // when !ok: the rank's error, as Error::to_string() wrote it
  // A digest of the load the rank planned (its tensors, sizes, owners and rounds): ranks given
  // different checkpoints or options would otherwise broadcast into the wrong tensors, or wait
  // for a broadcast nobody starts.
  std::uint64_t plan_digest = 0;
};

// A group of ranks that can agree on a status and broadcast bytes. Every rank makes the same
// calls in the same order (the collective contract of MPI and NCCL alike). Owner: the thread that
// drives the load; implementations need not be thread-safe.
class Collective {
 public:
  Collective() = default;
  Collective(const Collective&) = delete;
  Collective& operator=(const Collective&) = delete;
  virtual ~Collective() = default;

  [[nodiscard]] virtual std::uint32_t rank() const noexcept = 0;
  [[nodiscard]] virtual std::uint32_t world() const noexcept = 0;
  // Whether broadcast buffers are device pointers (NCCL) rather than host memory (MPI).
  [[nodiscard]] virtual bool device_buffers() const noexcept = 0;
  // Blocks until every rank has passed its status; returns them all, indexed by rank.
  virtual Result<std::vector<RankStatus>> exchange_status(const RankStatus& mine) = 0;
  // Starts a broadcast of `bytes` at `data` from rank `root` into every other rank's `data`.
  virtual Result<void> start_broadcast(void* data, std::uint64_t bytes, std::uint32_t root) = 0;
  // Blocks until every started broadcast has completed on this rank.
  virtual Result<void> wait_broadcasts() = 0;
  // The group's own transport failed on this rank (a broadcast that could not start or complete):
  // the other ranks cannot learn of it through the group, so end them all (MPI_Abort,
  // ncclCommAbort), after saying `why`. Every other failure ends the load through the status
  // exchange instead.
  virtual void abort(const Error& why) noexcept = 0;
};

struct CollectiveOptions {
  // Bytes each rank loads before the group exchanges status and broadcasts them: a failure on one
  // rank ends the others after at most one round, and round m's broadcast overlaps round m + 1's
  // reads. 256 MiB is ~0.1 s of this disk, long against a status exchange (~10 µs over shared
  // memory) and short against a multi-GiB load.
  std::uint64_t round_bytes = 256ULL << 20;
};

// Loads `checkpoint` into `sink` on every rank of `group`. Every rank calls it with the same
// checkpoint, options (tensor names, slice rules; rank and world of slices are the group's) and
// round size; each ends with every tensor (or its own slice) at its sink. The report's
// `collective` says what the group did; storage_bytes_read is this rank's share. A sink whose
// destinations the group cannot write (NCCL needs device destinations; MPI host memory, else it
// passes the bytes through write()) is invalid_argument.
[[nodiscard]] Result<LoadReport> load_into(const Checkpoint& checkpoint, Sink& sink,
                                           const PipelineOptions& options, Collective& group,
                                           const CollectiveOptions& collective = {});

}  // namespace ringload
