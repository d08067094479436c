// `ringload bench`: every strategy side by side on one file, each run in a fresh child process
// (`ringload load --json`), interleaved and repeated, against ceilings our own plain readers
// measure in the same run; a table on the terminal, the bench/BENCH_JSON.md document, an SVG.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "bench_ceiling.hpp"
#include "bench_peers.hpp"
#include "bench_pressure.hpp"
#include "bench_spawn.hpp"
#include "bench_stats.hpp"
#include "bench_svg.hpp"
#include "commands.hpp"
#include "gen/gen.hpp"
#include "io/file.hpp"
#include "io/mapping.hpp"
#include "progress.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/memstat.hpp"
#include "ringload/pipeline.hpp"
#include "units.hpp"

namespace ringload::cli {
namespace {

namespace fs = std::filesystem;
using bench::Json;
using bench::RunFigures;

constexpr int kExitInterrupted = 130;  // the shell's 128 + SIGINT

// Holds SIGINT/SIGTERM/SIGHUP while the bench runs and hands them over through a signalfd, so an
// interrupted bench still stops its child and removes its multi-GiB temporary file. Without a
// signalfd it degrades to the default (die at once): still correct, only untidy.
class SignalGuard {
 public:
  SignalGuard() {
    sigemptyset(&held_);
    for (int s : {SIGINT, SIGTERM, SIGHUP}) sigaddset(&held_, s);
    if (::pthread_sigmask(SIG_BLOCK, &held_, &previous_) != 0) return;
    blocked_ = true;
    fd_ = ::signalfd(-1, &held_, SFD_CLOEXEC | SFD_NONBLOCK);
  }
  SignalGuard(const SignalGuard&) = delete;
  SignalGuard& operator=(const SignalGuard&) = delete;
  ~SignalGuard() {
    if (fd_ >= 0) ::close(fd_);
    if (blocked_) ::pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
  }

  [[nodiscard]] int fd() const noexcept { return fd_; }
  // True once a held signal arrived (it is consumed: the bench exits by itself, tidily).
  bool fired() {
    signalfd_siginfo info{};
    while (fd_ >= 0 && ::read(fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) fired_ = true;
    return fired_;
  }

 private:
  sigset_t held_{};
  sigset_t previous_{};
  int fd_ = -1;
  bool blocked_ = false;
  bool fired_ = false;
};

// Removes a file we created when it goes out of scope (unless asked to keep it).
class TempFile {
 public:
  TempFile() = default;
  TempFile(fs::path path, bool keep) : path_(std::move(path)), keep_(keep) {}
  TempFile(const TempFile&) = delete;
  TempFile& operator=(const TempFile&) = delete;
  ~TempFile() {
    std::error_code ec;
    if (!path_.empty() && !keep_) fs::remove(path_, ec);
  }

 private:
  fs::path path_;
  bool keep_ = false;
};

struct ChildOutput {
  int exit_code = -1;  // 128 + signal when killed
  std::string out;
  std::string err;
  double major_faults = 0;                              // wait4's rusage
  double cgroup_file_bytes_peak = bench::kNotMeasured;  // sampled every 10 ms in a run cgroup
};

std::string last_line(const std::string& text) {
  std::istringstream lines(text);
  std::string last;
  for (std::string line; std::getline(lines, line);) {
    if (!line.empty()) last = line;
  }
  return last;
}

// Drains fd into `into`; false once it reaches EOF or fails.
bool drain(int fd, std::string& into) {
  char buffer[16384];
  for (;;) {
    const ssize_t got = ::read(fd, buffer, sizeof buffer);
    if (got > 0) {
      into.append(buffer, static_cast<std::size_t>(got));
      continue;
    }
    if (got < 0 && errno == EINTR) continue;
    return got < 0 && errno == EAGAIN;
  }
}

Result<std::pair<UniqueFd, UniqueFd>> make_pipe() {
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC | O_NONBLOCK) != 0) return sys_error(errno, "pipe2 failed", {});
  return std::pair<UniqueFd, UniqueFd>{UniqueFd(fds[0]), UniqueFd(fds[1])};
}

// Runs `exe args...` with stdout and stderr captured, calling `tick(seconds)` about 10 times a
// second while it runs; in `cgroup` when given (placed there before it starts), whose page cache
// is then sampled every 10 ms. A held signal terminates the child and returns `cancelled`.
Result<ChildOutput> run_child(const std::string& exe, const std::vector<std::string>& args,
                              SignalGuard& signals, const std::function<void(double)>& tick,
                              const bench::RunCgroup* cgroup = nullptr) {
  auto [out_read, out_write] = RINGLOAD_TRY(make_pipe());
  auto [err_read, err_write] = RINGLOAD_TRY(make_pipe());
  // The child's ends must block: the child does not expect O_NONBLOCK on its stdout.
  (void)::fcntl(out_write.get(), F_SETFL, 0);
  (void)::fcntl(err_write.get(), F_SETFL, 0);

  std::vector<std::string> argv{exe};
  argv.insert(argv.end(), args.begin(), args.end());
  const pid_t pid = RINGLOAD_TRY(bench::spawn_child(argv, out_write.get(), err_write.get(), cgroup));
  out_write = UniqueFd();
  err_write = UniqueFd();

  ChildOutput result;
  bool interrupted = false;
  const auto start = std::chrono::steady_clock::now();
  auto last_sample = start - std::chrono::seconds(1);
  const auto sample = [&] {
    const auto now = std::chrono::steady_clock::now();
    if (cgroup == nullptr || now - last_sample < std::chrono::milliseconds(10)) return;
    last_sample = now;
    if (auto file = cgroup->file_bytes()) {
      const auto bytes = static_cast<double>(*file);
      result.cgroup_file_bytes_peak =
          std::isnan(result.cgroup_file_bytes_peak) ? bytes : std::max(result.cgroup_file_bytes_peak, bytes);
    }
  };
  pollfd fds[3] = {{out_read.get(), POLLIN, 0}, {err_read.get(), POLLIN, 0}, {signals.fd(), POLLIN, 0}};
  while (fds[0].fd >= 0 || fds[1].fd >= 0) {
    sample();
    const int ready = ::poll(fds, 3, cgroup != nullptr ? 10 : 100);
    if (ready < 0 && errno != EINTR) break;
    if (fds[0].fd >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) && !drain(fds[0].fd, result.out)) {
      fds[0].fd = -1;
    }
    if (fds[1].fd >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) && !drain(fds[1].fd, result.err)) {
      fds[1].fd = -1;
    }
    if (!interrupted && fds[2].fd >= 0 && (fds[2].revents & POLLIN) && signals.fired()) {
      interrupted = true;
      ::kill(pid, SIGTERM);
      fds[2].fd = -1;
    }
    if (tick) tick(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  int status = 0;
  rusage usage{};
  while (::wait4(pid, &status, 0, &usage) < 0 && errno == EINTR) {
  }
  sample();
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  result.major_faults = static_cast<double>(usage.ru_majflt);
  if (interrupted) return make_error(ErrorKind::cancelled, "interrupted");
  return result;
}

std::string utc_now() {
  const std::time_t now = std::time(nullptr);
  std::tm tm{};
  ::gmtime_r(&now, &tm);
  char text[32];
  return std::strftime(text, sizeof text, "%Y-%m-%dT%H:%M:%SZ", &tm) > 0 ? text : "";
}

struct Options {
  std::string file;
  std::string gen_size;
  std::string format;
  std::vector<std::string> strategies;
  std::vector<std::string> peers;  // bench_peers.hpp: other loaders' rows
  std::string cache = "cold";
  std::uint32_t repeat = 5;
  std::string sink = "null";
  int device = 0;  // --sink cuda: which GPU
  std::string json;
  std::string svg;
  std::string out_dir = ".ringload-bench";
  std::string evict = "auto";
  bench::PressureOptions pressure;
  bool keep = false;
  bool quiet = false;
};

// What is benchmarked: one model file, or a whole checkpoint (its sizes summed over the set).
struct FileInfo {
  std::string format;
  std::uint64_t file_size = 0;
  std::uint64_t tensor_bytes = 0;
  std::uint64_t tensors = 0;
  std::vector<fs::path> files;  // in load order; one for a single model file
  fs::path largest;             // the disk ceilings are measured over it: one file's sequential rate
};

// One (strategy, cache) pair: its runs, or why it could not run.
struct Cell {
  std::string strategy;
  std::string cache;
  std::vector<RunFigures> runs;
  std::vector<std::string> ran_as;  // distinct, in order seen
  std::string failure;              // the child's error; no more runs after it
  std::uint32_t not_evicted = 0;    // cold runs that started with pages still cached
  std::uint32_t not_resident = 0;   // warm runs that started with pages missing

