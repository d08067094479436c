// `ringload inspect FILE... [--json] [--verify]`: the tensor table of each file.
#include <algorithm>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "commands.hpp"
#include "ringload/model.hpp"
#include "units.hpp"

namespace ringload::cli {
namespace {

using Json = nlohmann::ordered_json;

std::string shape_text(const std::vector<std::uint64_t>& shape) {
  return fmt::format("[{}]", fmt::join(shape, ", "));
}

Json model_json(const Model& model) {
  Json tensors = Json::array();
  for (const TensorInfo& t : model.tensors()) {
    tensors.push_back(Json{{"name", t.name},
                           {"dtype", std::string(dtype_name(t.dtype))},
                           {"shape", t.shape},
                           {"offset", t.offset},
                           {"size", t.size}});
  }
  return Json{{"path", model.path()},
              {"format", std::string(to_string(model.format()))},
              {"file_size", model.file_size()},
              {"metadata", to_json(model.metadata())},
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

void print_table(const Model& model) {
  const auto tensors = model.tensors();
  std::uint64_t total = 0;
  for (const auto& t : tensors) total += t.size;
  fmt::print("{}\n  format {}  file {}  {} tensors, {} of tensor data{}\n", model.path(),
             to_string(model.format()), format_bytes(model.file_size()), tensors.size(), format_bytes(total),
             model.is_mmap() ? "" : "  (decompressed in memory)");
  const Json meta = to_json(model.metadata());
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
    std::string name = summarize(Json(t.name));  // quoted and escaped
    name = name.substr(1, name.size() - 2);
    fmt::print("  {:<{}}  {:<{}}  {:<{}}  {:>{}}  {:>{}}\n", name, name_w, dtype_name(t.dtype), dtype_w,
               shape_text(t.shape), shape_w, t.offset, offset_w, t.size, size_w);
  }
  fmt::print("  total: {} tensors, {} bytes ({})\n\n", tensors.size(), total, format_bytes(total));
}

}  // namespace

std::function<int()> add_inspect(CLI::App& app) {
  struct Options {
    std::vector<std::string> files;
    bool json = false;
    bool verify = false;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "inspect",
      "Print each file's format, metadata and tensor table (name, dtype, shape, absolute offset, size).\n"
      "Validates the whole header first; on a bad file prints one line naming file, tensor and byte\n"
      "offset on stderr and exits 2, with nothing on stdout.");
  sub->add_option("files", opts->files, "Model files (.safetensors, .gguf, .apr)")->required();
  sub->add_flag("--json", opts->json,
                "One JSON object per file (an array for several): path, format, file_size, metadata, "
                "tensors[{name, dtype, shape, offset, size}], tensors sorted by offset");
  sub->add_flag("--verify", opts->verify, "Also check checksums that cost a full read (APR footer CRC-32)");
  return [opts]() {
    std::vector<Model> models;
    bool failed = false;
    for (const auto& file : opts->files) {
      auto model = Model::load(file, ModelOptions{.verify_checksum = opts->verify});
      if (!model) {
        fmt::print(stderr, "ringload inspect: {}\n", model.error().to_string());
        failed = true;
        continue;
      }
      models.push_back(std::move(model).value());
    }
    // All or nothing on stdout: a script never sees a partial answer.
    if (failed) return kExitBadInput;
    if (opts->json) {
      Json out = Json::array();
      for (const auto& m : models) out.push_back(model_json(m));
      fmt::print("{}\n", dump_json(models.size() == 1 ? out.front() : out, 2));
      return kExitOk;
    }
    for (const auto& m : models) print_table(m);
    return kExitOk;
  };
}

}  // namespace ringload::cli
