#include "pipeline/load_files.hpp"

#include <algorithm>

namespace ringload {

LoadFiles::LoadFiles(const Model& model)
    : path_(model.path()),
      tensors_(model.tensors()),
      paths_{model.path()},
      tensor_counts_{static_cast<std::uint32_t>(model.tensors().size())},
      file_sizes_{model.file_size()},
      formats_{model.format()},
      caller_model_(&model),
      opened_(1) {}

LoadFiles::LoadFiles(const Checkpoint& checkpoint)
    : path_(checkpoint.path()), tensors_(checkpoint.tensors()), opened_(checkpoint.files().size()) {
  for (const CheckpointFile& f : checkpoint.files()) {
    paths_.push_back(f.path);
    tensor_counts_.push_back(f.tensor_count);
    file_sizes_.push_back(f.file_size);
    formats_.push_back(f.format);
  }
}

Result<const Model*> LoadFiles::open(std::uint32_t file) {
  if (caller_model_ != nullptr) return caller_model_;
  if (opened_[file]) return opened_[file].get();
  auto model = Model::load(paths_[file]);
  if (!model) return std::move(model).error();
  // The plan was made from the table read when the checkpoint was opened.
  if (model->tensors().size() != tensor_counts_[file] || model->file_size() != file_sizes_[file]) {
    Error e = make_error(ErrorKind::size_mismatch,
                         "the file changed since the checkpoint was opened: open the checkpoint again");
    e.path = paths_[file];
    return e;
  }
  opened_[file] = std::make_unique<Model>(std::move(model).value());
  return opened_[file].get();
}

void LoadFiles::close(std::uint32_t file) noexcept {
  if (file < opened_.size()) opened_[file].reset();
}

std::size_t LoadFiles::open_count() const noexcept {
  if (caller_model_ != nullptr) return 1;
  return static_cast<std::size_t>(
      std::count_if(opened_.begin(), opened_.end(), [](const auto& m) { return m != nullptr; }));
}

}  // namespace ringload