  std::optional<bench::PeerMode> peer;  // set: another loader's row (bench_peers.hpp)
};

// What one bench invocation measures and accumulates; run() drives it.
class Bench {
 public:
  Bench(const Options& options, fs::path file, FileInfo info, SignalGuard& signals, bench::Pressure& pressure,
        std::vector<bench::PeerInstall> peers)
      : opts_(options),
        file_(std::move(file)),
        info_(std::move(info)),
        signals_(signals),
        pressure_(pressure),
        peers_(std::move(peers)) {}

  // kExitOk, kExitFailure (a strategy failed, or an I/O error), kExitInterrupted.
  int run() {
    std::error_code exe_error;
    const fs::path exe = fs::read_symlink("/proc/self/exe", exe_error);
    if (exe_error) return fail(fmt::format("cannot find this executable: {}", exe_error.message()));
    exe_ = exe.string();
    started_utc_ = utc_now();
    load_before_ = bench::load_average();
    machine_ = bench::describe_machine(file_);
    if (!measure_memory_ceilings()) return status_;
    for (const std::string& s : opts_.strategies) {
      for (const std::string& c : caches()) cells_.push_back(Cell{s, c, {}, {}, {}, 0, 0, std::nullopt});
    }
    // Peers' rows after ours, in the same rounds: interleaved under the same protocol.
    if (auto modes = bench::peer_modes(opts_.peers)) {  // check_options vetted the names
      for (const bench::PeerMode& mode : *modes) {
        for (const std::string& c : caches())
          cells_.push_back(Cell{mode.row_name(), c, {}, {}, {}, 0, 0, mode});
      }
    }
    ProgressBar bar("bench", total_work_bytes(), !opts_.quiet);
    bar_ = &bar;
    for (std::uint32_t rep = 1; rep <= opts_.repeat; ++rep) {
      if (!measure_disk_ceilings(rep)) return status_;
      for (Cell& cell : cells_) {
        if (!run_cell(cell, rep)) return status_;
      }
    }
    if (!record_timeline()) return status_;
    bar.finish();
    bar_ = nullptr;
    return finish();
  }

 private:
  [[nodiscard]] std::vector<std::string> caches() const {
    if (opts_.cache == "both") return {"cold", "warm"};
    return {opts_.cache};
  }

  [[nodiscard]] std::uint64_t total_work_bytes() const {
    std::uint64_t units = 0;
    for (const Cell& c : cells_) units += c.cache == "warm" ? 2 : 1;  // warm: pre-read + run
    // + O_DIRECT and mmap-touch ceilings per repeat (over the largest file), + the timeline run
    return (units * opts_.repeat + 2) * info_.file_size + 2 * opts_.repeat * largest_size();
  }

  void advance(std::uint64_t bytes) { show(done_bytes_ += bytes); }
  void show(std::uint64_t bytes) const {
    if (bar_ != nullptr) bar_->update(std::min(bytes, total_work_bytes()));
  }
  // A line per step where no bar is drawn (logs, CI), so a slow bench still shows life.
  void log_step(const std::string& line) const {
    if (!opts_.quiet && ::isatty(STDERR_FILENO) != 1) fmt::print(stderr, "{}\n", line);
  }

  int fail(const std::string& message) {
    if (bar_ != nullptr) bar_->finish();
    fmt::print(stderr, "ringload bench: {}\n", message);
    return status_ = kExitFailure;
  }
  bool fail_error(const Error& e) {
    if (e.kind == ErrorKind::cancelled || signals_.fired()) {
      if (bar_ != nullptr) bar_->finish();
      fmt::print(stderr, "ringload bench: interrupted; temporary files removed\n");
      status_ = kExitInterrupted;
      return false;
    }
    fail(e.to_string());
    return false;
  }
  // False (status_ set) once the user interrupted: checked between steps.
  bool still_running() { return signals_.fired() ? fail_error(make_error(ErrorKind::cancelled, "")) : true; }

