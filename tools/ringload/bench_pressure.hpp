// `ringload bench --memory-limit SIZE --zram SIZE --hold SECONDS`: the bench under memory pressure.
// Each child run gets a fresh memory cgroup (with that limit) under the bench's own; zram swap is
// set up for the bench's duration and put back exactly as it was; each child holds what a service
// using its strategy keeps for SECONDS before it is measured. The "pressure" object of the JSON
// and the memory-pressure table come from here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <utility>

#include <nlohmann/json.hpp>

#include "bench_cgroup.hpp"
#include "bench_zram.hpp"
#include "ringload/error.hpp"

namespace ringload::cli::bench {

struct PressureOptions {
  std::string memory_limit;  // "": none; "max": a cgroup per run that only measures; else a SIZE
  std::string zram;          // "": none; else a SIZE
  double hold_s = 0;
};

// Why the options cannot work as given (not a size...), "" when they can. No system access.
[[nodiscard]] std::string check_pressure_options(const PressureOptions& options);

// Owner: the bench, for its whole run. Destroying it puts zram back (RunCgroups remove
// themselves); the bench's signal path ends the run through the ordinary returns, so both happen
// on Ctrl-C too.
class Pressure {
 public:
  // Checks root / the memory controller / zram (errors: unsupported_feature, permission_denied:
  // the bench prints the message and exits 2), then sets zram up. `interrupted` is asked while
  // waiting for zram that another ringload bench holds.
  static Result<Pressure> prepare(const PressureOptions& options, const std::function<bool()>& interrupted);

  // A fresh cgroup for the next child, or nullopt without --memory-limit.
  [[nodiscard]] Result<std::optional<RunCgroup>> next_run_cgroup();
  // Where zram figures come from: the bench's own zram device, else zram0.
  [[nodiscard]] std::filesystem::path zram_sysfs_dir() const;
  [[nodiscard]] double hold_s() const noexcept { return hold_s_; }
  [[nodiscard]] bool cgroups() const noexcept { return parent_.has_value(); }
  // Puts zram back now, reporting what failed (the destructor would too, silently).
  [[nodiscard]] Result<void> restore();

  // The document's "pressure" object (bench/BENCH_JSON.md).
  [[nodiscard]] nlohmann::ordered_json json() const;

 private:
  std::optional<MemoryCgroupPath> parent_;
  std::optional<std::uint64_t> limit_bytes_;
  std::optional<ZramSwap> zram_;
  double hold_s_ = 0;
  std::uint32_t runs_ = 0;
};

// (OOM-killed runs, all runs) of one result object.
[[nodiscard]] std::pair<std::size_t, std::size_t> oom_count(const nlohmann::ordered_json& result);

// The memory-pressure table of a finished document, "" when it measured no pressure.
[[nodiscard]] std::string pressure_table(const nlohmann::ordered_json& doc);

}  // namespace ringload::cli::bench
