// Starting a bench child: fork, place it in its run cgroup, then exec, so every page the child
// touches is charged to that cgroup (v1 has no CLONE_INTO_CGROUP and charges a process's pages to
// the cgroup it was in when it touched them).
#pragma once

#include <sys/types.h>

#include <string>
#include <vector>

#include "ringload/error.hpp"

namespace ringload::cli::bench {

class RunCgroup;

// Runs argv[0] (a path) with `argv`, stdout and stderr on the given descriptors, an empty signal
// mask and default dispositions for SIGINT, SIGTERM, SIGHUP and SIGPIPE, inside `cgroup` when
// given. The child does not start argv[0] until it is in the cgroup; if it cannot be placed
// there it is killed and reaped, and the error returned. Reaping a started child is the caller's.
[[nodiscard]] Result<pid_t> spawn_child(const std::vector<std::string>& argv, int stdout_fd, int stderr_fd,
                                        const RunCgroup* cgroup);

}  // namespace ringload::cli::bench