  bool measure_memory_ceilings() {
    auto memcpy_rate = bench::memcpy_gb_per_s();
    if (!memcpy_rate) return fail_error(memcpy_rate.error());
    memcpy_gb_per_s_ = *memcpy_rate;
    if (opts_.cache != "cold") {  // warm runs are compared with it
      auto fresh = bench::fresh_memcpy_gb_per_s(info_.largest);
      if (!fresh) return fail_error(fresh.error());
      fresh_memcpy_gb_per_s_ = *fresh;
    }
    if (opts_.sink == "host") {  // host rows' CPU is compared with it
      auto fault = bench::fresh_fault_cpu_s_per_gb(largest_size());
      if (!fault) return fail_error(fault.error());
      fresh_fault_cpu_s_per_gb_ = *fault;
    }
    if (opts_.sink == "cuda") pinned_h2d_gb_per_s_ = bench::pinned_h2d_gb_per_s(opts_.device);
    return true;
  }

  bool evict(std::string_view why) {
    const auto method = opts_.evict == "drop-caches" ? bench::EvictMethod::drop_caches
                        : opts_.evict == "fadvise"   ? bench::EvictMethod::fadvise
                                                     : bench::EvictMethod::automatic;
    auto e = evict_files(method);
    if (!e) return fail_error(e.error());
    if (eviction_method_.empty()) {
      eviction_method_ = e->method;
      if (!e->why_fadvise.empty()) eviction_fallback_ = e->why_fadvise;
    }
    last_residual_pages_ = e->resident_pages;
    // A cold run's residue is counted in its cell (one note per cell); a ceiling's is noted here.
    if (e->resident_pages > 0 && why.find("cold run") == std::string_view::npos) {
      notes_.push_back(fmt::format("{}: {} of {} pages still cached after eviction (mapped elsewhere?)", why,
                                   e->resident_pages, e->total_pages));
    }
    return true;
  }

  bool measure_disk_ceilings(std::uint32_t rep) {
    if (!still_running() || !evict("O_DIRECT ceiling")) return false;
    const std::uint64_t base = done_bytes_;
    auto odirect = bench::odirect_qd32_gb_per_s(info_.largest, [&](std::uint64_t b) { show(base + b); });
    if (!odirect) return fail_error(odirect.error());
    if (odirect->has_value()) odirect_runs_.push_back(**odirect);
    advance(largest_size());
    if (!still_running() || !evict("mmap ceiling")) return false;
    const std::uint64_t base2 = done_bytes_;
    auto touch = bench::mmap_touch_gb_per_s(info_.largest, [&](std::uint64_t b) { show(base2 + b); });
    if (!touch) return fail_error(touch.error());
    mmap_runs_.push_back(*touch);
    advance(largest_size());
    log_step(fmt::format("[{}/{}] ceilings: O_DIRECT QD32 {}, mmap touch {:.2f} GB/s", rep, opts_.repeat,
                         odirect->has_value() ? fmt::format("{:.2f} GB/s", **odirect) : "unsupported",
                         *touch));
    return true;
  }

  // Brings the file into the cell's cache state; false on error or interrupt.
  bool prepare_cache(Cell& cell) {
    if (!still_running()) return false;
    if (cell.cache == "cold") {
      if (!evict(cell.strategy + " cold run")) return false;
      if (last_residual_pages_ > 0) ++cell.not_evicted;
      return true;
    }
    std::uint64_t resident_pages = 0;
    for (const fs::path& f : info_.files) {
      const std::uint64_t base = done_bytes_;
      auto resident = bench::preread_file(f, [&](std::uint64_t b) { show(base + b); });
      if (!resident) return fail_error(resident.error());
      resident_pages += *resident;
      advance(fs::file_size(f));
    }
    if (resident_pages * page_size() < info_.file_size) ++cell.not_resident;
    return true;
  }

  // Evicts every file of the set; the figures are summed. drop_caches empties the whole page cache
  // at once, so the files after the first only need counting (fadvise does that, harmlessly).
  [[nodiscard]] Result<bench::Eviction> evict_files(bench::EvictMethod method) const {
    bench::Eviction all;
    for (const fs::path& f : info_.files) {
      const bench::EvictMethod m =
          all.method == "drop_caches" || (!all.method.empty() && method == bench::EvictMethod::automatic)
              ? bench::EvictMethod::fadvise
              : method;
      const bench::Eviction e = RINGLOAD_TRY(bench::evict_file(f, m));
      if (all.method.empty()) {
        all.method = e.method;
        all.why_fadvise = e.why_fadvise;
      }
      all.resident_pages += e.resident_pages;
      all.total_pages += e.total_pages;
    }
    return all;
  }

  // Pages of the whole set cached now.
  [[nodiscard]] Result<FileCacheStat> cache_stat() const {
    FileCacheStat all{};
    for (const fs::path& f : info_.files) {
      const FileCacheStat one = RINGLOAD_TRY(file_cache_stat(f));
      all.file_bytes += one.file_bytes;
      all.resident_bytes += one.resident_bytes;
      all.resident_pages += one.resident_pages;
      all.total_pages += one.total_pages;
      all.method = one.method;
    }
    return all;
  }

  [[nodiscard]] std::uint64_t largest_size() const {
    std::error_code ec;
    const auto size = fs::file_size(info_.largest, ec);
    return ec ? 0 : size;
  }

  [[nodiscard]] std::vector<std::string> child_args(const Cell& cell, const std::string& trace) const {
    std::vector<std::string> args{"load", "-q", "--json", "--strategy", cell.strategy, "--sink", opts_.sink,
                                  "--hold",
                                  // The traced run only draws the timeline: nothing to hold for.
                                  fmt::format("{}", trace.empty() ? pressure_.hold_s() : 0.0),
                                  "--zram-device", pressure_.zram_sysfs_dir().string()};
    if (opts_.sink == "cuda") args.insert(args.end(), {"--device", std::to_string(opts_.device)});
    if (!trace.empty()) {
      args.emplace_back("--trace");
      args.push_back(trace);
    }
    args.push_back(file_.string());
    return args;
  }

