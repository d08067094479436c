// Checkpoint: resolves the path to its files, opens each in turn for its header (closing it again),
// checks the set, and keeps one table of every tensor in load order.
#include "ringload/checkpoint.hpp"

#include <algorithm>
#include <map>
#include <mutex>
#include <optional>
#include <unordered_map>

#include <fmt/format.h>

#include "checkpoint/gguf_split.hpp"
#include "checkpoint/header_read.hpp"
#include "checkpoint/hf_index.hpp"
#include "checkpoint/layout.hpp"

namespace ringload {

std::string_view to_string(CheckpointLayout layout) noexcept {
  switch (layout) {
    case CheckpointLayout::single_file: return "single file";
    case CheckpointLayout::directory: return "directory";
    case CheckpointLayout::hf_index: return "index";
    case CheckpointLayout::gguf_split: return "GGUF split set";
    case CheckpointLayout::file_list: return "file list";
  }
  return "unknown";
}

struct Checkpoint::Impl {
  std::string path;
  CheckpointLayout layout = CheckpointLayout::single_file;
  ModelOptions options;
  std::vector<CheckpointFile> files;
  std::vector<ModelMetadata> metadata;                          // per file
  std::vector<TensorInfo> tensors;                              // load order
  std::unordered_map<std::string_view, std::uint32_t> by_name;  // views into tensors' names
  std::uint64_t total_bytes = 0;
  // Files tensor_bytes() opened: kept until the checkpoint dies (spans into them stay valid). The
  // mutex makes the lazy opening safe from const methods called on several threads.
  mutable std::mutex open_mutex;
  mutable std::map<std::uint32_t, Model> open_files;

  static Result<std::unique_ptr<Impl>> open(const ResolvedCheckpoint& resolved, std::string path,
                                            const ModelOptions& options);
  Result<void> add_file(const std::filesystem::path& file, std::optional<SplitKeys>* split_keys);
  Result<void> index_names();
  Result<const Model*> opened(std::uint32_t file) const;
};

Result<void> Checkpoint::Impl::add_file(const std::filesystem::path& file,
                                        std::optional<SplitKeys>* split_keys) {
  // One file open at a time, for its header only: a checkpoint of any size holds no fd or mapping
  // once open() returns, and no tensor page of a cold file entered the page cache.
  FileHeader header = RINGLOAD_TRY(read_file_header(file, options));
  const auto index = static_cast<std::uint32_t>(files.size());
  CheckpointFile entry{.path = std::move(header.path),
                       .format = header.table.format,
                       .file_size = header.file_size,
                       .first_tensor = static_cast<std::uint32_t>(tensors.size()),
                       .tensor_count = static_cast<std::uint32_t>(header.table.tensors.size())};
  for (TensorInfo& t : header.table.tensors) {
    t.file = index;
    entry.tensor_bytes += t.size;
    tensors.push_back(std::move(t));
  }
  total_bytes += entry.tensor_bytes;
  if (split_keys != nullptr) *split_keys = read_split_keys(header.table.metadata);
  metadata.push_back(std::move(header.table.metadata));
  files.push_back(std::move(entry));
  return {};
}

Result<const Model*> Checkpoint::Impl::opened(std::uint32_t file) const {
  const std::lock_guard lock(open_mutex);
  if (auto it = open_files.find(file); it != open_files.end()) return &it->second;
  Model model = RINGLOAD_TRY(Model::load(files[file].path, options));
  // The file changed since open(): its tensors may not be where the table says.
  if (model.tensors().size() != files[file].tensor_count || model.file_size() != files[file].file_size) {
    Error e = make_error(ErrorKind::size_mismatch,
                         "the file changed since the checkpoint was opened: open the checkpoint again");
    e.path = files[file].path;
    return e;
  }
  return &open_files.emplace(file, std::move(model)).first->second;
}

Checkpoint::Checkpoint(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Checkpoint::Checkpoint(Checkpoint&&) noexcept = default;
Checkpoint& Checkpoint::operator=(Checkpoint&&) noexcept = default;
Checkpoint::~Checkpoint() = default;

// Names must be unique across the set: the second holder of a name is reported with the first.
Result<void> Checkpoint::Impl::index_names() {
  by_name.reserve(tensors.size());
  for (std::uint32_t i = 0; i < tensors.size(); ++i) {
    const TensorInfo& t = tensors[i];
    const auto [it, inserted] = by_name.emplace(t.name, i);
    if (!inserted) {
      const TensorInfo& first = tensors[it->second];
      // Within one file, as Model::load says it; across files, naming both.
      const std::string message = first.file == t.file
                                      ? std::string("two tensors have this name")
                                      : fmt::format("two files hold a tensor of this name: {} and {}",
                                                    files[first.file].path, files[t.file].path);
      Error e = make_error(ErrorKind::duplicate_name, message, t.offset, t.name);
      e.path = files[t.file].path;
      return e;
    }
  }
  return {};
}

Result<std::unique_ptr<Checkpoint::Impl>> Checkpoint::Impl::open(const ResolvedCheckpoint& resolved,
                                                                 std::string path,
                                                                 const ModelOptions& options) {
  auto impl = std::make_unique<Impl>();
  impl->path = std::move(path);
  impl->layout = resolved.layout;
  impl->options = options;
  std::vector<std::filesystem::path> files = resolved.files;
  std::optional<HfIndex> index;
  if (resolved.layout == CheckpointLayout::hf_index) {
    index = RINGLOAD_TRY(read_hf_index(resolved.index));
    for (const auto& shard : index->shards) {
      auto file = resolved.index.parent_path() / shard;
      std::error_code ec;
      if (!std::filesystem::is_regular_file(file, ec)) {
        Error e = make_error(ErrorKind::missing_shard,
                             fmt::format("the index names shard {}, which is not there", file.string()));
        e.path = resolved.index.string();
        return e;
      }
      files.push_back(std::move(file));
    }
  }
  std::vector<SplitKeys> split_keys;
  for (const auto& file : files) {
    std::optional<SplitKeys> keys;
    RINGLOAD_TRY_VOID(impl->add_file(file, resolved.split ? &keys : nullptr));
    if (keys) split_keys.push_back(*keys);
  }
  RINGLOAD_TRY_VOID(impl->index_names());
  if (index) RINGLOAD_TRY_VOID(check_against_index(*index, impl->files, impl->tensors));
  if (resolved.split) {
    RINGLOAD_TRY_VOID(check_split_set(*resolved.split, impl->files, split_keys, impl->tensors.size()));
  }
  return impl;
}

Result<Checkpoint> Checkpoint::open(const std::filesystem::path& path, const ModelOptions& options) {
  const ResolvedCheckpoint resolved = RINGLOAD_TRY(resolve_checkpoint(path));
  return Checkpoint(RINGLOAD_TRY(Impl::open(resolved, path.string(), options)));
}

Result<Checkpoint> Checkpoint::open_files(std::vector<std::filesystem::path> files,
                                          const ModelOptions& options) {
  if (files.empty()) return make_error(ErrorKind::invalid_argument, "a checkpoint needs at least one file");
  const std::string path = files.front().string();
  ResolvedCheckpoint resolved{
      .layout = files.size() == 1 ? CheckpointLayout::single_file : CheckpointLayout::file_list,
      .files = std::move(files)};
  return Checkpoint(RINGLOAD_TRY(Impl::open(resolved, path, options)));
}

const std::string& Checkpoint::path() const noexcept { return impl_->path; }
CheckpointLayout Checkpoint::layout() const noexcept { return impl_->layout; }
std::span<const CheckpointFile> Checkpoint::files() const noexcept { return impl_->files; }
std::span<const TensorInfo> Checkpoint::tensors() const noexcept { return impl_->tensors; }
std::uint64_t Checkpoint::tensor_bytes_total() const noexcept { return impl_->total_bytes; }
const ModelMetadata& Checkpoint::metadata(std::size_t file) const { return impl_->metadata.at(file); }

Result<TensorInfo> Checkpoint::tensor(std::string_view name) const {
  const auto it = impl_->by_name.find(name);
  if (it == impl_->by_name.end()) {
    Error e =
        make_error(ErrorKind::not_found,
                   fmt::format("no such tensor in the {} files of this checkpoint", impl_->files.size()),
                   std::nullopt, std::string(name));
    e.path = impl_->path;
    return e;
  }
  return impl_->tensors[it->second];
}

Result<std::span<const std::byte>> Checkpoint::tensor_bytes(std::string_view name) const {
  const TensorInfo t = RINGLOAD_TRY(tensor(name));
  const Model* model = RINGLOAD_TRY(impl_->opened(t.file));
  return model->tensor_bytes(name);
}

Result<void> Checkpoint::release_cpu_pages() const {
  for (std::uint32_t f = 0; f < impl_->files.size(); ++f) {
    {
      const std::lock_guard lock(impl_->open_mutex);
      if (auto it = impl_->open_files.find(f); it != impl_->open_files.end()) {
        RINGLOAD_TRY_VOID(it->second.release_cpu_pages());
        continue;
      }
    }
    // Not open: drop its page cache without mapping it.
    const Model model = RINGLOAD_TRY(Model::load(impl_->files[f].path, impl_->options));
    RINGLOAD_TRY_VOID(model.release_cpu_pages());
  }
  return {};
}

}  // namespace ringload
