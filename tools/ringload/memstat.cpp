// `ringload memstat [--pid P] [--json] [--watch MS] [FILE...]`: where memory is (the process, its
// memory cgroup, zram), and what a load left behind in the page cache; once, or every MS ms.
#include <signal.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <ctime>
#include <optional>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "commands.hpp"
#include "ringload/memstat.hpp"
#include "units.hpp"

namespace ringload::cli {
namespace {

using Json = nlohmann::ordered_json;

Json zram_json(const ZramStat& z) {
  Json j{{"present", z.present}, {"initialised", z.initialised}};
  if (z.initialised) {
    j["disksize"] = z.disksize_bytes;
    j["orig_data_size"] = z.orig_data_bytes;
    j["compr_data_size"] = z.compr_data_bytes;
    j["mem_used_total"] = z.mem_used_total_bytes;
    j["mem_limit"] = z.mem_limit_bytes;
    j["mem_used_max"] = z.mem_used_max_bytes;
    j["same_pages"] = z.same_pages;
    j["pages_compacted"] = z.pages_compacted;
    j["huge_pages"] = z.huge_pages;
  }
  return j;
}

std::string zram_text(const ZramStat& z) {
  if (!z.present) return "zram: no /sys/block/zram0 (zram module not loaded)";
  if (!z.initialised)
    return "zram: zram0 present but not initialised (disksize 0): nothing can be held in zram";
  return fmt::format("zram: disksize {}; holds {} of data compressed to {} ({} of RAM in use, peak {})",
                     format_bytes(z.disksize_bytes), format_bytes(z.orig_data_bytes),
                     format_bytes(z.compr_data_bytes), format_bytes(z.mem_used_total_bytes),
                     format_bytes(z.mem_used_max_bytes));
}

// "1.20 GiB of 4.00 GiB", or "1.20 GiB (no limit)".
std::string usage_text(const MemoryCgroupStat& s) {
  return s.limit_bytes ? fmt::format("{} of {}", format_bytes(s.current_bytes), format_bytes(*s.limit_bytes))
                       : fmt::format("{} (no limit)", format_bytes(s.current_bytes));
}

// One sample of everything memstat shows.
struct Snapshot {
  ProcessMemory process;
  ZramStat zram;
  std::optional<MemoryCgroupPath> cgroup;
  std::optional<MemoryCgroupStat> cgroup_stat;
  std::vector<std::pair<std::string, FileCacheStat>> files;
};

// An error only for the process itself (gone, unreadable); a file or the cgroup that cannot be read
// is reported on stderr and left out.
Result<Snapshot> take_snapshot(int pid, const std::vector<std::string>& files, bool& file_failed) {
  Snapshot s;
  s.process = RINGLOAD_TRY(process_memory(pid));
  s.zram = RINGLOAD_TRY(zram_stat());
  if (auto where = find_memory_cgroup(pid); where && where->has_value()) {
    s.cgroup = **where;
    if (auto stat = memory_cgroup_stat(*s.cgroup)) {
      s.cgroup_stat = *stat;
    } else {
      fmt::print(stderr, "ringload memstat: {}\n", stat.error().to_string());
    }
  }
  for (const auto& file : files) {
    auto cache = file_cache_stat(file);
    if (!cache) {
      fmt::print(stderr, "ringload memstat: {}\n", cache.error().to_string());
      file_failed = true;
      continue;
    }
    s.files.emplace_back(file, *cache);
  }
  return s;
}

double percent(std::uint64_t part, std::uint64_t whole) {
  return whole == 0 ? 0.0 : 100.0 * static_cast<double>(part) / static_cast<double>(whole);
}

Json cgroup_json(const Snapshot& s) {
  if (!s.cgroup) return nullptr;
  Json j{{"version", s.cgroup->version == CgroupVersion::v2 ? "v2" : "v1"},
         {"path", s.cgroup->name},
         {"dir", s.cgroup->dir.string()}};
  if (s.cgroup_stat) {
    const MemoryCgroupStat& c = *s.cgroup_stat;
    j["limit"] = c.limit_bytes ? Json(*c.limit_bytes) : Json(nullptr);
    j["current"] = c.current_bytes;
    j["peak"] = c.peak_bytes;
    j["anon"] = c.anon_bytes;
    j["file"] = c.file_bytes;
    j["swap"] = c.swap_bytes;
    j["oom_kills"] = c.oom_kills;
  }
  return j;
}

Json snapshot_json(const Snapshot& s, int pid) {
  Json files = Json::array();
  for (const auto& [path, cache] : s.files) {
    files.push_back(Json{{"path", path},
                         {"file_size", cache.file_bytes},
                         {"resident_bytes", cache.resident_bytes},
                         {"resident_pages", cache.resident_pages},
                         {"total_pages", cache.total_pages},
                         {"method", cache.method}});
  }
  return Json{{"pid", pid},
              {"rss", s.process.rss_bytes},
              {"rss_anon", s.process.rss_anon_bytes},
              {"rss_file", s.process.rss_file_bytes},
              {"rss_shmem", s.process.rss_shmem_bytes},
              {"vm_hwm", s.process.hwm_bytes},
              {"swap", s.process.swap_bytes},
              {"cgroup", cgroup_json(s)},
              {"zram", zram_json(s.zram)},
              {"files", files}};
}

std::string cgroup_text(const Snapshot& s) {
  if (!s.cgroup) return "memory cgroup: none (no memory controller mounted)";
  const std::string where = fmt::format("memory cgroup {} ({})", s.cgroup->name,
                                        s.cgroup->version == CgroupVersion::v2 ? "v2" : "v1");
  if (!s.cgroup_stat) return where + ": unreadable";
  const MemoryCgroupStat& c = *s.cgroup_stat;
  return fmt::format("{}: {}, peak {} (anonymous {}, page cache {}), swap {}, OOM kills {}", where,
                     usage_text(c), format_bytes(c.peak_bytes), format_bytes(c.anon_bytes),
                     format_bytes(c.file_bytes), format_bytes(c.swap_bytes), c.oom_kills);
}

void print_snapshot(const Snapshot& s, int pid) {
  const ProcessMemory& m = s.process;
  fmt::print("process {}: RSS {} (anonymous {}, file {}, shmem {}), peak {}, swap {}\n", pid,
             format_bytes(m.rss_bytes), format_bytes(m.rss_anon_bytes), format_bytes(m.rss_file_bytes),
             format_bytes(m.rss_shmem_bytes), format_bytes(m.hwm_bytes), format_bytes(m.swap_bytes));
  fmt::print("{}\n", cgroup_text(s));
  fmt::print("{}\n", zram_text(s.zram));
  if (!s.files.empty()) fmt::print("page cache:\n");
  for (const auto& [path, cache] : s.files) {
    fmt::print("  {}: {} of {} in page cache ({:.1f}%, {} of {} pages, {})\n", path,
               format_bytes(cache.resident_bytes), format_bytes(cache.file_bytes),
               percent(cache.resident_pages, cache.total_pages), cache.resident_pages, cache.total_pages,
               cache.method);
  }
}

// --watch: one line per sample, the figures that move under memory pressure.
std::string watch_line(const Snapshot& s, double t_s) {
  const ProcessMemory& m = s.process;
  std::string line =
      fmt::format("{:8.3f} s  rss {} (anon {}, file {}) swap {}", t_s, format_bytes(m.rss_bytes),
                  format_bytes(m.rss_anon_bytes), format_bytes(m.rss_file_bytes), format_bytes(m.swap_bytes));
  if (s.cgroup_stat) {
    const MemoryCgroupStat& c = *s.cgroup_stat;
    line += fmt::format(" | cgroup {} (anon {}, cache {}) peak {}", usage_text(c), format_bytes(c.anon_bytes),
                        format_bytes(c.file_bytes), format_bytes(c.peak_bytes));
    if (c.oom_kills > 0) line += fmt::format(" OOM kills {}", c.oom_kills);
  }
  if (s.zram.initialised) {
    line += fmt::format(" | zram {} in {} (RAM {})", format_bytes(s.zram.orig_data_bytes),
                        format_bytes(s.zram.compr_data_bytes), format_bytes(s.zram.mem_used_total_bytes));
  }
  for (const auto& [path, cache] : s.files)
    line += fmt::format(" | {} {:.1f}% cached", path, percent(cache.resident_pages, cache.total_pages));
  return line;
}

// Samples every `interval_ms` until SIGINT/SIGTERM (held and waited for: the interval is the wait,
// so an interrupt ends the watch at once and tidily) or until the process is gone.
int watch(int pid, int shown_pid, const std::vector<std::string>& files, bool json, int interval_ms) {
  sigset_t stop;
  sigemptyset(&stop);
  sigaddset(&stop, SIGINT);
  sigaddset(&stop, SIGTERM);
  sigset_t previous;
  ::pthread_sigmask(SIG_BLOCK, &stop, &previous);
  const auto start = std::chrono::steady_clock::now();
  auto next = start;
  int status = kExitOk;
  for (bool first = true;; first = false) {
    bool file_failed = false;
    auto snapshot = take_snapshot(pid, files, file_failed);
    const double t_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!snapshot) {
      // The watched process exiting is how a watch of a load ends.
      fmt::print(stderr, "ringload memstat: {}\n", snapshot.error().to_string());
      status = !first && snapshot.error().kind == ErrorKind::not_found ? kExitOk : kExitFailure;
      break;
    }
    if (file_failed) status = kExitFailure;
    if (json) {
      Json line = snapshot_json(*snapshot, shown_pid);
      line["t_s"] = t_s;
      fmt::print("{}\n", dump_json(line));
    } else {
      fmt::print("{}\n", watch_line(*snapshot, t_s));
    }
    (void)std::fflush(stdout);  // a line per sample, also into a pipe
    next += std::chrono::milliseconds(interval_ms);
    const auto wait = std::max(std::chrono::nanoseconds(0), next - std::chrono::steady_clock::now());
    const timespec timeout{static_cast<time_t>(wait.count() / 1000000000),
                           static_cast<long>(wait.count() % 1000000000)};
    if (::sigtimedwait(&stop, nullptr, &timeout) > 0) break;  // interrupted: done
  }
  ::pthread_sigmask(SIG_SETMASK, &previous, nullptr);
  return status;
}

}  // namespace