  // One child run of the cell; nullopt when the child failed (recorded in the cell) or on a
  // bench error (status_ set).
  std::optional<bench::ChildReport> run_once(Cell& cell, const std::string& trace) {
    // Expected progress while the child runs: its last throughput, else the disk's.
    const double expect_gb_per_s = !cell.runs.empty()    ? cell.runs.back().gb_per_s
                                   : !mmap_runs_.empty() ? std::max(mmap_runs_.back(), 0.1)
                                                         : 1.0;
    const std::uint64_t base = done_bytes_;
    const auto tick = [&](double seconds) {
      const double guess =
          std::min(0.95 * static_cast<double>(info_.file_size), seconds * expect_gb_per_s * 1e9);
      show(base + static_cast<std::uint64_t>(guess));
    };
    auto cgroup = pressure_.next_run_cgroup();
    if (!cgroup) {
      fail_error(cgroup.error());
      return std::nullopt;
    }
    const bench::RunCgroup* run_cgroup = cgroup->has_value() ? &**cgroup : nullptr;
    const auto zram_before = zram_stat(pressure_.zram_sysfs_dir());
    const bench::PeerInstall* peer = cell.peer ? find_peer(cell.peer->peer) : nullptr;
    const bench::PeerCommand peer_run =
        peer != nullptr ? bench::peer_command(*peer, *cell.peer, file_) : bench::PeerCommand{};
    auto child = peer != nullptr ? run_child(peer_run.exe, peer_run.args, signals_, tick, run_cgroup)
                                 : run_child(exe_, child_args(cell, trace), signals_, tick, run_cgroup);
    const auto zram_after = zram_stat(pressure_.zram_sysfs_dir());
    if (!child) {
      fail_error(child.error());
      return std::nullopt;
    }
    advance(info_.file_size);
    std::optional<MemoryCgroupStat> cgroup_stat;
    if (run_cgroup != nullptr) {
      auto stat = run_cgroup->stat();
      if (stat) cgroup_stat = *stat;
    }
    if (child->exit_code != 0 && cgroup_stat && cgroup_stat->oom_kills > 0) {
      bench::ChildReport oom;  // a finding, not a failure: the next run of the cell goes ahead
      oom.figures = bench::oom_killed_run();
      record_pressure(oom.figures, *child, cgroup_stat);
      record_zram(oom.figures, zram_before, zram_after, nullptr);
      return oom;
    }
    if (child->exit_code != 0) {
      cell.failure = fmt::format("exit {}: {}", child->exit_code, last_line(child->err));
      return std::nullopt;
    }
    auto report = peer != nullptr ? peer_report(child->out) : bench::parse_load_report(child->out);
    if (!report) {
      cell.failure = "unreadable report: " + report.error().to_string();
      return std::nullopt;
    }
    record_pressure(report->figures, *child, cgroup_stat);
    const bool held = report->hold && pressure_.hold_s() > 0;
    record_zram(report->figures, zram_before, zram_after, held ? &*report->hold : nullptr);
    if (report->hold) {
      report->figures.swap_bytes = report->hold->swap_bytes;
      report->figures.anon_rss_bytes = report->hold->anon_rss_bytes;
      report->figures.file_resident_pages = report->hold->file_resident_pages;
    }
    for (const std::string& w : report->warnings) {
      std::string note = cell.strategy + ": " + w;
      if (std::find(notes_.begin(), notes_.end(), note) == notes_.end()) notes_.push_back(std::move(note));
    }
    return std::move(report).value();
  }

  // What the bench measured around the child: its major faults, its cgroup's peaks and OOM kills.
  static void record_pressure(RunFigures& f, const ChildOutput& child,
                              const std::optional<MemoryCgroupStat>& cgroup) {
    f.major_faults = child.major_faults;
    f.cgroup_file_bytes_peak = child.cgroup_file_bytes_peak;
    if (cgroup) f.cgroup_peak_bytes = static_cast<double>(cgroup->peak_bytes);
  }

  // zram's mm_stat deltas against the reading before the child: from the child's own reading at
  // the end of its hold (it was still alive), else from ours after it exited.
  void record_zram(RunFigures& f, const Result<ZramStat>& before, const Result<ZramStat>& after,
                   const bench::HoldReport* hold) {
    if (!before || !after || !before->initialised || !after->initialised) return;
    zram_live_ = true;
    const bool at_hold_end = hold != nullptr && hold->zram_initialised;
    const auto delta = [](double now, std::uint64_t then) { return now - static_cast<double>(then); };
    f.zram_orig_delta =
        delta(at_hold_end ? hold->zram_orig_data_size : static_cast<double>(after->orig_data_bytes),
              before->orig_data_bytes);
    f.zram_compr_delta =
        delta(at_hold_end ? hold->zram_compr_data_size : static_cast<double>(after->compr_data_bytes),
              before->compr_data_bytes);
    f.zram_mem_used_delta =
        delta(at_hold_end ? hold->zram_mem_used_total : static_cast<double>(after->mem_used_total_bytes),
              before->mem_used_total_bytes);
  }

  [[nodiscard]] const bench::PeerInstall* find_peer(const std::string& name) const {
    const auto it = std::find_if(peers_.begin(), peers_.end(),
                                 [&](const bench::PeerInstall& p) { return p.peer == name; });
    return it == peers_.end() ? nullptr : &*it;
  }

  // A peer reports what happened inside its process; what it left in the page cache is counted
  // here, after it exited (a ringload child counts it just before exiting: the same pages).
  [[nodiscard]] Result<bench::ChildReport> peer_report(const std::string& out) const {
    bench::ChildReport report = RINGLOAD_TRY(bench::parse_peer_report(out, info_.tensor_bytes));
    const FileCacheStat cached = RINGLOAD_TRY(cache_stat());
    report.figures.file_resident_pages_after = static_cast<double>(cached.resident_pages);
    report.figures.file_total_pages = static_cast<double>(cached.total_pages);
    return report;
  }

  bool run_cell(Cell& cell, std::uint32_t rep) {
    if (!cell.failure.empty()) {  // failed before: skip, but keep the bar honest
      advance(cell.cache == "warm" ? 2 * info_.file_size : info_.file_size);
      return true;
    }
    if (!prepare_cache(cell)) return false;
    auto report = run_once(cell, {});
    if (status_ != kExitOk) return false;
    if (!report) {
      log_step(fmt::format("[{}/{}] {} {}: failed ({})", rep, opts_.repeat, cell.strategy, cell.cache,
                           cell.failure));
      return true;
    }
    cell.runs.push_back(report->figures);
    if (report->figures.oom_killed > 0) {
      log_step(fmt::format("[{}/{}] {} {}: OOM-killed in its {} cgroup", rep, opts_.repeat, cell.strategy,
                           cell.cache, opts_.pressure.memory_limit));
      return true;
    }
    if (std::find(cell.ran_as.begin(), cell.ran_as.end(), report->ran_as) == cell.ran_as.end()) {
      cell.ran_as.push_back(report->ran_as);
    }
    log_step(fmt::format("[{}/{}] {} {}: {:.2f} GB/s in {}", rep, opts_.repeat, cell.strategy, cell.cache,
                         report->figures.gb_per_s, format_seconds(report->figures.wall_s)));
    return true;
  }

