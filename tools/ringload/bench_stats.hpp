// `ringload bench`'s figures: one run's numbers as a child's `load --json` report gives them, their
// per-field median/min/max, the timeline read back from a Chrome trace, the machine, and the
// terminal table drawn from the finished bench/BENCH_JSON.md document.
#pragma once

#include <array>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringload/error.hpp"

namespace ringload::cli::bench {

using Json = nlohmann::ordered_json;

// A figure this run did not measure (no cgroup, a child that was OOM-killed, a peer that cannot
// give it): null in the JSON, "-" in the table, left out of medians.
inline constexpr double kNotMeasured = std::numeric_limits<double>::quiet_NaN();

// One run: the RUN object of bench/BENCH_JSON.md (GB = 1e9 bytes; memory in bytes).
struct RunFigures {
  double wall_s = 0;
  double gb_per_s = 0;
  double time_to_first_tensor_s = 0;
  double cpu_s_per_gb = 0;
  double peak_rss = 0;
  double anon_rss_after = 0;
  double file_resident_pages_after = 0;
  double file_total_pages = 0;
  double zram_orig_delta = 0;  // zram orig_data_size after − before the child (0 where zram is off)
  // With --hold these four are read at the end of the hold, the child still alive; zram against
  // its mm_stat before the child started.
  double zram_compr_delta = 0;
  double zram_mem_used_delta = 0;
  double swap_bytes = kNotMeasured;      // the child's VmSwap
  double anon_rss_bytes = kNotMeasured;  // the child's RssAnon
  double file_resident_pages = kNotMeasured;
  // --memory-limit: the run's own cgroup.
  double oom_killed = 0;  // 1 or 0; a boolean in the JSON
  double cgroup_peak_bytes = kNotMeasured;
  double cgroup_file_bytes_peak = kNotMeasured;  // page cache charged, sampled every 10 ms
  double major_faults = 0;                       // the child's, from wait4's rusage
};

// The RUN keys in the contract's order, so every per-field operation walks the same list.
inline constexpr std::array<std::pair<const char*, double RunFigures::*>, 18> kRunFields{{
    {"wall_s", &RunFigures::wall_s},
    {"gb_per_s", &RunFigures::gb_per_s},
    {"time_to_first_tensor_s", &RunFigures::time_to_first_tensor_s},
    {"cpu_s_per_gb", &RunFigures::cpu_s_per_gb},
    {"peak_rss", &RunFigures::peak_rss},
    {"anon_rss_after", &RunFigures::anon_rss_after},
    {"file_resident_pages_after", &RunFigures::file_resident_pages_after},
    {"file_total_pages", &RunFigures::file_total_pages},
    {"zram_orig_delta", &RunFigures::zram_orig_delta},
    {"zram_compr_delta", &RunFigures::zram_compr_delta},
    {"zram_mem_used_delta", &RunFigures::zram_mem_used_delta},
    {"swap_bytes", &RunFigures::swap_bytes},
    {"anon_rss_bytes", &RunFigures::anon_rss_bytes},
    {"file_resident_pages", &RunFigures::file_resident_pages},
    {"oom_killed", &RunFigures::oom_killed},
    {"cgroup_peak_bytes", &RunFigures::cgroup_peak_bytes},
    {"cgroup_file_bytes_peak", &RunFigures::cgroup_file_bytes_peak},
    {"major_faults", &RunFigures::major_faults},
}};
// The first kChildFields of kRunFields come from the child's `load --json` report.
inline constexpr std::size_t kChildFields = 8;

// An OOM-killed run: the child reported nothing, the bench measured the rest.
[[nodiscard]] RunFigures oom_killed_run();

// The child's "hold" object (`load --hold`): what it held, measured at the end of the hold.
struct HoldReport {
  double swap_bytes = 0;
  double anon_rss_bytes = 0;
  double file_resident_pages = 0;
  bool zram_initialised = false;
  double zram_orig_data_size = 0;  // absolute: the bench subtracts its reading from before the run
  double zram_compr_data_size = 0;
  double zram_mem_used_total = 0;
};

struct ChildReport {
  RunFigures figures;  // the kChildFields; the rest the parent measures around the child
  std::string ran_as;  // the strategy that ran ("auto" resolved)
  std::vector<std::string> warnings;
  std::optional<HoldReport> hold;
};

// Reads what `ringload load --json` printed. A missing or non-numeric field is malformed_header.
[[nodiscard]] Result<ChildReport> parse_load_report(std::string_view json_text);

[[nodiscard]] Json run_json(const RunFigures& run);

// Each field on its own: `min.gb_per_s` is the slowest run's throughput whichever run that was.
// Over the runs that completed, where any did (the OOM-killed ones measured no throughput);
// unmeasured (NaN) figures are left out, and are NaN in the summary only if no run has them.
struct Summary {
  RunFigures median;
  RunFigures min;
  RunFigures max;
};
[[nodiscard]] Summary summarize(std::span<const RunFigures> runs);
[[nodiscard]] double median_of(std::vector<double> values);  // 0 for none; mean of the middle two

// One span of the timeline: the trace's "X" events (name = stage, ts/dur in µs, args.bytes/slot).
struct Span {
  std::string stage;
  double start_s = 0;
  double end_s = 0;
  std::uint64_t bytes = 0;
  std::uint64_t slot = 0;
};
[[nodiscard]] Result<std::vector<Span>> parse_trace_spans(std::string_view trace_json);
[[nodiscard]] Json spans_json(std::span<const Span> spans);

struct MachineInfo {
  std::string cpu;                 // /proc/cpuinfo "model name"
  unsigned cores = 0;              // online CPUs
  std::uint64_t memory_bytes = 0;  // MemTotal
  std::string kernel;              // uname -r
  std::string filesystem;          // of the file's mount: ext4, xfs, tmpfs, ...
  std::string device;              // the mount's source, with the block device's model where sysfs has it
};
[[nodiscard]] MachineInfo describe_machine(const std::filesystem::path& file);
[[nodiscard]] Json machine_json(const MachineInfo& machine);
[[nodiscard]] std::string load_average();  // "/proc/loadavg"'s first three figures, or ""

// The terminal table of a finished document (bench/BENCH_JSON.md), `notes` printed under it.
[[nodiscard]] std::string format_table(const Json& doc, std::span<const std::string> notes);

}  // namespace ringload::cli::bench
