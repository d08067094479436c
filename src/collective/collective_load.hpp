// The collective load (collective.hpp) through a LoadEngine the caller owns: the CLI and the tests
// give it one with injected read faults (LoadEngine::fault, the test-only hook of
// src/pipeline/testing.hpp) to fail one rank of a group.
#pragma once

#include "pipeline/engine.hpp"
#include "ringload/collective.hpp"

namespace ringload {

[[nodiscard]] Result<LoadReport> load_collective(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink,
                                                 const PipelineOptions& options, Collective& group,
                                                 const CollectiveOptions& collective);

}  // namespace ringload