  // The cell whose timeline is drawn: the fastest cold one (the fastest warm one without cold).
  // The read and mmap baselines have no pipeline stages and record no spans: they are drawn only
  // when nothing else ran.
  [[nodiscard]] const Cell* best_cell() const {
    const Cell* best = nullptr;
    double best_rate = -1;
    for (const auto& [want_cold, want_pipelined] :
         {std::pair{true, true}, std::pair{false, true}, std::pair{true, false}, std::pair{false, false}}) {
      for (const Cell& c : cells_) {
        const bool pipelined = c.strategy != "read" && c.strategy != "mmap";
        if (c.peer || c.runs.empty() || (c.cache == "cold") != want_cold || pipelined != want_pipelined)
          continue;
        const double rate = bench::summarize(c.runs).median.gb_per_s;
        if (rate > best_rate) {
          best = &c;
          best_rate = rate;
        }
      }
      if (best != nullptr) return best;
    }
    return nullptr;
  }

  // One extra run of the best cell with --trace; its spans become the document's timeline.
  bool record_timeline() {
    const Cell* best = best_cell();
    if (best == nullptr) return true;
    Cell probe = *best;  // failures and counters of this extra run stay out of the results
    timeline_ = Json{{"strategy", best->strategy}, {"cache", best->cache}, {"spans", Json::array()}};
    const fs::path trace =
        fs::temp_directory_path() / fmt::format("ringload-bench-{}.trace.json", ::getpid());
    const TempFile trace_guard(trace, false);
    if (!prepare_cache(probe)) return false;
    const auto report = run_once(probe, trace.string());
    if (status_ != kExitOk) return false;
    if (!report) {
      notes_.push_back("timeline run failed: " + probe.failure);
      return true;
    }
    std::ifstream in(trace);
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    auto spans = bench::parse_trace_spans(text);
    if (!spans) {
      notes_.push_back("timeline trace unreadable: " + spans.error().to_string());
      return true;
    }
    timeline_["spans"] = bench::spans_json(*spans);
    return true;
  }

  // A ceiling is what the device can do: interference (other processes, a previous run's
  // leftovers) only ever lowers a run, so the best run is the estimate, not the median.
  static double best_of(const std::vector<double>& runs) {
    return runs.empty() ? 0.0 : *std::max_element(runs.begin(), runs.end());
  }
  static std::string range_text(const std::vector<double>& runs) {
    if (runs.empty()) return "-";
    return fmt::format("{:.2f}-{:.2f} GB/s", *std::min_element(runs.begin(), runs.end()), best_of(runs));
  }
  [[nodiscard]] double disk_gb_per_s() const { return std::max(best_of(odirect_runs_), best_of(mmap_runs_)); }
  // What a cell's throughput is a fraction of. A GPU sink cannot beat pinned host-to-device copies.
  [[nodiscard]] double ceiling_for(const std::string& cache) const {
    if (cache == "cold") {
      return pinned_h2d_gb_per_s_ ? std::min(disk_gb_per_s(), *pinned_h2d_gb_per_s_) : disk_gb_per_s();
    }
    if (pinned_h2d_gb_per_s_) return *pinned_h2d_gb_per_s_;
    // A host sink fills fresh memory, whose first touch every load pays.
    return opts_.sink == "host" && fresh_memcpy_gb_per_s_ > 0 ? fresh_memcpy_gb_per_s_ : memcpy_gb_per_s_;
  }

  [[nodiscard]] const Cell* find_cell(const std::string& strategy, const std::string& cache) const {
    for (const Cell& c : cells_) {
      if (c.strategy == strategy && c.cache == cache && !c.runs.empty()) return &c;
    }
    return nullptr;
  }

  [[nodiscard]] Json result_json(const Cell& cell) const {
    const bench::Summary s = bench::summarize(cell.runs);
    Json runs = Json::array();
    for (const RunFigures& r : cell.runs) runs.push_back(bench::run_json(r));
    std::string ran_as;
    for (const std::string& a : cell.ran_as) ran_as += (ran_as.empty() ? "" : "/") + a;
    const double ceiling = ceiling_for(cell.cache);
    Json j{{"strategy", cell.strategy}};
    if (cell.peer) j["peer"] = true;
    j.update(Json{
        {"ran_as", ran_as},
        {"cache", cell.cache},
        {"runs", std::move(runs)},
        {"median", bench::run_json(s.median)},
        {"min", bench::run_json(s.min)},
        {"max", bench::run_json(s.max)},
        {"fraction_of_ceiling", ceiling > 0 && s.median.gb_per_s >= 0 ? s.median.gb_per_s / ceiling : 0.0}});
    for (const auto& [key, baseline] : {std::pair{"x_read", "read"}, std::pair{"x_mmap", "mmap"}}) {
      const Cell* base = find_cell(baseline, cell.cache);
      const double base_wall = base ? bench::summarize(base->runs).median.wall_s : bench::kNotMeasured;
      // NaN (an OOM-killed baseline or cell) is not > 0: no ratio.
      j[key] = base_wall > 0 && s.median.wall_s > 0 ? Json(base_wall / s.median.wall_s) : Json(nullptr);
    }
    if (cell.peer && !cell.failure.empty()) j["failure"] = cell.failure;
    return j;
  }

  // A peer that never ran still gets its row, saying why (bench/BENCH_JSON.md).
  [[nodiscard]] static Json failed_peer_json(const Cell& cell) {
    return Json{{"strategy", cell.strategy},
                {"peer", true},
                {"ran_as", cell.strategy},
                {"cache", cell.cache},
                {"runs", Json::array()},
                {"median", nullptr},
                {"min", nullptr},
                {"max", nullptr},
                {"fraction_of_ceiling", nullptr},
                {"x_read", nullptr},
                {"x_mmap", nullptr},
                {"failure", cell.failure}};
  }

