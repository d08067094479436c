#include "errors.hpp"

#include <Python.h>

#include <pybind11/pybind11.h>

namespace py = pybind11;

namespace ringload::python {

void raise_error(const Error& error) {
  // The classes live in Python (ringload/_errors.py) so that they can derive from both
  // ringload.Error and the builtin that fits (OSError, ValueError, KeyError).
  const py::object make = py::module_::import("ringload._errors").attr("_from_native");
  const py::object offset = error.offset ? py::object(py::int_(*error.offset)) : py::object(py::none());
  // UTF-8 by construction (the library escapes invalid bytes as \xNN), so str() conversion is safe.
  const py::object exception = make(std::string(to_string(error.kind)), error.path, error.tensor, offset,
                                    error.message, error.os_errno, error.to_string());
  PyErr_SetObject(reinterpret_cast<PyObject*>(Py_TYPE(exception.ptr())), exception.ptr());
  throw py::error_already_set();
}

}  // namespace ringload::python
