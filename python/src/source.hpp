// The one place a Python `path` becomes something to load. Today: one model file (APR v2,
// safetensors, GGUF). Whole checkpoints (a directory, an HF *.index.json, a GGUF split set) open
// here too once the library has them; nothing else in the binding looks at the path.
#pragma once

#include <memory>
#include <string>

#include "ringload/error.hpp"
#include "ringload/model.hpp"

namespace ringload::python {

// Shared: a load in flight keeps what it reads from, even after Python closed its handle.
using SourcePtr = std::shared_ptr<const Model>;

[[nodiscard]] Result<SourcePtr> open_source(const std::string& path);

}  // namespace ringload::python
