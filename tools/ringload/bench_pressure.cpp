#include "bench_pressure.hpp"

#include <unistd.h>

#include <cmath>

#include <fmt/format.h>

#include "units.hpp"

namespace ringload::cli::bench {
namespace {

using Json = nlohmann::ordered_json;

std::optional<double> number_at(const Json& object, const char* key) {
  if (!object.is_object()) return std::nullopt;
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

const Json& member(const Json& object, const char* key) {
  static const Json kNull;
  if (!object.is_object()) return kNull;
  const auto it = object.find(key);
  return it == object.end() ? kNull : *it;
}

std::string bytes_text(std::optional<double> v, bool signed_delta = false) {
  if (!v) return "-";
  std::string text = format_bytes(static_cast<std::uint64_t>(std::abs(*v)));
  if (!signed_delta) return text;
  return (*v < 0 ? "-" : "+") + text;
}

}  // namespace

std::string check_pressure_options(const PressureOptions& o) {
  if (!o.memory_limit.empty() && o.memory_limit != "max") {
    const auto limit = parse_size(o.memory_limit);
    if (!limit || *limit < (4ULL << 20))
      return fmt::format("--memory-limit '{}' is not a size of at least 4MiB (try 1GiB) or 'max'",
                         o.memory_limit);
  }
  if (!o.zram.empty()) {
    const auto size = parse_size(o.zram);
    if (!size || *size < (1ULL << 20))
      return fmt::format("--zram '{}' is not a size of at least 1MiB (try 8GiB)", o.zram);
  }
  if (!(o.hold_s >= 0) || o.hold_s > 86400) return "--hold takes 0 to 86400 seconds";
  return {};
}

Result<Pressure> Pressure::prepare(const PressureOptions& options, const std::function<bool()>& interrupted) {
  Pressure p;
  p.hold_s_ = options.hold_s;
  if (!options.zram.empty()) {
    // Both checks before anything changes: a bench that cannot have zram must not set up cgroups.
    if (const std::string why = zram_unavailable_reason(); !why.empty())
      return make_error(ErrorKind::permission_denied, why);
  }
  if (!options.memory_limit.empty()) {
    p.parent_ = RINGLOAD_TRY(cgroup_parent_for_runs());
    if (options.memory_limit != "max") p.limit_bytes_ = parse_size(options.memory_limit);
    (void)remove_stale_run_cgroups(*p.parent_);
  }
  if (!options.zram.empty()) {
    ZramSwapOptions z;
    z.disksize_bytes = parse_size(options.zram).value_or(0);
    z.interrupted = interrupted;
    p.zram_.emplace(RINGLOAD_TRY(ZramSwap::create(z)));
  }
  return p;
}

Result<std::optional<RunCgroup>> Pressure::next_run_cgroup() {
  if (!parent_) return std::optional<RunCgroup>{};
  const std::string name = fmt::format("ringload-bench-{}-{}", ::getpid(), ++runs_);
  return std::optional<RunCgroup>(RINGLOAD_TRY(RunCgroup::create(*parent_, name, limit_bytes_)));
}

std::filesystem::path Pressure::zram_sysfs_dir() const {
  return zram_ ? zram_->sysfs_dir() : std::filesystem::path("/sys/block/zram0");
}

Result<void> Pressure::restore() { return zram_ ? zram_->restore() : Result<void>{}; }

Json Pressure::json() const {
  Json zram(nullptr);
  if (zram_) {
    zram = Json{{"device", zram_->device().string()},
                {"disksize", zram_->disksize_bytes()},
                {"comp_algorithm", zram_->algorithm()},
                {"hot_added", zram_->hot_added()}};
  }
  return Json{{"memory_limit_bytes", limit_bytes_ ? Json(*limit_bytes_) : Json(nullptr)},
              {"cgroup", parent_ ? Json(parent_->version == CgroupVersion::v2 ? "v2" : "v1") : Json(nullptr)},
              {"cgroup_parent", parent_ ? Json(parent_->name) : Json(nullptr)},
              {"zram", std::move(zram)},
              {"hold_s", hold_s_}};
}

std::pair<std::size_t, std::size_t> oom_count(const Json& result) {
  const Json& runs = member(result, "runs");
  if (!runs.is_array()) return {0, 0};
  std::size_t killed = 0;
  for (const Json& run : runs) {
    const Json& oom = member(run, "oom_killed");
    if (oom.is_boolean() && oom.get<bool>()) ++killed;
  }
  return {killed, runs.size()};
}

std::string pressure_table(const Json& doc) {
  const Json& p = member(doc, "pressure");
  const auto limit = number_at(p, "memory_limit_bytes");
  const bool cgroups = member(p, "cgroup").is_string();
  const Json& zram = member(p, "zram");
  const double hold_s = number_at(p, "hold_s").value_or(0);
  if (!cgroups && !zram.is_object() && hold_s <= 0) return {};

  std::string out = "\nmemory pressure:";
  if (cgroups) {
    out += fmt::format(
        " a fresh cgroup ({}) per run, {}", member(p, "cgroup").get<std::string>(),
        limit ? "limit " + format_bytes(static_cast<std::uint64_t>(*limit)) : std::string("no limit"));
  }
  if (zram.is_object()) {
    out += fmt::format(
        "{} zram swap {} {} on {}", cgroups ? ";" : "",
        format_bytes(static_cast<std::uint64_t>(number_at(zram, "disksize").value_or(0))),
        member(zram, "comp_algorithm").is_string() ? member(zram, "comp_algorithm").get<std::string>() : "",
        member(zram, "device").is_string() ? member(zram, "device").get<std::string>() : "");
  } else {
    out += fmt::format("{} no zram swap of the bench's own", cgroups ? ";" : "");
  }
  out += hold_s > 0 ? fmt::format("; each child held for {}\n", format_seconds(hold_s)) : "; no hold\n";
  out += fmt::format("{:<23} {:<5} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>10} {:>10}\n",
                     "strategy", "cache", "OOM", "held anon", "swap", "zram orig", "zram compr", "zram used",
                     "cgroup peak", "cache peak", "maj faults");
  for (const Json& r : member(doc, "results")) {
    const Json& med = member(r, "median");
    std::string name = member(r, "strategy").is_string() ? member(r, "strategy").get<std::string>() : "";
    const std::string ran_as = member(r, "ran_as").is_string() ? member(r, "ran_as").get<std::string>() : "";
    if (!ran_as.empty() && ran_as != name) name += " (" + ran_as + ")";
    const auto [killed, runs] = oom_count(r);
    const auto faults = number_at(med, "major_faults");
    out += fmt::format(
        "{:<23} {:<5} {:>5} {:>10} {:>10} {:>10} {:>10} {:>10} {:>11} {:>10} {:>10}\n", name,
        member(r, "cache").is_string() ? member(r, "cache").get<std::string>() : "",
        fmt::format("{}/{}", killed, runs), bytes_text(number_at(med, "anon_rss_bytes")),
        bytes_text(number_at(med, "swap_bytes")), bytes_text(number_at(med, "zram_orig_delta"), true),
        bytes_text(number_at(med, "zram_compr_delta"), true),
        bytes_text(number_at(med, "zram_mem_used_delta"), true),
        bytes_text(number_at(med, "cgroup_peak_bytes")), bytes_text(number_at(med, "cgroup_file_bytes_peak")),
        faults ? fmt::format("{:.0f}", *faults) : "-");
  }
  out += fmt::format(
      "OOM = runs the cgroup's OOM killer ended (not failures); held anon, swap = the child's RssAnon and "
      "VmSwap {};\nzram orig/compr/used = mm_stat orig_data_size, compr_data_size, mem_used_total {} minus "
      "before the run;\ncgroup peak = the run cgroup's peak usage (anonymous + page cache); cache peak = "
      "page "
      "cache charged to it,\nsampled every 10 ms; maj faults = the child's major page faults. Medians over "
      "the runs that completed.\n",
      hold_s > 0 ? "at the end of the hold" : "right after the load",
      hold_s > 0 ? "at the end of the hold" : "after the child exited");
  return out;
}

}  // namespace ringload::cli::bench
