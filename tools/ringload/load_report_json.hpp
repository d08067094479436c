// The JSON `ringload load --json` prints for a LoadReport (one per rank under --mpi).
#pragma once

#include "base/json.hpp"
#include "ringload/pipeline.hpp"

namespace ringload::cli {

// With `with_digests`, a "tensors" array of per-tensor name, offset, size, sha256 and file.
[[nodiscard]] nlohmann::ordered_json report_json(const LoadReport& r, bool with_digests);

}  // namespace ringload::cli
