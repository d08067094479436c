// Which memory cgroup a process is in, and that cgroup's figures (limit, usage, peak, the
// anonymous / page-cache split, swap, OOM kills), on cgroup v2 or the v1 memory hierarchy.
#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "ringload/memstat.hpp"

namespace ringload {
namespace {

namespace fs = std::filesystem;

// v1 reports "no limit" as PAGE_COUNTER_MAX pages in bytes (9223372036854771712 with 4 KiB
// pages); anything this large is no limit a machine could reach.
constexpr std::uint64_t kUnlimitedFrom = 1ULL << 62;

std::vector<std::string_view> split(std::string_view text, char by) {
  std::vector<std::string_view> parts;
  while (true) {
    const auto at = text.find(by);
    parts.push_back(text.substr(0, at));
    if (at == std::string_view::npos) return parts;
    text.remove_prefix(at + 1);
  }
}

bool has_token(std::string_view list, std::string_view token, char by) {
  const auto parts = split(list, by);
  return std::find(parts.begin(), parts.end(), token) != parts.end();
}

// mountinfo escapes space, tab, newline and backslash in paths as \ooo.
std::string unescape_octal(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] == '\\' && i + 4 <= text.size()) {
      int value = 0;
      const auto [ptr, ec] = std::from_chars(text.data() + i + 1, text.data() + i + 4, value, 8);
      if (ec == std::errc{} && ptr == text.data() + i + 4) {
        out += static_cast<char>(value);
        i += 3;
        continue;
      }
    }
    out += text[i];
  }
  return out;
}

struct Mount {
  std::string root;  // the part of the hierarchy mounted there
  fs::path point;    // where it is mounted
  std::string type;  // cgroup, cgroup2, ...
  std::string super_options;
};

// mountinfo: id parent maj:min root mountpoint options [optional...] - fstype source superoptions
std::vector<Mount> cgroup_mounts(std::string_view mountinfo) {
  std::vector<Mount> mounts;
  for (std::string_view line : split(mountinfo, '\n')) {
    std::vector<std::string_view> f;
    for (std::string_view field : split(line, ' '))
      if (!field.empty()) f.push_back(field);
    const auto dash = std::find(f.begin(), f.end(), "-");
    if (f.size() < 5 || dash == f.end() || std::distance(dash, f.end()) < 4) continue;
    const std::string_view type = *(dash + 1);
    if (type != "cgroup" && type != "cgroup2") continue;
    mounts.push_back(Mount{unescape_octal(f[3]), fs::path(unescape_octal(f[4])), std::string(type),
                           std::string(*(dash + 3))});
  }
  return mounts;
}

// The directory of cgroup `name` under `mount`, or nullopt when the mount shows another part of
// the hierarchy (a container's bind mount of its own subtree, say).
std::optional<fs::path> cgroup_dir(const Mount& mount, std::string_view name) {
  std::string_view root = mount.root;
  if (root == "/") root = "";
  if (!name.starts_with(root) || (name.size() > root.size() && !root.empty() && name[root.size()] != '/'))
    return std::nullopt;
  std::string_view rest = name.substr(root.size());
  while (rest.starts_with('/')) rest.remove_prefix(1);
  return rest.empty() ? mount.point : mount.point / fs::path(rest);
}

Result<std::string> read_text(const fs::path& path) {
  std::ifstream in(path);
  if (!in) return sys_error(errno != 0 ? errno : ENOENT, "cannot read the cgroup file", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr == text.data()) return std::nullopt;
  return value;
}

// A one-number file ("123\n"; v2 limits may say "max").
Result<std::optional<std::uint64_t>> read_number(const fs::path& path) {
  const std::string text = RINGLOAD_TRY(read_text(path));
  if (text.starts_with("max")) return std::optional<std::uint64_t>{};
  const auto value = parse_u64(text);
  if (!value) {
    return make_error(ErrorKind::malformed_header,
                      fmt::format("{}: expected a number or \"max\", found '{}'", path.string(),
                                  text.substr(0, text.find('\n'))));
  }
  return value;
}

// The value of "key value" in a flat keyed file (memory.stat, memory.events, memory.oom_control).
std::optional<std::uint64_t> keyed(std::string_view text, std::string_view key) {
  for (std::string_view line : split(text, '\n')) {
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ')
      return parse_u64(line.substr(key.size() + 1));
  }
  return std::nullopt;
}

