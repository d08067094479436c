// ringload._ringload: the compiled half of the `ringload` package (python/ringload/ is the other).
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "ringload/dtype.hpp"
#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"

namespace py = pybind11;

PYBIND11_MODULE(_ringload, module) {
  module.doc() = "ringload's C++ pipeline; use the `ringload` package, not this module";
  ringload::python::bind_source(module);
  ringload::python::bind_load(module);
  module.def(
      "strategy_names",
      [] {
        std::vector<std::string> names;
        for (const ringload::Strategy s : ringload::all_strategies())
          names.emplace_back(ringload::to_string(s));
        return names;
      },
      "Names `strategy=` accepts.");
  module.def(
      "dtype_names",
      [] {
        std::vector<std::string> names;
        for (const auto& info : ringload::all_dtypes()) names.emplace_back(info.name);
        return names;
      },
      "Every dtype ringload reads.");
  module.def("cuda_compiled", &ringload::cuda_sink_compiled, "True when this build has the CUDA sink.");
}
