#include "io/safe_copy.hpp"

#include <csetjmp>
#include <csignal>
#include <cstring>
#include <mutex>

#include <fmt/format.h>

namespace ringload {
namespace {

// Per thread: where to jump back to, and which range a fault must fall in to be ours.
struct GuardState {
  sigjmp_buf jump{};
  const std::byte* begin = nullptr;
  const std::byte* end = nullptr;
  const std::byte* fault = nullptr;
  bool active = false;
};
thread_local GuardState t_guard;

struct sigaction g_previous {};
std::once_flag g_install_once;

void on_sigbus(int signo, siginfo_t* info, void* context) {
  GuardState& g = t_guard;
  const auto* addr = static_cast<const std::byte*>(info->si_addr);
  if (g.active && addr >= g.begin && addr < g.end) {
    g.fault = addr;
    g.active = false;
    siglongjmp(g.jump, 1);
  }
  // Not ours: behave as if we were never installed.
  if ((g_previous.sa_flags & SA_SIGINFO) != 0 && g_previous.sa_sigaction != nullptr) {
    g_previous.sa_sigaction(signo, info, context);
    return;
  }
  if (g_previous.sa_handler != SIG_DFL && g_previous.sa_handler != SIG_IGN &&
      g_previous.sa_handler != nullptr) {
    g_previous.sa_handler(signo);
    return;
  }
  // Default action: restore it and return; the faulting instruction runs again and kills us.
  (void)::signal(SIGBUS, SIG_DFL);
}

// The one process-wide piece of state: a SIGBUS handler, installed once and chaining to whatever
// was there before. Loads on different threads keep their own guard state.
void install_handler() {
  std::call_once(g_install_once, [] {
    struct sigaction action {};
    action.sa_sigaction = on_sigbus;
    action.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&action.sa_mask);
    ::sigaction(SIGBUS, &action, &g_previous);
  });
}

}  // namespace

Result<void> guard_mapped_reads(std::span<const std::byte> mapped, const std::function<void()>& work) {
  install_handler();
  GuardState& g = t_guard;
  g.begin = mapped.data();
  g.end = mapped.data() + mapped.size();
  g.fault = nullptr;
  if (sigsetjmp(g.jump, 1) == 0) {
    g.active = true;
    work();
    g.active = false;
    return {};
  }
  const auto offset = static_cast<std::uint64_t>(g.fault - g.begin);
  return make_error(
      ErrorKind::truncated,
      fmt::format("the file shrank while it was being read (SIGBUS on a mapped page at byte {}); "
                  "was it overwritten or truncated during the load?",
                  offset),
      offset);
}

Result<void> copy_from_mapping(std::span<std::byte> dst, std::span<const std::byte> src) {
  const std::size_t n = std::min(dst.size(), src.size());
  // In ascending 128 KiB pieces: glibc copies large blocks with loads interleaved across four
  // pages far apart, and faults in that order look random to the kernel's mmap readahead, which
  // then stops reading ahead (measured: 0.8 GB/s instead of 3 GB/s cold).
  constexpr std::size_t kPiece = 128 << 10;
  return guard_mapped_reads(src, [&] {
    for (std::size_t at = 0; at < n; at += kPiece) {
      std::memcpy(dst.data() + at, src.data() + at, std::min(kPiece, n - at));
    }
  });
}

}  // namespace ringload