Result<MemoryCgroupStat> stat_v2(const fs::path& dir) {
  MemoryCgroupStat s;
  s.limit_bytes = RINGLOAD_TRY(read_number(dir / "memory.max"));
  s.current_bytes = RINGLOAD_TRY(read_number(dir / "memory.current")).value_or(0);
  // memory.peak and memory.swap.current are younger than memory.current, or absent without swap.
  if (auto peak = read_number(dir / "memory.peak")) s.peak_bytes = peak->value_or(0);
  if (auto swap = read_number(dir / "memory.swap.current")) s.swap_bytes = swap->value_or(0);
  const std::string stat = RINGLOAD_TRY(read_text(dir / "memory.stat"));
  s.anon_bytes = keyed(stat, "anon").value_or(0);
  s.file_bytes = keyed(stat, "file").value_or(0);
  const std::string events = RINGLOAD_TRY(read_text(dir / "memory.events"));
  s.oom_kills = keyed(events, "oom_kill").value_or(0);
  return s;
}

Result<MemoryCgroupStat> stat_v1(const fs::path& dir) {
  MemoryCgroupStat s;
  const auto limit = RINGLOAD_TRY(read_number(dir / "memory.limit_in_bytes"));
  if (limit && *limit < kUnlimitedFrom) s.limit_bytes = limit;
  s.current_bytes = RINGLOAD_TRY(read_number(dir / "memory.usage_in_bytes")).value_or(0);
  s.peak_bytes = RINGLOAD_TRY(read_number(dir / "memory.max_usage_in_bytes")).value_or(0);
  const std::string stat = RINGLOAD_TRY(read_text(dir / "memory.stat"));
  // total_*: this cgroup and its children, as usage_in_bytes counts them with use_hierarchy.
  s.anon_bytes = keyed(stat, "total_rss").value_or(keyed(stat, "rss").value_or(0));
  s.file_bytes = keyed(stat, "total_cache").value_or(keyed(stat, "cache").value_or(0));
  s.swap_bytes = keyed(stat, "total_swap").value_or(keyed(stat, "swap").value_or(0));
  // oom_kill is in memory.oom_control since Linux 4.13.
  if (auto oom = read_text(dir / "memory.oom_control")) s.oom_kills = keyed(*oom, "oom_kill").value_or(0);
  return s;
}

}  // namespace

std::optional<MemoryCgroupPath> locate_memory_cgroup(
    std::string_view mountinfo, std::string_view proc_cgroup,
    const std::function<std::string(const fs::path&)>& v2_controllers) {
  const std::vector<Mount> mounts = cgroup_mounts(mountinfo);
  // /proc/<pid>/cgroup: "hierarchy-id:controller,list:/path" per line; v2's is "0::/path".
  std::optional<std::string> v2_name;
  std::optional<std::string> v1_name;
  for (std::string_view line : split(proc_cgroup, '\n')) {
    const auto first = line.find(':');
    const auto second = first == std::string_view::npos ? first : line.find(':', first + 1);
    if (second == std::string_view::npos) continue;
    const std::string_view controllers = line.substr(first + 1, second - first - 1);
    const std::string name(line.substr(second + 1));
    if (line.substr(0, first) == "0" && controllers.empty()) v2_name = name;
    if (has_token(controllers, "memory", ',')) v1_name = name;
  }
  for (const Mount& m : mounts) {
    if (m.type != "cgroup2" || !v2_name) continue;
    std::string controllers = v2_controllers(m.point);
    std::replace(controllers.begin(), controllers.end(), '\n', ' ');
    if (!has_token(controllers, "memory", ' ')) continue;
    if (auto dir = cgroup_dir(m, *v2_name)) return MemoryCgroupPath{CgroupVersion::v2, *dir, *v2_name};
  }
  for (const Mount& m : mounts) {
    if (m.type != "cgroup" || !v1_name || !has_token(m.super_options, "memory", ',')) continue;
    if (auto dir = cgroup_dir(m, *v1_name)) return MemoryCgroupPath{CgroupVersion::v1, *dir, *v1_name};
  }
  return std::nullopt;
}

Result<std::optional<MemoryCgroupPath>> find_memory_cgroup(pid_t pid) {
  const fs::path proc = pid == 0 ? fs::path("/proc/self") : fs::path(fmt::format("/proc/{}", pid));
  const std::string mountinfo = RINGLOAD_TRY(read_text(proc / "mountinfo"));
  const std::string cgroups = RINGLOAD_TRY(read_text(proc / "cgroup"));
  return locate_memory_cgroup(mountinfo, cgroups, [](const fs::path& mount) {
    auto text = read_text(mount / "cgroup.controllers");
    return text ? *text : std::string();
  });
}

Result<MemoryCgroupStat> memory_cgroup_stat(const MemoryCgroupPath& cgroup) {
  return cgroup.version == CgroupVersion::v2 ? stat_v2(cgroup.dir) : stat_v1(cgroup.dir);
}

}  // namespace ringload