  // A checkpoint adds "files" (its paths in load order); one model file keeps the five keys.
  [[nodiscard]] Json file_json() const {
    Json file{{"path", file_.string()},
              {"format", info_.format},
              {"file_size", info_.file_size},
              {"tensor_bytes", info_.tensor_bytes},
              {"tensors", info_.tensors}};
    if (info_.files.size() > 1) {
      Json paths = Json::array();
      for (const fs::path& f : info_.files) paths.push_back(f.string());
      file["files"] = std::move(paths);
    }
    return file;
  }

  [[nodiscard]] Json document() const {
    Json results = Json::array();
    for (const Cell& c : cells_) {
      if (!c.runs.empty()) {
        results.push_back(result_json(c));
      } else if (c.peer) {
        results.push_back(failed_peer_json(c));
      }
    }
    return Json{
        {"ringload_bench", 1},
        {"machine", bench::machine_json(machine_)},
        {"file", file_json()},
        {"sink", opts_.sink},
        {"repeat", opts_.repeat},
        {"started_utc", started_utc_},
        {"ceilings",
         Json{{"odirect_qd32_gb_per_s", best_of(odirect_runs_)},
              {"mmap_touch_gb_per_s", best_of(mmap_runs_)},
              {"disk_gb_per_s", disk_gb_per_s()},
              {"memcpy_gb_per_s", memcpy_gb_per_s_},
              {"fresh_memcpy_gb_per_s",
               fresh_memcpy_gb_per_s_ > 0 ? Json(fresh_memcpy_gb_per_s_) : Json(nullptr)},
              {"fresh_fault_cpu_s_per_gb",
               fresh_fault_cpu_s_per_gb_ > 0 ? Json(fresh_fault_cpu_s_per_gb_) : Json(nullptr)},
              {"pinned_h2d_gb_per_s", pinned_h2d_gb_per_s_ ? Json(*pinned_h2d_gb_per_s_) : Json(nullptr)}}},
        {"results", std::move(results)},
        {"timeline",
         timeline_.is_null() ? Json{{"strategy", ""}, {"cache", ""}, {"spans", Json::array()}} : timeline_},
        {"pressure", pressure_.json()},
    };
  }

  [[nodiscard]] std::vector<std::string> final_notes() const {
    std::vector<std::string> notes;
    if (eviction_method_ == "drop_caches") {
      notes.emplace_back("cold runs: page cache dropped (drop_caches, then POSIX_FADV_DONTNEED) before each");
    } else if (!eviction_method_.empty()) {
      notes.push_back("cold runs: file evicted with POSIX_FADV_DONTNEED before each" +
                      (eviction_fallback_.empty()
                           ? std::string()
                           : " (drop_caches not writable: " + eviction_fallback_ + ")"));
    }
    notes.push_back(fmt::format("ceilings: best of {} runs each; O_DIRECT {}, mmap touch {}",
                                mmap_runs_.size(), range_text(odirect_runs_), range_text(mmap_runs_)));
    if (odirect_runs_.empty()) {
      notes.emplace_back(
          "no O_DIRECT QD32 ceiling: the file system refuses O_DIRECT, or io_uring is unavailable here");
    }
    for (const Cell& c : cells_) {
      if (c.not_evicted > 0) {
        notes.push_back(
            fmt::format("{} cold: {} run(s) started with file pages still cached: not really cold",
                        c.strategy, c.not_evicted));
      }
      if (c.not_resident > 0) {
        notes.push_back(
            fmt::format("{} warm: {} run(s) started without the whole file cached (memory pressure?)",
                        c.strategy, c.not_resident));
      }
      if (!c.failure.empty())
        notes.push_back(fmt::format("{} {} FAILED: {}", c.strategy, c.cache, c.failure));
    }
    for (const bench::PeerInstall& p : peers_) notes.push_back(bench::peer_note(p));
    if (!peers_.empty() && opts_.sink != "host") {
      notes.push_back(
          fmt::format("peers keep the weights in host memory, ringload's rows here with --sink {} "
                      "do not: compare them with --sink host",
                      opts_.sink));
    }
    if (!zram_live_)
      notes.emplace_back("zram: not live here (no initialised /sys/block/zram0): no zram column");
    if (opts_.sink == "cuda" && !pinned_h2d_gb_per_s_)
      notes.emplace_back("pinned H2D ceiling: no CUDA device");
    notes.push_back(fmt::format("load average before: {}, after: {} ({} cores)", load_before_,
                                bench::load_average(), machine_.cores));
    notes.insert(notes.end(), notes_.begin(), notes_.end());
    return notes;
  }

  int finish() {
    const Json doc = document();
    const std::string table = bench::format_table(doc, final_notes());
    fmt::print(opts_.json == "-" ? stderr : stdout, "{}", table);
    if (!opts_.json.empty()) {
      const std::string text = dump_json(doc, 2) + "\n";
      if (opts_.json == "-") {
        fmt::print("{}", text);
      } else if (!write_text(opts_.json, text)) {
        return fail(fmt::format("cannot write the JSON to {}", opts_.json));
      }
    }
    if (!opts_.svg.empty() && !write_text(opts_.svg, render_bench_svg(doc))) {
      return fail(fmt::format("cannot write the SVG to {}", opts_.svg));
    }
    // A failing peer is a row that says why, not a failed bench.
    const bool any_failed = std::any_of(cells_.begin(), cells_.end(),
                                        [](const Cell& c) { return !c.peer && !c.failure.empty(); });
    if (any_failed) {
      fmt::print(stderr,
                 "ringload bench: a strategy failed (see the notes); leave it out with --strategies\n");
      return kExitFailure;
    }
    return kExitOk;
  }

  static bool write_text(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out << text;
    out.close();
    return static_cast<bool>(out);
  }

