// Test-only entry points into the pipeline (never installed): a LoadEngine a test owns, with
// read faults (LoadEngine::fault, see FaultInjector) or a fake DevicePinner, loaded through by
// run_load; the io_uring reader and the staging ring are tested on their own too.
#pragma once

#include "pipeline/engine.hpp"        // IWYU pragma: export
#include "pipeline/load_run.hpp"      // IWYU pragma: export
#include "pipeline/staging_ring.hpp"  // IWYU pragma: export
#include "pipeline/uring_reader.hpp"  // IWYU pragma: export
