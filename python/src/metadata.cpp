#include "metadata.hpp"

#include <Python.h>

#include <string>

#include <nlohmann/json.hpp>

namespace py = pybind11;

namespace ringload::python {
namespace {

py::object text(const std::string& s) {
  PyObject* decoded = PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
  if (decoded == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(decoded);
}

py::object convert(const nlohmann::ordered_json& value) {
  using Type = nlohmann::json::value_t;
  switch (value.type()) {
    case Type::null:
    case Type::discarded: return py::none();
    case Type::boolean: return py::bool_(value.get<bool>());
    case Type::number_integer: return py::int_(value.get<std::int64_t>());
    case Type::number_unsigned: return py::int_(value.get<std::uint64_t>());
    case Type::number_float: return py::float_(value.get<double>());
    case Type::string: return text(value.get_ref<const std::string&>());
    case Type::binary: return py::bytes(std::string(value.get_binary().begin(), value.get_binary().end()));
    case Type::array: {
      py::list list(value.size());
      std::size_t i = 0;
      for (const auto& item : value) list[i++] = convert(item);
      return list;
    }
    case Type::object: {
      py::dict dict;
      for (const auto& [key, item] : value.items()) dict[text(key)] = convert(item);
      return dict;
    }
  }
  return py::none();
}

}  // namespace

py::object metadata_to_python(const Model& model) { return convert(model.metadata()); }

}  // namespace ringload::python
