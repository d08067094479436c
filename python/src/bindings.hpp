// The extension module ringload._ringload is bound in parts, one file each.
#pragma once

#include <pybind11/pybind11.h>

namespace ringload::python {

void bind_source(pybind11::module_& module);  // Source: an opened model file (bind_source.cpp)
void bind_load(pybind11::module_& module);    // Worker, Job, Block, LoadReport (bind_load.cpp)

}  // namespace ringload::python
