#include "bench_spawn.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>

#include "bench_cgroup.hpp"
#include "io/file.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): execve's envp

namespace ringload::cli::bench {
namespace {

Result<std::pair<UniqueFd, UniqueFd>> cloexec_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return sys_error(errno, "pipe2 failed", {});
  return std::pair<UniqueFd, UniqueFd>{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Between fork and exec only async-signal-safe calls: no allocation, no locks, no exceptions.
[[noreturn]] void become_child(char* const* argv, int stdout_fd, int stderr_fd, int go_fd,
                               int exec_error_fd) {
  struct sigaction defaults {};
  defaults.sa_handler = SIG_DFL;
  for (int s : {SIGINT, SIGTERM, SIGHUP, SIGPIPE}) ::sigaction(s, &defaults, nullptr);
  sigset_t none;
  sigemptyset(&none);
  ::sigprocmask(SIG_SETMASK, &none, nullptr);  // the bench holds these for its signalfd
  if (::dup2(stdout_fd, STDOUT_FILENO) < 0 || ::dup2(stderr_fd, STDERR_FILENO) < 0) ::_exit(127);
  char go = 0;
  ssize_t got = 0;
  do {
    got = ::read(go_fd, &go, 1);
  } while (got < 0 && errno == EINTR);
  if (got != 1) ::_exit(127);  // the parent could not place us: it kills us anyway
  ::execve(argv[0], argv, environ);
  const int err = errno;
  (void)!::write(exec_error_fd, &err, sizeof err);
  ::_exit(127);
}

void kill_and_reap(pid_t pid) {
  ::kill(pid, SIGKILL);
  while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
  }
}

}  // namespace

Result<pid_t> spawn_child(const std::vector<std::string>& argv, int stdout_fd, int stderr_fd,
                          const RunCgroup* cgroup) {
  if (argv.empty()) return make_error(ErrorKind::invalid_argument, "spawn_child: no program");
  std::vector<std::string> storage = argv;  // execve wants char*, and the child must not allocate
  std::vector<char*> args;
  args.reserve(storage.size() + 1);
  for (auto& a : storage) args.push_back(a.data());
  args.push_back(nullptr);
  auto [go_read, go_write] = RINGLOAD_TRY(cloexec_pipe());
  auto [error_read, error_write] = RINGLOAD_TRY(cloexec_pipe());

  const pid_t pid = ::fork();
  if (pid < 0) return sys_error(errno, "cannot start the child process (fork)", argv[0]);
  if (pid == 0) become_child(args.data(), stdout_fd, stderr_fd, go_read.get(), error_write.get());
  go_read = UniqueFd();
  error_write = UniqueFd();

  if (cgroup != nullptr) {
    if (auto placed = cgroup->add(pid); !placed) {
      kill_and_reap(pid);
      return std::move(placed).error();
    }
  }
  const char go = 'g';
  if (::write(go_write.get(), &go, 1) != 1) {
    const int err = errno;
    kill_and_reap(pid);
    return sys_error(err, "cannot start the child process", argv[0]);
  }
  go_write = UniqueFd();
  // EOF: execve succeeded (the close-on-exec end went away); an int: its errno.
  int exec_errno = 0;
  ssize_t got = 0;
  do {
    got = ::read(error_read.get(), &exec_errno, sizeof exec_errno);
  } while (got < 0 && errno == EINTR);
  if (got == static_cast<ssize_t>(sizeof exec_errno)) {
    while (::waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
    }
    return sys_error(exec_errno, "cannot start the child process (execve)", argv[0]);
  }
  return pid;
}

}  // namespace ringload::cli::bench
