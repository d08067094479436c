// A model's metadata as plain Python values.
#pragma once

#include <pybind11/pybind11.h>

#include "ringload/checkpoint.hpp"

namespace ringload::python {

// The one function that knows the metadata's C++ type: dict / list / str / int / float /
// bool / None. safetensors: the `__metadata__` map (dict[str, str]); GGUF: its key/value pairs;
// APR: its JSON object. Strings that are not valid UTF-8 (some GGUF vocabularies) get U+FFFD for
// the bad bytes, as `ringload inspect --json` prints them.
[[nodiscard]] pybind11::object metadata_to_python(const ModelMetadata& metadata);

}  // namespace ringload::python
