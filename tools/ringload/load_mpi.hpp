// `ringload load --mpi`: this process is one rank of an `mpirun` job; the ranks read the checkpoint
// once between them and MPI delivers the rest (collective.hpp).
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"

namespace ringload::cli {

struct MpiLoadArgs {
  std::string path;
  // Made once MPI runs: a sink that cannot be made is reported like any other failure, by every rank.
  std::function<Result<std::unique_ptr<Sink>>()> make_sink;
  // A command line this rank cannot run (a bad --mpi-round, an option --mpi does not take): said
  // through the group too, so every rank prints its report.
  std::optional<Error> invalid;
  PipelineOptions options;
  std::uint64_t round_bytes = 0;
  bool json = false;
  // --rank/--world as given (nullopt: not given): they must agree with MPI's.
  std::optional<std::uint32_t> rank;
  std::optional<std::uint32_t> world;
};

// Runs the load as this rank and prints its one report (JSON or text) to stdout; errors to stderr,
// and with --json also as that rank's one JSON object (with the same keys: rank, world,
// storage_bytes_read, bytes_received, collective_busy_s, error, error_kind). Every failure before
// the load (MPI, the sink, the checkpoint, the command line) goes through the group's status
// exchange, so the other ranks end too. Returns the exit code. A build without Open MPI says so.
int run_mpi_load(MpiLoadArgs args);

}  // namespace ringload::cli
