// `ringload gen --shards N`: one checkpoint over N files in a directory, the way Hugging Face
// (shards + model.safetensors.index.json) and llama.cpp's gguf-split (a split set) lay them out.
#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "gen/output_file.hpp"

namespace ringload::gen {
namespace {

bool ends_with(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.substr(s.size() - suffix.size()) == suffix;
}

// What Checkpoint::open would take for part of a checkpoint when it lists the directory.
bool is_checkpoint_file(std::string_view name) {
  return ends_with(name, ".safetensors") || ends_with(name, ".gguf") || ends_with(name, ".apr") ||
         ends_with(name, ".index.json");
}

Error located(std::string message, const std::filesystem::path& path) {
  Error e = make_error(ErrorKind::invalid_argument, std::move(message));
  e.path = path.string();
  return e;
}

// Creates `dir` if needed. Files of another set would make it ambiguous (two indexes, two split
// sets) or mix stale shards into a directory load, and deleting a user's files is not gen's call:
// refuse, naming them. Files of the names about to be written are replaced, as single-file gen does.
Result<void> prepare_directory(const std::filesystem::path& dir, const std::set<std::string>& written) {
  std::error_code ec;
  if (std::filesystem::exists(dir, ec) && !std::filesystem::is_directory(dir, ec)) {
    return located("--shards writes a directory, and this path is a file: pick a directory", dir);
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return sys_error(ec.value(), "cannot create the checkpoint directory", dir.string());
  std::vector<std::string> others;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (is_checkpoint_file(name) && !written.contains(name)) others.push_back(name);
  }
  if (ec) return sys_error(ec.value(), "cannot list the checkpoint directory", dir.string());
  if (others.empty()) return {};
  std::sort(others.begin(), others.end());
  constexpr std::size_t kShown = 4;
  std::string shown;
  for (std::size_t i = 0; i < std::min(others.size(), kShown); ++i) shown += (i ? ", " : "") + others[i];
  return located(
      fmt::format("the directory already holds {} model file(s) of another set ({}{}): remove them "
                  "or pick an empty directory",
                  others.size(), shown, others.size() > kShown ? ", ..." : ""),
      dir);
}

// The index as transformers writes it (json.dumps(indent=2, sort_keys=True)): built as text, since
// a JSON object insertion per tensor would be quadratic for ordered_json.
std::string index_json(std::span<const TensorSpec> tensors, std::span<const std::size_t> starts,
                       Format format) {
  std::vector<std::pair<std::string_view, std::uint32_t>> entries;  // tensor -> shard (0-based)
  entries.reserve(tensors.size());
  std::uint64_t total_bytes = 0;
  for (std::uint32_t shard = 0; shard < starts.size(); ++shard) {
    const std::size_t end = shard + 1 < starts.size() ? starts[shard + 1] : tensors.size();
    for (std::size_t i = starts[shard]; i < end; ++i) {
      entries.emplace_back(tensors[i].name, shard);
      total_bytes += tensors[i].size;
    }
  }
  // std::string_view compares as unsigned bytes: the bytewise order Python's sort_keys gives UTF-8.
  std::sort(entries.begin(), entries.end());
  const auto count = static_cast<std::uint32_t>(starts.size());
  std::string out =
      fmt::format("{{\n  \"metadata\": {{\n    \"total_size\": {}\n  }},\n  \"weight_map\": {{", total_bytes);
  for (std::size_t i = 0; i < entries.size(); ++i) {
    fmt::format_to(std::back_inserter(out), "{}\n    {}: {}", i == 0 ? "" : ",",
                   dump_json(nlohmann::ordered_json(entries[i].first)),
                   dump_json(nlohmann::ordered_json(shard_file_name(format, entries[i].second + 1, count))));
  }
  out += "\n  }\n}\n";
  return out;
}

Result<void> write_text(const std::filesystem::path& path, std::string_view text) {
  auto file = RINGLOAD_TRY(OutputFile::create(path));
  RINGLOAD_TRY_VOID(file.write(std::as_bytes(std::span(text))));
  return file.commit();
}

Result<void> check_checkpoint_options(const GenOptions& options, const nlohmann::ordered_json& metadata) {
  if (options.format == Format::apr) {
    return make_error(
        ErrorKind::invalid_argument,
        "--shards writes safetensors (an HF index and its shards) or GGUF (a llama.cpp split set); "
        "APR has no sharded layout");
  }
  if (options.compression != Compression::none) {
    return make_error(ErrorKind::invalid_argument, "compression is an APR feature");
  }
  if (!metadata.is_object()) return make_error(ErrorKind::invalid_argument, "metadata must be a JSON object");
  return {};
}

// Where a shard sits in the set: its number, and the bytes around it for the progress scale.
struct ShardPlace {
  std::uint32_t number = 0;  // 0-based
  std::uint32_t count = 0;
  std::uint32_t set_tensors = 0;
  std::uint64_t file_bytes_before = 0;   // written by the shards before
  std::uint64_t tensor_bytes_after = 0;  // still to come after this one
};

// One shard through its format's writer: GGUF with the split keys (the model's keys in the first
// split only), safetensors with the metadata in every shard as Hugging Face writes it.
Result<GenReport> write_shard(const std::filesystem::path& path, const GenOptions& options,
                              std::span<const TensorSpec> part, const nlohmann::ordered_json& metadata,
                              const ShardPlace& place) {
  // One progress scale over the whole set: the files before, this one as its writer counts it,
  // and the tensor bytes still to come.
  GenOptions shard_options = options;
  shard_options.shards = 0;
  if (options.progress) {
    shard_options.progress = [&options, place](std::uint64_t done, std::uint64_t total) {
      options.progress(place.file_bytes_before + done,
                       place.file_bytes_before + total + place.tensor_bytes_after);
    };
  }
  if (options.format == Format::safetensors) return write_safetensors(path, shard_options, part, metadata);
  return write_gguf(path, shard_options, part,
                    place.number == 0 ? metadata : nlohmann::ordered_json::object(),
                    GgufSplit{.number = static_cast<std::uint16_t>(place.number),
                              .count = static_cast<std::uint16_t>(place.count),
                              .tensor_count = static_cast<std::int32_t>(place.set_tensors)});
}

}  // namespace

Result<GenReport> write_checkpoint(const std::filesystem::path& dir, const GenOptions& options,
                                   std::span<const TensorSpec> tensors,
                                   const nlohmann::ordered_json& metadata) {
  RINGLOAD_TRY_VOID(check_checkpoint_options(options, metadata));
  // Once for the whole set: names must be unique across shards, not just within one.
  RINGLOAD_TRY_VOID(check_tensor_specs(options.format, tensors));
  const std::vector<std::size_t> starts = RINGLOAD_TRY(shard_starts(tensors, options.shards));
  const std::uint32_t count = options.shards;

  std::set<std::string> names;
  for (std::uint32_t k = 1; k <= count; ++k) names.insert(shard_file_name(options.format, k, count));
  if (options.format == Format::safetensors) names.emplace(kIndexFileName);
  RINGLOAD_TRY_VOID(prepare_directory(dir, names));

  std::uint64_t all_tensor_bytes = 0;
  for (const TensorSpec& t : tensors) all_tensor_bytes += t.size;
  GenReport report;
  for (std::uint32_t shard = 0; shard < count; ++shard) {
    const std::size_t end = shard + 1 < count ? starts[shard + 1] : tensors.size();
    const auto part = tensors.subspan(starts[shard], end - starts[shard]);
    std::uint64_t part_bytes = 0;
    for (const TensorSpec& t : part) part_bytes += t.size;
    const ShardPlace place{.number = shard,
                           .count = count,
                           .set_tensors = static_cast<std::uint32_t>(tensors.size()),
                           .file_bytes_before = report.file_bytes,
                           .tensor_bytes_after = all_tensor_bytes - report.tensor_bytes - part_bytes};
    const std::filesystem::path path = dir / shard_file_name(options.format, shard + 1, count);
    const GenReport written = RINGLOAD_TRY(write_shard(path, options, part, metadata, place));
    report.file_bytes += written.file_bytes;
    report.tensor_bytes += written.tensor_bytes;
    report.tensor_count += written.tensor_count;
    report.files.push_back(path);
  }
  if (options.format == Format::safetensors) {
    // Last: a reader that finds the index finds every shard it names.
    const std::string index = index_json(tensors, starts, options.format);
    const std::filesystem::path path = dir / std::string(kIndexFileName);
    RINGLOAD_TRY_VOID(write_text(path, index));
    report.file_bytes += index.size();
    report.files.push_back(path);
  }
  return report;
}

}  // namespace ringload::gen
