// `ringload bench --memory-limit`: a fresh memory cgroup per child run, made under the bench's own
// cgroup (never at the hierarchy's root) and removed after the run, as a container's limit would
// hold an inference service.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>

#include "ringload/error.hpp"
#include "ringload/memstat.hpp"

namespace ringload::cli::bench {

// The cgroup run cgroups are made in: this process's memory cgroup, checked writable. An error
// (unsupported_feature: no memory controller; permission_denied: not root and not delegated)
// carries the one line the bench prints before exiting 2.
[[nodiscard]] Result<MemoryCgroupPath> cgroup_parent_for_runs();

// Owner: the bench. A cgroup made for one run; removed (rmdir) when destroyed. Its processes
// must have exited (and been reaped) by then; any left are moved back to the parent first.
class RunCgroup {
 public:
  // `name` must be a plain directory name; `limit_bytes` nullopt makes a cgroup that only measures.
  static Result<RunCgroup> create(const MemoryCgroupPath& parent, const std::string& name,
                                  std::optional<std::uint64_t> limit_bytes);

  RunCgroup(RunCgroup&& other) noexcept;
  RunCgroup& operator=(RunCgroup&& other) noexcept;
  RunCgroup(const RunCgroup&) = delete;
  RunCgroup& operator=(const RunCgroup&) = delete;
  ~RunCgroup();

  // Moves `pid` in (cgroup.procs). On v1 only a process's own later allocations are charged here:
  // call it between fork and exec.
  [[nodiscard]] Result<void> add(pid_t pid) const;
  [[nodiscard]] Result<MemoryCgroupStat> stat() const;
  // Page cache charged here: one small read, cheap enough to sample every 10 ms.
  [[nodiscard]] Result<std::uint64_t> file_bytes() const;
  // rmdir; idempotent. The destructor calls it and ignores what it could not do.
  [[nodiscard]] Result<void> remove();

  [[nodiscard]] const MemoryCgroupPath& path() const noexcept { return path_; }

 private:
  RunCgroup(MemoryCgroupPath path, MemoryCgroupPath parent)
      : path_(std::move(path)), parent_(std::move(parent)) {}

  MemoryCgroupPath path_;
  MemoryCgroupPath parent_;
  bool live_ = true;
};

// Removes run cgroups that a bench killed with SIGKILL left behind: "ringload-bench-<pid>-*" under
// `parent` whose pid no longer runs. Returns how many it removed.
std::size_t remove_stale_run_cgroups(const MemoryCgroupPath& parent);

}  // namespace ringload::cli::bench
