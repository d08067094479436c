#include "source.hpp"

namespace ringload::python {

Result<SourcePtr> open_source(const std::string& path) {
  Model model = RINGLOAD_TRY(Model::load(path));
  return std::make_shared<const Model>(std::move(model));
}

}  // namespace ringload::python
