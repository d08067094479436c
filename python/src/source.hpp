// The one place a Python `path` becomes something to load: one model file (APR v2, safetensors,
// GGUF) or a whole checkpoint (a directory, an HF *.index.json, any file of a GGUF split set).
// Nothing else in the binding looks at the path or knows which of the two it has.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "ringload/checkpoint.hpp"
#include "ringload/error.hpp"
#include "ringload/model.hpp"
#include "ringload/pipeline.hpp"

namespace ringload::python {

class Source {
 public:
  // One of the two is set: see open_source.
  Source(std::shared_ptr<const Model> model, std::optional<Checkpoint> checkpoint)
      : model_(std::move(model)), checkpoint_(std::move(checkpoint)) {}

  [[nodiscard]] const std::string& path() const noexcept;
  [[nodiscard]] Format format() const noexcept;                        // a checkpoint's: its first file's
  [[nodiscard]] std::uint64_t file_size() const noexcept;              // summed over a checkpoint's files
  [[nodiscard]] std::vector<std::string> files() const;                // in load order; one for a model file
  [[nodiscard]] std::span<const TensorInfo> tensors() const noexcept;  // in load order
  [[nodiscard]] std::vector<std::string> tensor_names() const;
  [[nodiscard]] Result<TensorInfo> tensor(std::string_view name) const;
  // A checkpoint's is its first file's: an HF shard's __metadata__ is the same in every shard,
  // and a GGUF split set keeps the model's keys in its first split only.
  [[nodiscard]] const ModelMetadata& metadata() const;

  // The model file holding `name`, for reads of part of a tensor. A checkpoint keeps the last
  // file asked for open (one fd, one mapping at most), so slicing tensor after tensor of one
  // shard parses its header once. The returned pointer stays valid while the caller holds it.
  [[nodiscard]] Result<std::shared_ptr<const Model>> file_of(std::string_view name) const;

  [[nodiscard]] Result<LoadReport> load(Sink& sink, const PipelineOptions& options) const;
  [[nodiscard]] Result<LoadReport> load(Loader& loader, Sink& sink, const PipelineOptions& options) const;

 private:
  std::shared_ptr<const Model> model_;    // one model file
  std::optional<Checkpoint> checkpoint_;  // several
  mutable std::mutex last_file_mutex_;
  mutable std::shared_ptr<const Model> last_file_;  // file_of's cache, checkpoints only
};

// Shared: a load in flight keeps what it reads from, even after Python closed its handle.
using SourcePtr = std::shared_ptr<const Source>;

// `one_file`: `path` is opened as the one model file it is, even when it belongs to a GGUF split
// set (inspect lists a set file by file that way).
[[nodiscard]] Result<SourcePtr> open_source(const std::string& path, bool one_file = false);

}  // namespace ringload::python
