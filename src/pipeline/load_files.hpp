// The files one load reads: a Model the caller holds (one file), or a Checkpoint's files, each
// opened (as a Model: fd, mapping, header) when the schedule reaches it and closed once its last
// chunk is delivered, so a load of any number of files holds only the few it is reading.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ringload/checkpoint.hpp"
#include "ringload/model.hpp"

namespace ringload {

class LoadFiles {
 public:
  explicit LoadFiles(const Model& model);
  explicit LoadFiles(const Checkpoint& checkpoint);

  [[nodiscard]] const std::string& path() const noexcept { return path_; }  // what the report names
  [[nodiscard]] std::size_t count() const noexcept { return paths_.size(); }
  [[nodiscard]] std::span<const TensorInfo> tensors() const noexcept { return tensors_; }
  [[nodiscard]] const std::string& path(std::uint32_t file) const { return paths_[file]; }
  [[nodiscard]] std::span<const Format> formats() const noexcept { return formats_; }  // per file

  // File `file` as a Model: the caller's, or opened now and held until close(file). not_found and
  // the parsers' errors as Model::load gives them; size_mismatch when the file changed since the
  // checkpoint was opened.
  Result<const Model*> open(std::uint32_t file);
  void close(std::uint32_t file) noexcept;
  [[nodiscard]] std::size_t open_count() const noexcept;

 private:
  std::string path_;
  std::span<const TensorInfo> tensors_;
  std::vector<std::string> paths_;
  std::vector<std::uint32_t> tensor_counts_;
  std::vector<std::uint64_t> file_sizes_;
  std::vector<Format> formats_;
  const Model* caller_model_ = nullptr;  // one-file loads of a Model the caller holds
  std::vector<std::unique_ptr<Model>> opened_;
};

}  // namespace ringload
