// ringload errors as Python exceptions. The binding is the one layer that throws C++ exceptions:
// pybind11 turns them into Python ones at the call boundary.
#pragma once

#include "ringload/error.hpp"

namespace ringload::python {

// Raises the ringload.Error subclass for `error.kind` (ringload/_errors.py: kind, path, tensor,
// offset, errno; str() is Error::to_string(), which names file, tensor and byte offset).
[[noreturn]] void raise_error(const Error& error);

// The value, or raise_error.
template <class T>
T value_or_raise(Result<T> result) {
  if (!result) raise_error(result.error());
  return std::move(result).value();
}

}  // namespace ringload::python
