// `ringload load --mpi` in a build without Open MPI.
#include <fmt/format.h>

#include "commands.hpp"
#include "load_mpi.hpp"

namespace ringload::cli {

// NOLINTNEXTLINE(performance-unnecessary-value-param): one signature for both builds; the MPI one keeps it
int run_mpi_load(MpiLoadArgs /*args*/) {
  fmt::print(stderr,
             "ringload load: --mpi: this ringload was built without Open MPI (install libopenmpi-dev and "
             "reconfigure: meson setup --reconfigure -Dmpi=enabled)\n");
  return kExitFailure;
}

}  // namespace ringload::cli
