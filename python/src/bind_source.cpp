// Source: one opened model file or whole checkpoint (headers parsed, nothing loaded), shared with
// the loads of it.
#include <cstdint>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include "bindings.hpp"
#include "errors.hpp"
#include "metadata.hpp"
#include "py_source.hpp"
#include "slice_read.hpp"
#include "tensor_block.hpp"
#include "tensor_export.hpp"

namespace py = pybind11;

namespace ringload::python {
namespace {

// (name, dtype, shape in the file's order, absolute offset in its file, bytes), in load order: what
// `ringload inspect --json` lists.
using TensorRow =
    std::tuple<std::string, std::string, std::vector<std::uint64_t>, std::uint64_t, std::uint64_t>;

std::vector<TensorRow> tensor_rows(const Source& source) {
  std::vector<TensorRow> rows;
  rows.reserve(source.tensors().size());
  for (const TensorInfo& t : source.tensors()) {
    rows.emplace_back(t.name, std::string(dtype_name(t.dtype)), t.shape, t.offset, t.size);
  }
  return rows;
}

// (dtype, row-major shape, exported as raw bytes, bytes): how get_tensor will present `name`.
py::tuple tensor_view(const Source& source, const std::string& name) {
  const TensorInfo info = value_or_raise(source.tensor(name));
  return py::make_tuple(std::string(dtype_name(info.dtype)), row_major_shape(source.format(), info),
                        exported_as_raw_bytes(info.dtype), info.size);
}

py::tuple read_slice_py(
    const Source& source, const std::string& name,
    const std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>>& selections, bool release) {
  std::vector<DimSelection> dims;
  dims.reserve(selections.size());
  for (const auto& [start, count, step] : selections) dims.push_back(DimSelection{start, count, step});
  Result<SliceRead> read = [&]() -> Result<SliceRead> {
    const py::gil_scoped_release unlocked;  // opening a checkpoint's shard parses its header
    const std::shared_ptr<const Model> model = RINGLOAD_TRY(source.file_of(name));
    return read_slice(*model, name, dims, release);
  }();
  SliceRead slice = value_or_raise(std::move(read));
  return py::make_tuple(std::move(slice.block), slice.bytes_read);
}

}  // namespace

void bind_source(py::module_& module) {
  py::class_<PySource>(module, "Source",
                       "One opened model file or whole checkpoint: headers parsed, no tensor byte read.")
      .def(py::init<const std::string&, bool>(), py::arg("path"), py::arg("one_file") = false)
      .def_property_readonly("path", [](const PySource& s) { return s.get()->path(); })
      .def_property_readonly("format",
                             [](const PySource& s) { return std::string(to_string(s.get()->format())); })
      .def_property_readonly("file_size", [](const PySource& s) { return s.get()->file_size(); })
      .def_property_readonly(
          "files", [](const PySource& s) { return s.get()->files(); }, "Its files in load order.")
      .def("tensors", [](const PySource& s) { return tensor_rows(*s.get()); })
      .def(
          "tensor_names", [](const PySource& s) { return s.get()->tensor_names(); }, "In load order.")
      .def("tensor_view",
           [](const PySource& s, const std::string& name) { return tensor_view(*s.get(), name); })
      .def("metadata", [](const PySource& s) { return metadata_to_python(s.get()->metadata()); })
      .def(
          "read_slice",
          [](const PySource& s, const std::string& name,
             const std::vector<std::tuple<std::uint64_t, std::uint64_t, std::uint64_t>>& selections,
             bool release) { return read_slice_py(*s.get(), name, selections, release); },
          py::arg("name"), py::arg("selections"), py::arg("release") = true,
          "(Block, bytes read) for (start, count, step) per row-major dim.")
      .def("close", &PySource::close);
}

}  // namespace ringload::python
