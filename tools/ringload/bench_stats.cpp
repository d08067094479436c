#include "bench_stats.hpp"

#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/utsname.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <iterator>
#include <optional>
#include <sstream>

#include <fmt/format.h>

#include "base/json.hpp"
#include "bench_pressure.hpp"
#include "units.hpp"

namespace ringload::cli::bench {
namespace {

std::optional<double> number_field(const Json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

std::string string_field(const Json& object, const char* key) {
  const auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

// object[key], or an empty object: const operator[] on a missing key is undefined behaviour.
const Json& member(const Json& object, const char* key) {
  static const Json kEmpty = Json::object();
  const auto it = object.find(key);
  return it == object.end() ? kEmpty : *it;
}

std::string read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return {};
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string trim(std::string_view text) {
  const auto begin = text.find_first_not_of(" \t\n");
  if (begin == std::string_view::npos) return {};
  const auto end = text.find_last_not_of(" \t\n");
  return std::string(text.substr(begin, end - begin + 1));
}

// The value of the first "key<spaces>: value" line of a /proc file.
std::string proc_field(const std::string& text, std::string_view key) {
  std::istringstream lines(text);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind(key, 0) != 0) continue;
    const auto colon = line.find(':');
    if (colon == std::string::npos || !trim(line.substr(key.size(), colon - key.size())).empty()) continue;
    return trim(std::string_view(line).substr(colon + 1));
  }
  return {};
}

std::string cpu_model() {
  const std::string cpuinfo = read_text("/proc/cpuinfo");
  // x86 says "model name"; some ARM kernels only "Hardware" or nothing useful at all.
  for (const char* key : {"model name", "Hardware", "cpu model", "Processor"}) {
    std::string value = proc_field(cpuinfo, key);
    if (!value.empty()) return value;
  }
  return "unknown";
}

std::uint64_t memory_total_bytes() {
  const std::string value = proc_field(read_text("/proc/meminfo"), "MemTotal");  // "24684092 kB"
  return static_cast<std::uint64_t>(std::strtoull(value.c_str(), nullptr, 10)) * 1024;
}

// statfs magic → name, for when /proc/self/mountinfo has no line for the file's device.
std::string filesystem_from_magic(const std::filesystem::path& file) {
  struct statfs fs {};
  if (::statfs(file.c_str(), &fs) != 0) return "unknown";
  switch (static_cast<unsigned long>(fs.f_type)) {
    case 0xEF53: return "ext4";
    case 0x58465342: return "xfs";
    case 0x9123683E: return "btrfs";
    case 0x01021994: return "tmpfs";
    case 0x794C7630: return "overlay";
    case 0x2FC12FC1: return "zfs";
    case 0x6969: return "nfs";
    case 0xF2F52010: return "f2fs";
    default: return fmt::format("0x{:x}", static_cast<unsigned long>(fs.f_type));
  }
}

// The block device's model from sysfs (a partition's model lives on its parent), or "".
std::string block_device_model(unsigned major_id, unsigned minor_id) {
  std::error_code ec;
  const auto dev = std::filesystem::canonical(fmt::format("/sys/dev/block/{}:{}", major_id, minor_id), ec);
  if (ec) return {};
  for (const auto& dir : {dev, dev.parent_path()}) {
    std::string model = trim(read_text(dir / "device" / "model"));
    if (!model.empty()) return model;
  }
  return {};
}

}  // namespace

Result<ChildReport> parse_load_report(std::string_view json_text) {
  const Json doc = RINGLOAD_TRY(parse_json(json_text, 0));
  if (!doc.is_object())
    return make_error(ErrorKind::malformed_header, "the load report is not a JSON object", 0);
  ChildReport report;
  for (std::size_t i = 0; i < kChildFields; ++i) {
    const auto& [key, member] = kRunFields[i];
    const auto value = number_field(doc, key);
    if (!value) {
      return make_error(
          ErrorKind::malformed_header,
          fmt::format("the load report has no numeric '{}' (is the child a different ringload?)", key));
    }
    report.figures.*member = *value;
  }
  report.ran_as = string_field(doc, "strategy");
  if (const auto it = doc.find("warnings"); it != doc.end() && it->is_array()) {
    for (const auto& w : *it) {
      if (w.is_string()) report.warnings.push_back(w.get_ref<const std::string&>());
    }
  }
  if (const auto it = doc.find("hold"); it != doc.end() && it->is_object()) {
    HoldReport h;
    for (const auto& [key, member] : {std::pair{"swap_bytes", &HoldReport::swap_bytes},
                                      std::pair{"anon_rss_bytes", &HoldReport::anon_rss_bytes},
                                      std::pair{"file_resident_pages", &HoldReport::file_resident_pages},
                                      std::pair{"zram_orig_data_size", &HoldReport::zram_orig_data_size},
                                      std::pair{"zram_compr_data_size", &HoldReport::zram_compr_data_size},
                                      std::pair{"zram_mem_used_total", &HoldReport::zram_mem_used_total}}) {
      const auto value = number_field(*it, key);
      if (!value)
        return make_error(ErrorKind::malformed_header,
                          fmt::format("the load report's \"hold\" has no numeric '{}'", key));
      h.*member = *value;
    }
    const auto initialised = it->find("zram_initialised");
    h.zram_initialised = initialised != it->end() && initialised->is_boolean() && initialised->get<bool>();
    report.hold = h;
  }
  return report;
}

RunFigures oom_killed_run() {
  RunFigures r;
  for (std::size_t i = 0; i < kChildFields; ++i) r.*kRunFields[i].second = kNotMeasured;
  r.oom_killed = 1;
  return r;
}

Json run_json(const RunFigures& run) {
  Json j = Json::object();
  for (const auto& [key, member] : kRunFields) {
    const double value = run.*member;
    if (member == &RunFigures::oom_killed) {
      j[key] = value > 0;
    } else {
      j[key] = std::isnan(value) ? Json(nullptr) : Json(value);
    }
  }
  return j;
}

double median_of(std::vector<double> values) {
  if (values.empty()) return 0;
  std::sort(values.begin(), values.end());
  const std::size_t mid = values.size() / 2;
  return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

Summary summarize(std::span<const RunFigures> runs) {
  Summary s;
  if (runs.empty()) return s;
  const bool any_completed =
      std::any_of(runs.begin(), runs.end(), [](const RunFigures& r) { return r.oom_killed == 0; });
  for (const auto& [key, member] : kRunFields) {
    std::vector<double> values;
    values.reserve(runs.size());
    for (const RunFigures& r : runs) {
      if ((!any_completed || r.oom_killed == 0) && !std::isnan(r.*member)) values.push_back(r.*member);
    }
    if (values.empty()) {
      s.min.*member = s.max.*member = s.median.*member = kNotMeasured;
      continue;
    }
    s.min.*member = *std::min_element(values.begin(), values.end());
    s.max.*member = *std::max_element(values.begin(), values.end());
    s.median.*member = median_of(std::move(values));
  }
  return s;
}

Result<std::vector<Span>> parse_trace_spans(std::string_view trace_json) {
  const Json doc = RINGLOAD_TRY(parse_json(trace_json, 0));
  const auto events = doc.is_object() ? doc.find("traceEvents") : doc.end();
  if (!doc.is_object() || events == doc.end() || !events->is_array()) {
    return make_error(ErrorKind::malformed_header, "the trace has no \"traceEvents\" array", 0);
  }
  std::vector<Span> spans;
  for (const Json& e : *events) {
    if (!e.is_object() || string_field(e, "ph") != "X") continue;  // metadata ("M") events name lanes
    const auto ts_us = number_field(e, "ts");
    const auto dur_us = number_field(e, "dur");
    if (!ts_us || !dur_us) continue;
    Span s;
    s.stage = string_field(e, "name");
    s.start_s = *ts_us / 1e6;
    s.end_s = (*ts_us + *dur_us) / 1e6;
    if (const auto args = e.find("args"); args != e.end() && args->is_object()) {
      s.bytes = static_cast<std::uint64_t>(number_field(*args, "bytes").value_or(0));
      s.slot = static_cast<std::uint64_t>(number_field(*args, "slot").value_or(0));
    }
    spans.push_back(std::move(s));
  }
  std::stable_sort(spans.begin(), spans.end(),
                   [](const Span& a, const Span& b) { return a.start_s < b.start_s; });
  return spans;
}

Json spans_json(std::span<const Span> spans) {
  Json out = Json::array();
  for (const Span& s : spans) {
    out.push_back(Json{{"stage", s.stage},
                       {"start_s", s.start_s},
                       {"end_s", s.end_s},
                       {"bytes", s.bytes},
                       {"slot", s.slot}});
  }
  return out;
}

MachineInfo describe_machine(const std::filesystem::path& file) {
  MachineInfo m;
  m.cpu = cpu_model();
  const long online = ::sysconf(_SC_NPROCESSORS_ONLN);
  m.cores = online > 0 ? static_cast<unsigned>(online) : 0;
  m.memory_bytes = memory_total_bytes();
  struct utsname uts {};
  m.kernel = ::uname(&uts) == 0 ? uts.release : "unknown";

  struct stat st {};
  if (::stat(file.c_str(), &st) == 0) {
    const unsigned major_id = major(st.st_dev);
    const unsigned minor_id = minor(st.st_dev);
    const std::string wanted = fmt::format("{}:{}", major_id, minor_id);
    // mountinfo: id parent maj:min root mountpoint options [optional...] - fstype source superoptions
    std::istringstream lines(read_text("/proc/self/mountinfo"));
    for (std::string line; std::getline(lines, line);) {
      std::istringstream fields(line);
      std::vector<std::string> f{std::istream_iterator<std::string>(fields),
                                 std::istream_iterator<std::string>()};
      if (f.size() < 3 || f[2] != wanted) continue;
      const auto dash = std::find(f.begin(), f.end(), "-");
      if (dash == f.end() || std::distance(dash, f.end()) < 3) continue;
      m.filesystem = *(dash + 1);
      m.device = *(dash + 2);
      break;
    }
    const std::string model = block_device_model(major_id, minor_id);
    if (!model.empty()) m.device = m.device.empty() ? model : fmt::format("{} ({})", m.device, model);
  }
  if (m.filesystem.empty()) m.filesystem = filesystem_from_magic(file);
  if (m.device.empty()) m.device = "unknown";
  return m;
}

Json machine_json(const MachineInfo& m) {
  return Json{{"cpu", m.cpu},       {"cores", m.cores},           {"memory_bytes", m.memory_bytes},
              {"kernel", m.kernel}, {"filesystem", m.filesystem}, {"device", m.device}};
}

std::string load_average() {
  std::istringstream in(read_text("/proc/loadavg"));
  std::string one, five, fifteen;
  if (!(in >> one >> five >> fifteen)) return {};
  return fmt::format("{} {} {}", one, five, fifteen);
}

namespace {

double num(const Json& object, const char* key) { return number_field(object, key).value_or(0); }

std::string ratio_text(const Json& result, const char* key) {
  const auto value = number_field(result, key);
  return value ? fmt::format("{:.2f}", *value) : "-";
}

std::string header_lines(const Json& doc) {
  const Json& m = member(doc, "machine");
  const Json& f = member(doc, "file");
  const Json& c = member(doc, "ceilings");
  std::string out =
      fmt::format("machine: {}, {} cores, {} RAM, Linux {}, {} on {}\n", string_field(m, "cpu"),
                  num(m, "cores"), format_bytes(static_cast<std::uint64_t>(num(m, "memory_bytes"))),
                  string_field(m, "kernel"), string_field(m, "filesystem"), string_field(m, "device"));
  const std::string files =
      f.contains("files") ? fmt::format(" checkpoint of {} files,", f.at("files").size()) : std::string();
  out += fmt::format("file:    {} ({},{} {}, {} tensors); sink {}, {} repeat{}\n", string_field(f, "path"),
                     string_field(f, "format"), files,
                     format_bytes(static_cast<std::uint64_t>(num(f, "file_size"))), num(f, "tensors"),
                     string_field(doc, "sink"), num(doc, "repeat"), num(doc, "repeat") == 1 ? "" : "s");
  const double odirect = num(c, "odirect_qd32_gb_per_s");
  out += fmt::format(
      "ceiling: disk {:.2f} GB/s (O_DIRECT QD32 4 MiB: {}, mmap touch: {:.2f}), memcpy {:.2f} GB/s",
      num(c, "disk_gb_per_s"), odirect > 0 ? fmt::format("{:.2f}", odirect) : "unsupported",
      num(c, "mmap_touch_gb_per_s"), num(c, "memcpy_gb_per_s"));
  if (const auto fresh = number_field(c, "fresh_memcpy_gb_per_s"))
    out += fmt::format(", into fresh memory {:.2f} GB/s", *fresh);
  if (const auto fault = number_field(c, "fresh_fault_cpu_s_per_gb"))
    out += fmt::format(", first touch of fresh memory {:.2f} CPU-s/GB", *fault);
  if (const auto h2d = number_field(c, "pinned_h2d_gb_per_s"))
    out += fmt::format(", pinned H2D {:.2f} GB/s", *h2d);
  return out + "\n\n";
}

}  // namespace

std::string format_table(const Json& doc, std::span<const std::string> notes) {
  std::string out = header_lines(doc);
  const Json& results = member(doc, "results");
  bool zram_moved = false;
  for (const Json& r : results) {
    for (const char* which : {"min", "max"}) {
      if (num(member(r, which), "zram_orig_delta") != 0) zram_moved = true;
    }
  }
  out += fmt::format("{:<23} {:<5} {:>20} {:>9} {:>5} {:>6} {:>6} {:>9} {:>6} {:>10} {:>10} {:>7}{}\n",
                     "strategy", "cache", "GB/s (min-max)", "wall", "ceil", "x read", "x mmap", "1st tensr",
                     "CPU/GB", "peak RSS", "anon after", "cached", zram_moved ? "     zram +" : "");
  for (const Json& r : results) {
    const Json& med = member(r, "median");
    std::string name = string_field(r, "strategy");
    const std::string ran_as = string_field(r, "ran_as");
    if (!ran_as.empty() && ran_as != name) name += " (" + ran_as + ")";
    // A peer that never ran is a row saying why (bench/BENCH_JSON.md: "failure", no runs).
    if (const std::string failure = string_field(r, "failure"); !failure.empty() && !med.is_object()) {
      out += fmt::format("{:<23} {:<5} FAILED: {}\n", name, string_field(r, "cache"), failure);
      continue;
    }
    const auto [oom_killed, runs] = oom_count(r);
    if (runs > 0 && oom_killed == runs) {  // nothing was loaded: no throughput to show
      out += fmt::format("{:<23} {:<5} {:>20}\n", name, string_field(r, "cache"),
                         fmt::format("OOM-killed {}/{}", oom_killed, runs));
      continue;
    }
    const double ttft = num(med, "time_to_first_tensor_s");
    const double total_pages = num(med, "file_total_pages");
    const double cached_pct =
        total_pages > 0 ? 100.0 * num(med, "file_resident_pages_after") / total_pages : 0;
    out +=
        fmt::format("{:<23} {:<5} {:>20} {:>9} {:>4.0f}% {:>6} {:>6} {:>9} {:>6.2f} {:>10} {:>10} {:>6.1f}%",
                    name, string_field(r, "cache"),
                    fmt::format("{:.2f} ({:.2f}-{:.2f})", num(med, "gb_per_s"),
                                num(member(r, "min"), "gb_per_s"), num(member(r, "max"), "gb_per_s")),
                    format_seconds(num(med, "wall_s")), 100.0 * num(r, "fraction_of_ceiling"),
                    ratio_text(r, "x_read"), ratio_text(r, "x_mmap"), ttft >= 0 ? format_seconds(ttft) : "-",
                    num(med, "cpu_s_per_gb"), format_bytes(static_cast<std::uint64_t>(num(med, "peak_rss"))),
                    format_bytes(static_cast<std::uint64_t>(num(med, "anon_rss_after"))), cached_pct);
    if (zram_moved) {
      const double delta = num(med, "zram_orig_delta");
      out += fmt::format(" {}{:>10}", delta < 0 ? "-" : " ",
                         format_bytes(static_cast<std::uint64_t>(delta < 0 ? -delta : delta)));
    }
    out += "\n";
  }
  out +=
      "\nGB/s = tensor bytes / wall / 1e9 (median, min-max over the runs); ceil = median / disk ceiling "
      "(cold)\n"
      "or memcpy (warm; into fresh memory for the host sink); x read, x mmap = their median wall / this "
      "one's, same cache; CPU/GB = CPU-s per "
      "GB;\n"
      "peak RSS, anon after (anonymous RSS after the load) and cached (file pages left in the page cache)\n"
      "come from the child process that ran the load.\n";
  out += pressure_table(doc);
  for (const std::string& note : notes) out += "note: " + note + "\n";
  return out;
}

}  // namespace ringload::cli::bench
