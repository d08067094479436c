#include "checkpoint/layout.hpp"

#include <algorithm>
#include <map>
#include <set>
#include <system_error>

#include <fmt/format.h>

namespace ringload {
namespace {

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool is_model_file(const std::string& name) {
  return ends_with(name, ".safetensors") || ends_with(name, ".gguf") || ends_with(name, ".apr");
}

Error located(ErrorKind kind, std::string message, const std::filesystem::path& path) {
  Error e = make_error(kind, std::move(message));
  e.path = path.string();
  return e;
}

std::string list(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : ", ") + n;
  return out;
}

// Every file of the split set `name`, which must all exist.
Result<ResolvedCheckpoint> split_set(const SplitName& name) {
  ResolvedCheckpoint r{.layout = CheckpointLayout::gguf_split, .split = name};
  for (std::uint32_t k = 1; k <= name.count; ++k) {
    auto path = split_path(name, k);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return located(
          ErrorKind::missing_shard,
          fmt::format("split {} of {} of this GGUF split set is missing: {}", k, name.count, path.string()),
          split_path(name, name.number));
    }
    r.files.push_back(std::move(path));
  }
  return r;
}

Result<ResolvedCheckpoint> resolve_directory(const std::filesystem::path& dir) {
  std::vector<std::string> indexes;
  std::vector<std::string> models;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (!entry.is_regular_file(ec)) continue;
    const std::string name = entry.path().filename().string();
    if (ends_with(name, ".index.json")) indexes.push_back(name);
    if (is_model_file(name)) models.push_back(name);
  }
  if (ec) return sys_error(ec.value(), "cannot list the checkpoint directory", dir.string());
  std::sort(indexes.begin(), indexes.end());
  std::sort(models.begin(), models.end());  // bytewise
  if (indexes.size() > 1) {
    return located(
        ErrorKind::ambiguous_checkpoint,
        fmt::format("the directory has {} indexes ({}): open one of them", indexes.size(), list(indexes)),
        dir);
  }
  if (indexes.size() == 1) {
    return ResolvedCheckpoint{.layout = CheckpointLayout::hf_index, .index = dir / indexes.front()};
  }
  std::map<std::pair<std::string, std::uint32_t>, SplitName> sets;
  for (const auto& m : models) {
    if (auto split = parse_split_name(dir / m); split && split->count > 1)
      sets.emplace(std::pair{split->prefix, split->count}, *split);
  }
  if (sets.size() > 1) {
    std::vector<std::string> names;
    names.reserve(sets.size());
    for (const auto& [key, s] : sets) names.push_back(split_path(s, 1).filename().string());
    return located(ErrorKind::ambiguous_checkpoint,
                   fmt::format("the directory has {} GGUF split sets ({}): open a file of one of them",
                               sets.size(), list(names)),
                   dir);
  }
  if (sets.size() == 1) return split_set(sets.begin()->second);
  if (models.empty()) {
    return located(ErrorKind::not_found,
                   "the directory holds no *.index.json and no .safetensors, .gguf or .apr file", dir);
  }
  ResolvedCheckpoint r{.layout = CheckpointLayout::directory};
  for (const auto& m : models) r.files.push_back(dir / m);
  return r;
}

}  // namespace

std::optional<SplitName> parse_split_name(const std::filesystem::path& path) {
  // "-00001-of-00003.gguf": 20 characters at the end of the name.
  const std::string s = path.string();
  constexpr std::size_t kTail = 20;
  if (s.size() <= kTail || !ends_with(s, ".gguf")) return std::nullopt;
  const std::string_view tail = std::string_view(s).substr(s.size() - kTail);
  auto digits = [](std::string_view d) -> std::optional<std::uint32_t> {
    std::uint32_t v = 0;
    for (char c : d) {
      if (c < '0' || c > '9') return std::nullopt;
      v = v * 10 + static_cast<std::uint32_t>(c - '0');
    }
    return v;
  };
  const auto number = digits(tail.substr(1, 5));
  const auto count = digits(tail.substr(10, 5));
  if (tail[0] != '-' || tail.substr(6, 4) != "-of-" || !number || !count) return std::nullopt;
  if (*number == 0 || *count == 0 || *number > *count) return std::nullopt;
  return SplitName{s.substr(0, s.size() - kTail), *number, *count};
}

std::filesystem::path split_path(const SplitName& name, std::uint32_t number) {
  return fmt::format("{}-{:05}-of-{:05}.gguf", name.prefix, number, name.count);
}

Result<ResolvedCheckpoint> resolve_checkpoint(const std::filesystem::path& path) {
  std::error_code ec;
  if (std::filesystem::is_directory(path, ec)) return resolve_directory(path);
  const std::string name = path.filename().string();
  if (ends_with(name, ".index.json"))
    return ResolvedCheckpoint{.layout = CheckpointLayout::hf_index, .index = path};
  if (auto split = parse_split_name(path); split && split->count > 1) return split_set(*split);
  return ResolvedCheckpoint{.layout = CheckpointLayout::single_file, .files = {path}};
}

}  // namespace ringload
