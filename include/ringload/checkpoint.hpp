// A whole checkpoint: one model spread over many files, opened and validated as a set.
//
//   auto ckpt = ringload::Checkpoint::open("Llama-70B/");        // a directory
//   auto ckpt = ringload::Checkpoint::open("model.safetensors.index.json");
//   auto ckpt = ringload::Checkpoint::open("q4-00001-of-00003.gguf");  // the whole split set
//   auto report = ringload::load_into(*ckpt, sink, options);   // one plan over every file
//
// Opened from (a) one model file, (b) a directory, (c) a Hugging Face `*.index.json`, (d) any file
// of a llama.cpp GGUF split set (`NAME-0000k-of-0000N.gguf`: the whole set), or (e) a list of
// files. A directory resolves to its one index if it has exactly one, else to its one GGUF split
// set, else to its model files (*.safetensors, *.gguf, *.apr) in bytewise name order; anything
// ambiguous is ErrorKind::ambiguous_checkpoint listing the candidates. Load order: the files in
// that order (an index's shard names sorted bytewise), and within each file by offset.
//
// Opening reads headers only (O(headers)): each file is opened, parsed and closed in turn, so a
// 300-file checkpoint holds no fd and no mapping once open() returns. tensor_bytes() opens the
// tensor's file when first asked and keeps it (fd and mapping) until the checkpoint is destroyed,
// so a span it returned is never unmapped under its holder: reading every tensor of every file
// this way holds every file open. The pipeline (load_into, Loader, async_load) does not: it opens
// a file when its first chunk is read and closes it once its last chunk is delivered and its
// pages released, a few files at a time.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <vector>

#include "ringload/error.hpp"
#include "ringload/model.hpp"

namespace ringload {

// What Model::metadata() returns, per file.
using ModelMetadata = std::remove_cvref_t<decltype(std::declval<const Model&>().metadata())>;

struct CheckpointFile {
  std::string path;  // as opened (the index's directory joined with the shard name)
  Format format = Format::safetensors;
  std::uint64_t file_size = 0;
  std::uint32_t first_tensor = 0;  // its tensors are tensors()[first_tensor, first_tensor + tensor_count)
  std::uint32_t tensor_count = 0;
  std::uint64_t tensor_bytes = 0;
};

enum class CheckpointLayout : std::uint8_t {
  single_file,
  directory,   // model files of a directory, in name order
  hf_index,    // a *.index.json and the shards it names
  gguf_split,  // a llama.cpp split set
  file_list,   // given explicitly
};

[[nodiscard]] std::string_view to_string(CheckpointLayout layout) noexcept;

class Checkpoint {
 public:
  static Result<Checkpoint> open(const std::filesystem::path& path, const ModelOptions& options = {});
  static Result<Checkpoint> open_files(std::vector<std::filesystem::path> files,
                                       const ModelOptions& options = {});

  Checkpoint(Checkpoint&&) noexcept;
  Checkpoint& operator=(Checkpoint&&) noexcept;
  Checkpoint(const Checkpoint&) = delete;
  Checkpoint& operator=(const Checkpoint&) = delete;
  ~Checkpoint();

  [[nodiscard]] const std::string& path() const noexcept;  // what open() was given
  [[nodiscard]] CheckpointLayout layout() const noexcept;
  [[nodiscard]] std::span<const CheckpointFile> files() const noexcept;
  // Every tensor in load order; TensorInfo::file is its index in files(), TensorInfo::offset is
  // within that file.
  [[nodiscard]] std::span<const TensorInfo> tensors() const noexcept;
  [[nodiscard]] std::uint64_t tensor_bytes_total() const noexcept;
  [[nodiscard]] Result<TensorInfo> tensor(std::string_view name) const;
  // A span into the tensor's file (see the header comment for how long the file stays open).
  [[nodiscard]] Result<std::span<const std::byte>> tensor_bytes(std::string_view name) const;
  [[nodiscard]] const ModelMetadata& metadata(std::size_t file) const;
  // Drops every file's page cache (and the mappings tensor_bytes made): nothing left behind.
  Result<void> release_cpu_pages() const;

 private:
  struct Impl;
  explicit Checkpoint(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringload
