// `ringload inspect PATH... [--json] [--verify]`: the tensor table of each file, where a PATH is a
// model file or a whole checkpoint (a directory, an HF index, any file of a GGUF split set).
#include <algorithm>
#include <array>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "checkpoint/layout.hpp"
#include "commands.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/model.hpp"
#include "units.hpp"

namespace ringload::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

// One file as inspect shows it, whether opened alone (a Model) or as part of a Checkpoint.
struct FileView {
  std::string path;
  Format format = Format::safetensors;
  std::uint64_t file_size = 0;
  bool decompressed = false;  // a compressed APR, decompressed onto the heap
  const MetadataValue* metadata = nullptr;
  std::span<const TensorInfo> tensors;  // sorted by offset
};

FileView view_of(const Model& model) {
  return FileView{.path = model.path(),
                  .format = model.format(),
                  .file_size = model.file_size(),
                  .decompressed = !model.is_mmap(),
                  .metadata = &model.metadata(),
                  .tensors = model.tensors()};
}

// Checkpoint order: its files in load order, each file's tensors by offset.
std::vector<FileView> views_of(const Checkpoint& ckpt) {
  std::vector<FileView> views;
  for (std::size_t f = 0; f < ckpt.files().size(); ++f) {
    const CheckpointFile& file = ckpt.files()[f];
    views.push_back(FileView{.path = file.path,
                             .format = file.format,
                             .file_size = file.file_size,
                             .metadata = &ckpt.metadata(f),
                             .tensors = ckpt.tensors().subspan(file.first_tensor, file.tensor_count)});
  }
  return views;
}

// Exactly today's per-file schema, whichever way the file was opened.
Json file_json(const FileView& file) {
  Json tensors = Json::array();
  for (const TensorInfo& t : file.tensors) {
    tensors.push_back(Json{{"name", t.name},
                           {"dtype", std::string(dtype_name(t.dtype))},
                           {"shape", t.shape},
                           {"offset", t.offset},
                           {"size", t.size}});
  }
  return Json{{"path", file.path},
              {"format", std::string(to_string(file.format))},
              {"file_size", file.file_size},
              {"metadata", to_json(*file.metadata)},
              {"tensors", std::move(tensors)}};
}

// One metadata value, short enough for a table cell, escaped so hostile strings stay inert.
std::string summarize(const Json& value) {
  constexpr std::size_t kMaxChars = 72;
  if (value.is_array()) {
    std::string kind = value.empty() ? "empty" : std::string(value.front().type_name());
    std::string head;
    for (std::size_t i = 0; i < std::min<std::size_t>(3, value.size()); ++i) {
      head += (i ? ", " : "") + dump_json(value[i]);
    }
    std::string text =
        fmt::format("[{} x {}] {}{}", value.size(), kind, head, value.size() > 3 ? ", ..." : "");
    return text.size() > kMaxChars ? text.substr(0, kMaxChars) + "..." : text;
  }
  std::string text = dump_json(value);  // JSON escaping: control characters never reach the terminal
  if (text.size() > kMaxChars) text = text.substr(0, kMaxChars) + "...";
  return text;
}

// A name as a table cell: JSON-escaped so hostile strings stay inert, without the quotes.
std::string cell(const std::string& name) {
  std::string text = summarize(Json(name));
  return text.substr(1, text.size() - 2);
}

void print_table(const FileView& file) {
  const auto tensors = file.tensors;
  std::uint64_t total = 0;
  for (const auto& t : tensors) total += t.size;
  fmt::print("{}\n  format {}  file {}  {} tensors, {} of tensor data{}\n", file.path, to_string(file.format),
             format_bytes(file.file_size), tensors.size(), format_bytes(total),
             file.decompressed ? "  (decompressed in memory)" : "");
  const Json meta = to_json(*file.metadata);
  if (!meta.empty()) {
    fmt::print("  metadata ({} keys):\n", meta.size());
    for (const auto& [key, value] : meta.items()) {
      fmt::print("    {} = {}\n", summarize(Json(key)), summarize(value));
    }
  }
  if (tensors.empty()) {
    fmt::print("  (no tensors)\n\n");
    return;
  }
  std::size_t name_w = 4, dtype_w = 5, shape_w = 5, offset_w = 6, size_w = 4;
  for (const auto& t : tensors) {
    name_w = std::max(name_w, t.name.size());
    dtype_w = std::max(dtype_w, dtype_name(t.dtype).size());
    shape_w = std::max(shape_w, shape_text(t.shape).size());
    offset_w = std::max(offset_w, fmt::formatted_size("{}", t.offset));
    size_w = std::max(size_w, fmt::formatted_size("{}", t.size));
  }
  name_w = std::min<std::size_t>(name_w, 64);
  fmt::print("  {:<{}}  {:<{}}  {:<{}}  {:>{}}  {:>{}}\n", "name", name_w, "dtype", dtype_w, "shape", shape_w,
             "offset", offset_w, "size", size_w);
  for (const auto& t : tensors) {
    fmt::print("  {:<{}}  {:<{}}  {:<{}}  {:>{}}  {:>{}}\n", cell(t.name), name_w, dtype_name(t.dtype),
               dtype_w, shape_text(t.shape), shape_w, t.offset, offset_w, t.size, size_w);
  }
  fmt::print("  total: {} tensors, {} bytes ({})\n\n", tensors.size(), total, format_bytes(total));
}

// A checkpoint's summary before its files' own sections: how it was resolved, then one row per
// file in load order, so the set reads at a glance even when each section is long.
void print_checkpoint(const Checkpoint& ckpt) {
  using Row = std::array<std::string, 5>;  // file, format, size, tensors, tensor data
  std::vector<Row> rows{{"file", "format", "size", "tensors", "tensor data"}};
  std::uint64_t disk_bytes = 0;
  for (const CheckpointFile& f : ckpt.files()) {
    disk_bytes += f.file_size;
    rows.push_back(Row{cell(std::filesystem::path(f.path).filename().string()),
                       std::string(to_string(f.format)), format_bytes(f.file_size),
                       std::to_string(f.tensor_count), format_bytes(f.tensor_bytes)});
  }
  std::array<std::size_t, 5> width{};
  for (const Row& r : rows) {
    for (std::size_t c = 0; c < r.size(); ++c) width[c] = std::max(width[c], r[c].size());
  }
  fmt::print("{}\n  checkpoint ({}): {} files, {} tensors, {} of tensor data, {} on disk\n",
             cell(ckpt.path()), to_string(ckpt.layout()), ckpt.files().size(), ckpt.tensors().size(),
             format_bytes(ckpt.tensor_bytes_total()), format_bytes(disk_bytes));
  const std::size_t index_w = fmt::formatted_size("{}", ckpt.files().size());
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const Row& r = rows[i];
    fmt::print("  {:>{}}  {:<{}}  {:<{}}  {:>{}}  {:>{}}  {:>{}}\n",
               i == 0 ? std::string("#") : std::to_string(i - 1), index_w, r[0], width[0], r[1], width[1],
               r[2], width[2], r[3], width[3], r[4], width[4]);
  }
  fmt::print("\n");
}

// What one PATH opened as: a model file alone, or a checkpoint of one or more files.
struct Inspected {
  std::optional<Model> model;
  std::optional<Checkpoint> checkpoint;

  [[nodiscard]] std::vector<FileView> files() const {
    return model ? std::vector{view_of(*model)} : views_of(*checkpoint);
  }
};

// A plain model file opens as a Model, exactly as before checkpoints existed (its table notes a
// decompressed APR); everything else as a Checkpoint, validated as a set.
Result<Inspected> open_path(const std::string& path, const ModelOptions& options) {
  const ResolvedCheckpoint resolved = RINGLOAD_TRY(resolve_checkpoint(path));
  if (resolved.layout == CheckpointLayout::single_file)
    return Inspected{.model = RINGLOAD_TRY(Model::load(path, options)), .checkpoint = std::nullopt};
  return Inspected{.model = std::nullopt, .checkpoint = RINGLOAD_TRY(Checkpoint::open(path, options))};
}

}  // namespace

std::function<int()> add_inspect(CLI::App& app) {
  struct Options {
    std::vector<std::string> paths;
    bool json = false;
    bool verify = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "inspect",
      "Print each file's format, metadata and tensor table (name, dtype, shape, absolute offset, size).\n"
      "A PATH is a model file or a whole checkpoint: a directory (its one *.index.json, else its one\n"
      "GGUF split set, else its model files in name order), an HF model.safetensors.index.json, or any\n"
      "file of a GGUF split set NAME-0000k-of-0000N.gguf (the whole set). A checkpoint is validated as a\n"
      "set and shown as its layout and files, then each file's section.\n"
      "Validates every header first; on a bad file or a damaged set prints one line naming the file(s),\n"
      "tensor and byte offset on stderr and exits 2, with nothing on stdout.\n"
      "Examples: ringload inspect model.safetensors\n"
      "          ringload inspect --json Llama-70B/          # an array: one object per shard");
  sub->add_option("paths", opts->paths,
                  "Model files or checkpoints (.safetensors, .gguf, .apr, a directory, an index)")
      ->required();
  sub->add_flag("--json", opts->json,
                "One JSON object per file: path, format, file_size, metadata, tensors[{name, dtype, shape, "
                "offset, size}], tensors sorted by offset. One file: the object; several files (several "
                "paths, or a checkpoint of several files): an array of them, in checkpoint order");
  sub->add_flag("--verify", opts->verify, "Also check checksums that cost a full read (APR footer CRC-32)");
  return [opts]() {
    std::vector<Inspected> opened;
    bool failed = false;
    for (const auto& path : opts->paths) {
      auto inspected = open_path(path, ModelOptions{.verify_checksum = opts->verify});
      if (!inspected) {
        fmt::print(stderr, "ringload inspect: {}\n", inspected.error().to_string());
        failed = true;
        continue;
      }
      opened.push_back(std::move(inspected).value());
    }
    // All or nothing on stdout: a script never sees a partial answer.
    if (failed) return kExitBadInput;
    if (opts->json) {
      Json out = Json::array();
      for (const auto& item : opened) {
        for (const FileView& file : item.files()) out.push_back(file_json(file));
      }
      fmt::print("{}\n", dump_json(out.size() == 1 ? out.front() : out, 2));
      return kExitOk;
    }
    for (const auto& item : opened) {
      if (item.checkpoint) print_checkpoint(*item.checkpoint);
      for (const FileView& file : item.files()) print_table(file);
    }
    return kExitOk;
  };
}

}  // namespace ringload::cli
