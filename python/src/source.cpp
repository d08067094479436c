#include "source.hpp"

#include <utility>

namespace ringload::python {

const std::string& Source::path() const noexcept {
  return checkpoint_ ? checkpoint_->path() : model_->path();
}

Format Source::format() const noexcept {
  return checkpoint_ ? checkpoint_->files().front().format : model_->format();
}

std::uint64_t Source::file_size() const noexcept {
  if (!checkpoint_) return model_->file_size();
  std::uint64_t total = 0;
  for (const CheckpointFile& f : checkpoint_->files()) total += f.file_size;
  return total;
}

std::vector<std::string> Source::files() const {
  if (!checkpoint_) return {model_->path()};
  std::vector<std::string> paths;
  paths.reserve(checkpoint_->files().size());
  for (const CheckpointFile& f : checkpoint_->files()) paths.push_back(f.path);
  return paths;
}

std::span<const TensorInfo> Source::tensors() const noexcept {
  return checkpoint_ ? checkpoint_->tensors() : model_->tensors();
}

std::vector<std::string> Source::tensor_names() const {
  std::vector<std::string> names;
  names.reserve(tensors().size());
  for (const TensorInfo& t : tensors()) names.push_back(t.name);
  return names;
}

Result<TensorInfo> Source::tensor(std::string_view name) const {
  return checkpoint_ ? checkpoint_->tensor(name) : model_->tensor(name);
}

const ModelMetadata& Source::metadata() const {
  return checkpoint_ ? checkpoint_->metadata(0) : model_->metadata();
}

Result<std::shared_ptr<const Model>> Source::file_of(std::string_view name) const {
  if (!checkpoint_) return model_;
  const TensorInfo info = RINGLOAD_TRY(checkpoint_->tensor(name));
  const std::string& file = checkpoint_->files()[info.file].path;
  const std::scoped_lock lock(last_file_mutex_);
  if (!last_file_ || last_file_->path() != file) {
    last_file_.reset();  // at most one file open: close the last before opening the next
    Model model = RINGLOAD_TRY(Model::load(file));
    last_file_ = std::make_shared<const Model>(std::move(model));
  }
  return last_file_;
}

Result<LoadReport> Source::load(Sink& sink, const PipelineOptions& options) const {
  return checkpoint_ ? load_into(*checkpoint_, sink, options) : load_into(*model_, sink, options);
}

Result<LoadReport> Source::load(Loader& loader, Sink& sink, const PipelineOptions& options) const {
  return checkpoint_ ? loader.load(*checkpoint_, sink, options) : loader.load(*model_, sink, options);
}

Result<SourcePtr> open_source(const std::string& path, bool one_file) {
  std::string file = path;
  if (!one_file) {
    Checkpoint opened = RINGLOAD_TRY(Checkpoint::open(path));
    if (opened.files().size() > 1) return std::make_shared<const Source>(nullptr, std::move(opened));
    file = opened.files().front().path;
  }
  // One file loads as a Model: its mapping serves get_tensor and slices without reopening.
  Model model = RINGLOAD_TRY(Model::load(file));
  return std::make_shared<const Source>(std::make_shared<const Model>(std::move(model)), std::nullopt);
}

}  // namespace ringload::python
