// `ringload load --mpi`: this process is one rank of an `mpirun` job; the ranks read the checkpoint
// once between them and MPI delivers the rest (collective.hpp).
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"

namespace ringload::cli {

struct MpiLoadArgs {
  std::string path;
  std::unique_ptr<Sink> sink;
  PipelineOptions options;
  std::uint64_t round_bytes = 0;
  bool json = false;
  // --rank/--world as given (nullopt: not given): they must agree with MPI's.
  std::optional<std::uint32_t> rank;
  std::optional<std::uint32_t> world;
};

// Runs the load as this rank and prints its one report (JSON or text) to stdout; errors to stderr,
// and with --json also as that rank's one JSON object. Returns the exit code. A build without
// Open MPI says so and fails.
int run_mpi_load(MpiLoadArgs args);

}  // namespace ringload::cli
