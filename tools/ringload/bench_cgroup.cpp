#include "bench_cgroup.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string_view>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "io/file.hpp"

namespace ringload::cli::bench {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kRunPrefix = "ringload-bench-";

// cgroup files take one write(2) each: a value split over two writes would be two values.
Result<void> write_value(const fs::path& file, const std::string& value) {
  auto fd = RINGLOAD_TRY(UniqueFd::open(file, O_WRONLY));
  const ssize_t n = ::write(fd.get(), value.data(), value.size());
  if (n < 0) return sys_error(errno, fmt::format("cannot write '{}'", value), file.string());
  return {};
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::vector<pid_t> processes_in(const fs::path& dir) {
  std::vector<pid_t> pids;
  std::istringstream in(read_text(dir / "cgroup.procs"));
  for (long pid = 0; in >> pid;) pids.push_back(static_cast<pid_t>(pid));
  return pids;
}

// v2 gives a child the memory controller only through its parent's subtree_control, and refuses
// that (EBUSY) while the parent itself holds processes: the "no internal processes" rule.
Result<void> delegate_memory_v2(const MemoryCgroupPath& parent) {
  const fs::path control = parent.dir / "cgroup.subtree_control";
  std::istringstream enabled(read_text(control));
  for (std::string c; enabled >> c;)
    if (c == "memory") return {};
  auto written = write_value(control, "+memory");
  if (written) return {};
  Error e = std::move(written).error();
  if (e.os_errno == EBUSY) {
    e.kind = ErrorKind::unsupported_feature;
    e.message = fmt::format(
        "cgroup v2 cannot enable the memory controller below {} while it holds processes (the bench "
        "itself): start the bench in a cgroup of its own, e.g. `systemd-run --scope -p Delegate=yes "
        "ringload bench ...`",
        parent.name);
  }
  return e;
}

}  // namespace

Result<MemoryCgroupPath> cgroup_parent_for_runs() {
  auto found = find_memory_cgroup();
  if (!found) return std::move(found).error();
  if (!found->has_value()) {
    return make_error(ErrorKind::unsupported_feature,
                      "--memory-limit needs a memory cgroup controller (cgroup v2 with memory in "
                      "cgroup.controllers, or v1 /sys/fs/cgroup/memory): none is mounted here");
  }
  MemoryCgroupPath parent = **found;
  if (::access(parent.dir.c_str(), W_OK) != 0) {
    Error e = sys_error(errno,
                        "--memory-limit makes a cgroup per run below the bench's own and cannot write there: "
                        "run as root (or in a delegated cgroup)",
                        parent.dir.string());
    return e;
  }
  return parent;
}

Result<RunCgroup> RunCgroup::create(const MemoryCgroupPath& parent, const std::string& name,
                                    std::optional<std::uint64_t> limit_bytes) {
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..")
    return make_error(ErrorKind::invalid_argument, fmt::format("'{}' is not a cgroup directory name", name));
  if (parent.version == CgroupVersion::v2) RINGLOAD_TRY_VOID(delegate_memory_v2(parent));
  MemoryCgroupPath path{parent.version, parent.dir / name,
                        parent.name + (parent.name.ends_with('/') ? "" : "/") + name};
  if (::mkdir(path.dir.c_str(), 0755) != 0)
    return sys_error(errno, "cannot create the run's memory cgroup", path.dir.string());
  RunCgroup cgroup(std::move(path), parent);  // from here on, destruction removes it
  if (limit_bytes) {
    const bool v2 = parent.version == CgroupVersion::v2;
    RINGLOAD_TRY_VOID(write_value(cgroup.path_.dir / (v2 ? "memory.max" : "memory.limit_in_bytes"),
                                  std::to_string(*limit_bytes)));
  }
  return cgroup;
}

RunCgroup::RunCgroup(RunCgroup&& other) noexcept
    : path_(std::move(other.path_)),
      parent_(std::move(other.parent_)),
      live_(std::exchange(other.live_, false)) {}

RunCgroup& RunCgroup::operator=(RunCgroup&& other) noexcept {
  if (this != &other) {
    (void)remove();
    path_ = std::move(other.path_);
    parent_ = std::move(other.parent_);
    live_ = std::exchange(other.live_, false);
  }
  return *this;
}

RunCgroup::~RunCgroup() { (void)remove(); }

Result<void> RunCgroup::add(pid_t pid) const {
  return write_value(path_.dir / "cgroup.procs", std::to_string(pid));
}

Result<MemoryCgroupStat> RunCgroup::stat() const { return memory_cgroup_stat(path_); }

Result<std::uint64_t> RunCgroup::file_bytes() const {
  const bool v2 = path_.version == CgroupVersion::v2;
  std::istringstream stat(read_text(path_.dir / "memory.stat"));
  const std::string_view key = v2 ? "file" : "total_cache";
  for (std::string line; std::getline(stat, line);) {
    if (line.size() > key.size() && line.starts_with(key) && line[key.size()] == ' ')
      return std::strtoull(line.c_str() + key.size() + 1, nullptr, 10);
  }
  return make_error(ErrorKind::not_found, fmt::format("memory.stat has no '{}' line", key), std::nullopt, {});
}

Result<void> RunCgroup::remove() {
  if (!live_) return {};
  // A just-reaped child can take a moment to leave a v1 cgroup; anything still inside (a
  // grandchild) goes back to the parent rather than keeping the directory alive.
  for (int attempt = 0; attempt < 100; ++attempt) {
    if (::rmdir(path_.dir.c_str()) == 0 || errno == ENOENT) {
      live_ = false;
      return {};
    }
    if (errno != EBUSY) break;
    for (const pid_t pid : processes_in(path_.dir))
      (void)write_value(parent_.dir / "cgroup.procs", std::to_string(pid));
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return sys_error(errno, "cannot remove the run's memory cgroup (remove it with rmdir)", path_.dir.string());
}

std::size_t remove_stale_run_cgroups(const MemoryCgroupPath& parent) {
  std::size_t removed = 0;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(parent.dir, ec)) {
    const std::string name = entry.path().filename().string();
    if (!entry.is_directory(ec) || !name.starts_with(kRunPrefix)) continue;
    const long pid = std::strtol(name.c_str() + kRunPrefix.size(), nullptr, 10);
    if (pid <= 0 || ::kill(static_cast<pid_t>(pid), 0) == 0 || errno != ESRCH) continue;
    if (::rmdir(entry.path().c_str()) == 0) ++removed;
  }
  return removed;
}

}  // namespace ringload::cli::bench
