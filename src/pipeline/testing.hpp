// Test-only hooks into a Loader (fault injection). Not part of the public API.
#pragma once

#include "pipeline/source.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

struct LoaderTestAccess {
  // Reads for which `fault(offset, length)` returns a negative errno fail with it.
  static void set_fault_injector(Loader& loader, FaultInjector fault);
};

}  // namespace ringload