  const Options& opts_;
  fs::path file_;
  FileInfo info_;
  SignalGuard& signals_;
  bench::Pressure& pressure_;
  std::string exe_;
  std::string started_utc_;
  std::string load_before_;
  bench::MachineInfo machine_;
  double memcpy_gb_per_s_ = 0;
  double fresh_memcpy_gb_per_s_ = 0;     // 0: not measured (cold only)
  double fresh_fault_cpu_s_per_gb_ = 0;  // 0: not measured (not a host sink)
  std::optional<double> pinned_h2d_gb_per_s_;
  std::vector<double> odirect_runs_;
  std::vector<double> mmap_runs_;
  std::vector<Cell> cells_;
  std::vector<bench::PeerInstall> peers_;
  Json timeline_;
  std::vector<std::string> notes_;
  std::string eviction_method_;
  std::string eviction_fallback_;
  std::uint64_t last_residual_pages_ = 0;
  std::uint64_t done_bytes_ = 0;
  ProgressBar* bar_ = nullptr;
  bool zram_live_ = false;
  int status_ = kExitOk;
};

int exit_code_for(const Error& e) {
  return e.kind == ErrorKind::io || e.kind == ErrorKind::out_of_memory ? kExitFailure : kExitBadInput;
}

// The header figures of a model file or a whole checkpoint (any path `load` takes). Opening a
// checkpoint keeps no file mapped: a mapped header page could not be evicted before a cold run.
Result<FileInfo> describe_file(const fs::path& path) {
  const Checkpoint ckpt = RINGLOAD_TRY(Checkpoint::open(path));
  FileInfo info;
  info.format = std::string(to_string(ckpt.files().front().format));
  std::uint64_t largest = 0;
  for (const CheckpointFile& f : ckpt.files()) {
    info.file_size += f.file_size;
    info.files.emplace_back(f.path);
    if (f.file_size > largest || info.largest.empty()) {
      largest = f.file_size;
      info.largest = f.path;
    }
  }
  info.tensors = ckpt.tensors().size();
  for (const TensorInfo& t : ckpt.tensors()) info.tensor_bytes += t.size;
  return info;
}

// Checks the options that CLI11 cannot; returns an error message, empty when fine.
std::string check_options(const Options& o) {
  if (o.file.empty() == o.gen_size.empty()) return "give either FILE or --gen SIZE --format F (not both)";
  if (!o.gen_size.empty() && o.format.empty()) return "--gen needs --format apr|safetensors|gguf";
  if (o.gen_size.empty() && !o.format.empty()) return "--format applies to --gen only";
  for (std::size_t i = 0; i < o.strategies.size(); ++i) {
    if (std::find(o.strategies.begin(), o.strategies.begin() + static_cast<std::ptrdiff_t>(i),
                  o.strategies[i]) != o.strategies.begin() + static_cast<std::ptrdiff_t>(i)) {
      return fmt::format("--strategies names '{}' twice", o.strategies[i]);
    }
  }
  if (o.json == "-" && o.svg == "-") return "--svg needs a file name";
  if (auto modes = bench::peer_modes(o.peers); !modes) return modes.error().message;
  return bench::check_pressure_options(o.pressure);
}

int run_bench(const Options& opts) {
  if (const std::string problem = check_options(opts); !problem.empty()) {
    fmt::print(stderr, "ringload bench: {}\n", problem);
    return kExitBadInput;
  }
  // Peers are installed (npm ci, on first use) before anything runs or is generated: a missing npm
  // is one line and exit 2, not a failure after minutes of benchmarking.
  std::vector<bench::PeerInstall> peers;
  for (const std::string& peer : opts.peers) {
    std::error_code exe_error;
    const fs::path exe = fs::read_symlink("/proc/self/exe", exe_error);
    auto install = bench::ensure_peer_installed(peer, exe);
    if (!install) {
      fmt::print(stderr, "ringload bench: {}\n", install.error().message);
      return kExitBadInput;
    }
    peers.push_back(std::move(install).value());
  }
  SignalGuard signals;
  // Before anything runs: a bench that cannot have its cgroups or zram says so in one line.
  auto pressure = bench::Pressure::prepare(opts.pressure, [&signals] { return signals.fired(); });
  if (!pressure) {
    const Error& e = pressure.error();
    if (e.kind == ErrorKind::cancelled) return kExitInterrupted;
    fmt::print(stderr, "ringload bench: {}\n", e.path.empty() ? e.message : e.to_string());
    const bool cannot_here = e.kind == ErrorKind::permission_denied ||
                             e.kind == ErrorKind::unsupported_feature || e.kind == ErrorKind::not_found;
    return cannot_here ? kExitBadInput : kExitFailure;
  }
  fs::path file = opts.file;
  // Declared in this order so the file goes before its directory (removed only if we made it
  // and it is empty).
  std::optional<TempFile> made_dir;
  std::optional<TempFile> generated;
  if (!opts.gen_size.empty()) {
    const auto size = parse_size(opts.gen_size);
    if (!size || *size == 0) {
      fmt::print(stderr, "ringload bench: --gen '{}' is not a size (try 64MiB, 2GiB)\n", opts.gen_size);
      return kExitBadInput;
    }
    std::error_code ec;
    if (fs::create_directories(opts.out_dir, ec)) made_dir.emplace(opts.out_dir, opts.keep);
    if (ec) {
      fmt::print(stderr, "ringload bench: cannot create {}: {}\n", opts.out_dir, ec.message());
      return kExitFailure;
    }
    file = fs::path(opts.out_dir) / fmt::format("bench-{}.{}", ::getpid(), opts.format);
    gen::GenOptions g;
    g.format = opts.format == "apr"    ? Format::apr
               : opts.format == "gguf" ? Format::gguf
                                       : Format::safetensors;
    g.target_bytes = *size;
    ProgressBar bar("gen", g.target_bytes, !opts.quiet);
    g.progress = [&bar](std::uint64_t done, std::uint64_t total) { bar.update(done, total); };
    generated.emplace(file, opts.keep);
    auto written = gen::generate(file, g);
    bar.finish();
    if (!written) {
      fmt::print(stderr, "ringload bench: {}\n", written.error().to_string());
      return written.error().kind == ErrorKind::invalid_argument ? kExitBadInput : kExitFailure;
    }
    if (signals.fired()) {
      fmt::print(stderr, "ringload bench: interrupted; temporary files removed\n");
      return kExitInterrupted;
    }
    if (opts.keep && !opts.quiet) fmt::print(stderr, "ringload bench: keeping {}\n", file.string());
  }
  auto info = describe_file(file);
  if (!info) {
    fmt::print(stderr, "ringload bench: {}\n", info.error().to_string());
    return exit_code_for(info.error());
  }
  if (info->files.size() > 1 && !opts.peers.empty()) {
    fmt::print(stderr, "ringload bench: {} is a checkpoint of {} files; --peers compare one model file\n",
               file.string(), info->files.size());
    return kExitBadInput;
  }
  Bench bench(opts, file, *info, signals, *pressure, std::move(peers));
  const int status = bench.run();
  if (auto restored = pressure->restore(); !restored) {
    fmt::print(stderr, "ringload bench: zram not fully restored: {}\n", restored.error().to_string());
    return status == kExitOk ? kExitFailure : status;
  }
  return status;
}

}  // namespace