std::function<int()> add_memstat(CLI::App& app) {
  struct Options {
    int pid = 0;
    bool json = false;
    int watch_ms = 0;
    std::vector<std::string> files;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "memstat",
      "Show a process's memory (RSS split into anonymous and file-backed, peak RSS, swap), its memory\n"
      "cgroup (limit, usage, peak, anonymous / page-cache split, swap, OOM kills; cgroup v2 or v1),\n"
      "zram's figures, and for each FILE how many of its bytes sit in the page cache (cachestat(2), or\n"
      "mincore where the kernel lacks it). Run it after a load to see what was left behind, or with\n"
      "--watch beside a running service to see its memory move (Ctrl-C ends it).\n"
      "Examples:\n"
      "  ringload memstat --pid $(pidof my-server) model.safetensors\n"
      "  ringload memstat --pid $(pidof my-server) --watch 500 --json > memory.jsonl");
  sub->add_option("--pid", opts->pid, "Process to report on (default: this one)");
  sub->add_flag("--json", opts->json, "Print one JSON object (with --watch: one per line, plus \"t_s\")");
  sub->add_option("--watch", opts->watch_ms,
                  "Sample every MS milliseconds until interrupted or the process exits")
      ->check(CLI::Range(1, 3600000));
  sub->add_option("files", opts->files, "Files whose page-cache residency to report");
  return [opts]() {
    const int shown_pid = opts->pid == 0 ? static_cast<int>(::getpid()) : opts->pid;
    if (opts->watch_ms > 0) return watch(opts->pid, shown_pid, opts->files, opts->json, opts->watch_ms);
    bool file_failed = false;
    auto snapshot = take_snapshot(opts->pid, opts->files, file_failed);
    if (!snapshot) {
      fmt::print(stderr, "ringload memstat: {}\n", snapshot.error().to_string());
      return kExitFailure;
    }
    if (opts->json) {
      fmt::print("{}\n", dump_json(snapshot_json(*snapshot, shown_pid), 2));
    } else {
      print_snapshot(*snapshot, shown_pid);
    }
    return file_failed ? kExitFailure : kExitOk;
  };
}

}  // namespace ringload::cli
