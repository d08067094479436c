#include "metadata.hpp"

#include <Python.h>

#include <string>

namespace py = pybind11;

namespace ringload::python {
namespace {

py::object text(const std::string& s) {
  PyObject* decoded = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(decoded);
}

py::object convert(const MetadataValue& value) {
  using Kind = MetadataValue::Kind;
  switch (value.kind()) {
    case Kind::null: return py::none();
    case Kind::boolean: return py::bool_(*value.if_bool());
    case Kind::int64: return py::int_(*value.if_int64());
    case Kind::uint64: return py::int_(*value.if_uint64());
    case Kind::float64: return py::float_(*value.if_double());
    case Kind::string: return text(*value.if_string());
    case Kind::array: {
      const MetadataValue::Array& elements = *value.if_array();
      py::list list(elements.size());
      std::size_t i = 0;
      for (const MetadataValue& item : elements) list[i++] = convert(item);
      return list;
    }
    case Kind::object: {
      py::dict dict;
      for (const auto& [key, item] : *value.if_object()) dict[text(key)] = convert(item);
      return dict;
    }
  }
  return py::none();
}

}  // namespace

py::object metadata_to_python(const ModelMetadata& metadata) { return convert(metadata); }

}  // namespace ringload::python