std::function<int()> add_bench(CLI::App& app) {
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "bench",
      "Measure every loading strategy side by side on one file. Each run is a fresh child process\n"
      "(`ringload load --json`), strategies interleaved, --repeat times; cold runs start with the\n"
      "file evicted from the page cache (verified), warm runs with it read in once. In the same run\n"
      "our own plain readers measure the ceilings, best of the repeats: the disk (the faster of an\n"
      "O_DIRECT read at queue depth 32 and an mmap touch of one byte per page) and single-thread\n"
      "memcpy. Per strategy: median wall time and GB/s with min-max, the fraction of the ceiling\n"
      "(disk when cold, memcpy when warm; with --sink cuda also capped by pinned host-to-device\n"
      "bandwidth), the ratio to the read and mmap baselines, time to first tensor, CPU-s/GB, peak\n"
      "RSS, and the anonymous memory and page cache left behind. One extra, traced run of the\n"
      "fastest strategy gives the read/copy/release timeline (--json, --svg).\n"
      "Under memory pressure (root): --memory-limit runs each child in a fresh memory cgroup with that\n"
      "limit, as a container would (OOM kills are reported, not failures); --zram sets up zram swap for\n"
      "the bench and restores exactly what was there after it; --hold keeps each child alive with what\n"
      "a service using its strategy keeps (read: its heap copy) and measures swap and zram at the end.\n"
      "Examples:\n"
      "  ringload bench --gen 8GiB --format safetensors --repeat 5 --json out.json --svg out.svg\n"
      "  ringload bench --strategies read,mmap,auto --cache both model.gguf\n"
      "  ringload bench --gen 4GiB --format safetensors --memory-limit 1GiB --zram 4GiB --hold 20 \\\n"
      "      --strategies read,mmap,mmap-pipelined,uring-direct,auto --repeat 3 --svg pressure.svg\n"

      "  ringload bench --peers llama.cpp --sink host --cache both model.gguf");
  sub->add_option(
      "file", opts->file,
      "Model file or whole checkpoint to load (a directory, an *.index.json, any GGUF split; or --gen)");
  sub->add_option("--gen", opts->gen_size,
                  "Generate a SIZE file (64MiB, 2GiB, ...) in --out-dir to bench on");
  sub->add_option("--format", opts->format, "With --gen: apr | safetensors | gguf")
      ->check(CLI::IsMember({"apr", "safetensors", "gguf"}));
  std::vector<std::string> names;
  for (Strategy s : all_strategies()) names.emplace_back(to_string(s));
  opts->strategies = names;
  sub->add_option("--strategies", opts->strategies, "Comma-separated strategies, in run order (default: all)")
      ->delimiter(',')
      ->allow_extra_args(false)  // "--strategies a,b FILE": FILE is not a third strategy
      ->check(CLI::IsMember(names));
  std::vector<std::string> peer_names(bench::known_peers().begin(), bench::known_peers().end());
  sub->add_option("--peers", opts->peers,
                  "Comma-separated other loaders to run beside ours, same protocol and columns: llama.cpp "
                  "(its modes no-mmap, direct-io, mmap; node-llama-cpp, installed with npm ci on first "
                  "use). Compare with --sink host: the same end state, weights in host memory")
      ->delimiter(',')
      ->allow_extra_args(false)
      ->check(CLI::IsMember(peer_names));
  sub->add_option("--cache", opts->cache, "cold | warm | both")
      ->check(CLI::IsMember({"cold", "warm", "both"}))
      ->capture_default_str();
  sub->add_option("--repeat", opts->repeat, "Runs per strategy and cache")
      ->check(CLI::Range(1U, 1000U))
      ->capture_default_str();
  CLI::Option* sink = sub->add_option("--sink", opts->sink,
                                      "null (read every byte, keep none) | host | cuda (default: null; host "
                                      "with --peers)")
                          ->check(CLI::IsMember({"null", "host", "cuda"}))
                          ->capture_default_str();
  sub->add_option("--device", opts->device, "With --sink cuda: the GPU to load into (and measure H2D on)")
      ->check(CLI::Range(0, 1023))
      ->capture_default_str();
  sub->add_option("--json", opts->json, "Write the result document (bench/BENCH_JSON.md) to F ('-': stdout)");
  sub->add_option("--svg", opts->svg, "Draw the result as an SVG into F");
  sub->add_option("--out-dir", opts->out_dir, "Where --gen writes its temporary file")->capture_default_str();
  sub->add_flag("--keep", opts->keep, "Keep the --gen file");
  sub->add_option("--evict", opts->evict,
                  "How cold runs evict the file: auto (drop_caches where permitted, else fadvise) | "
                  "drop-caches | fadvise (this file only: kinder to a shared machine)")
      ->check(CLI::IsMember({"auto", "drop-caches", "fadvise"}))
      ->capture_default_str();
  sub->add_option("--memory-limit", opts->pressure.memory_limit,
                  "Run each child in a fresh memory cgroup under the bench's own, limited to SIZE (cgroup v2 "
                  "memory.max, v1 memory.limit_in_bytes), removed after the run; 'max': no limit, only the "
                  "cgroup figures. Needs root (or a delegated cgroup)");
  sub->add_option(
      "--zram", opts->pressure.zram,
      "Swap on zram of SIZE (lz4 where available) for the bench's duration, on zram0 if unused, "
      "else a hot-added device; swap, disksize and comp_algorithm restored after, also on Ctrl-C. "
      "Needs root and the zram module");
  sub->add_option("--hold", opts->pressure.hold_s,
                  "After its load each child stays alive SECONDS keeping what a service using its strategy "
                  "keeps (read: the heap copy; mmap: the mapping; the others: the sink's destinations), then "
                  "reports swap, anonymous RSS, zram and page cache");
  sub->add_flag("-q,--quiet", opts->quiet, "No progress bar or per-run lines");

  return [opts, sink]() {
    // A peer keeps the weights in host memory: ours must end the same way to be compared.
    if (!opts->peers.empty() && sink->count() == 0) opts->sink = "host";
    return run_bench(*opts);
  };
}

}  // namespace ringload::cli
