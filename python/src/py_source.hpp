// The Python-side handle of an opened source (bound as ringload._ringload.Source).
#pragma once

#include <string>

#include <pybind11/pybind11.h>

#include "errors.hpp"
#include "source.hpp"

namespace ringload::python {

class PySource {
 public:
  explicit PySource(const std::string& path, bool one_file) {
    Result<SourcePtr> opened = [&] {
      const pybind11::gil_scoped_release unlocked;  // a GGUF vocabulary's header takes a while
      return open_source(path, one_file);
    }();
    source_ = value_or_raise(std::move(opened));
  }

  // The model; raises ValueError once closed. Loads in flight hold their own share.
  [[nodiscard]] const SourcePtr& get() const {
    if (!source_) throw pybind11::value_error("the file was closed");
    return source_;
  }
  void close() noexcept { source_.reset(); }

 private:
  SourcePtr source_;
};

}  // namespace ringload::python
