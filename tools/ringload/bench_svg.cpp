// Draws a `ringload bench --json` document (bench/BENCH_JSON.md) as one self-contained SVG.
//
// The document comes from a file a person may have edited or from an older bench, so every field is
// optional here: a missing or non-finite number is drawn as "—", never as nan/inf or a crash. All
// text from the document is escaped (file paths may hold '<' or '&') and made valid UTF-8.
#include "bench_svg.hpp"

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <iterator>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "base/utf8.hpp"

namespace ringload::cli {
namespace {

using Json = nlohmann::ordered_json;

// ---------------------------------------------------------------------------------------------
// Reading the document without trusting it.

const Json* child(const Json& object, std::string_view key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it == object.end() ? nullptr : &*it;
}

std::optional<double> number(const Json* object, std::string_view key) {
  if (object == nullptr) return std::nullopt;
  const Json* value = child(*object, key);
  if (value == nullptr || !value->is_number()) return std::nullopt;
  const double x = value->get<double>();
  // Beyond ±1e300 scaling (× 4096 pages, × 1.15 headroom) could overflow to inf, and nothing real
  // is that large.
  if (!std::isfinite(x) || std::abs(x) > 1e300) return std::nullopt;
  return x;
}

std::string text(const Json* object, std::string_view key) {
  if (object == nullptr) return {};
  const Json* value = child(*object, key);
  if (value == nullptr || !value->is_string()) return {};
  return value->get_ref<const std::string&>();
}

// One RUN object: only the figures the picture uses.
struct RunFigures {
  std::optional<double> gb_per_s;
  std::optional<double> wall_s;
  std::optional<double> first_tensor_s;
  std::optional<double> cpu_s_per_gb;
  std::optional<double> peak_rss_bytes;
  std::optional<double> anon_after_bytes;
  std::optional<double> cache_after_bytes;  // resident pages × 4 KiB
  std::optional<double> file_bytes_in_pages;
  // Memory pressure (--memory-limit, --zram, --hold).
  std::optional<double> held_anon_bytes;
  std::optional<double> swap_bytes;
  std::optional<double> zram_orig_delta, zram_compr_delta, zram_mem_used_delta;
  std::optional<double> cgroup_peak_bytes;
  std::optional<double> cgroup_file_bytes_peak;
};

constexpr double kPageBytes = 4096.0;

RunFigures read_run(const Json* run) {
  RunFigures f;
  f.gb_per_s = number(run, "gb_per_s");
  f.wall_s = number(run, "wall_s");
  f.first_tensor_s = number(run, "time_to_first_tensor_s");
  f.cpu_s_per_gb = number(run, "cpu_s_per_gb");
  f.peak_rss_bytes = number(run, "peak_rss");
  f.anon_after_bytes = number(run, "anon_rss_after");
  if (auto pages = number(run, "file_resident_pages_after")) f.cache_after_bytes = *pages * kPageBytes;
  if (auto pages = number(run, "file_total_pages")) f.file_bytes_in_pages = *pages * kPageBytes;
  f.held_anon_bytes = number(run, "anon_rss_bytes");
  f.swap_bytes = number(run, "swap_bytes");
  f.zram_orig_delta = number(run, "zram_orig_delta");
  f.zram_compr_delta = number(run, "zram_compr_delta");
  f.zram_mem_used_delta = number(run, "zram_mem_used_delta");
  f.cgroup_peak_bytes = number(run, "cgroup_peak_bytes");
  f.cgroup_file_bytes_peak = number(run, "cgroup_file_bytes_peak");
  return f;
}

struct ResultRow {
  std::string strategy;
  std::string ran_as;
  std::string cache;
  std::size_t run_count = 0;
  std::size_t oom_killed_runs = 0;  // runs whose "oom_killed" is true
  RunFigures median, min, max;
  std::optional<double> fraction_of_ceiling;
  std::optional<double> x_read, x_mmap;
  bool best = false;
  bool peer = false;    // another loader's row (--peers): drawn pale
  std::string failure;  // a peer row that could not run says why
};

struct Span {
  int stage = 0;  // index into kStages
  double start_s = 0, end_s = 0;
  std::int64_t slot = 0;
};

struct Timeline {
  std::string strategy, cache;
  std::vector<Span> spans;
};

// The document's "pressure" object: how the runs were squeezed.
struct Pressure {
  bool any = false;  // a cgroup per run, zram or a hold: the pressure panel is drawn
  std::string cgroup;
  std::optional<double> memory_limit_bytes;
  std::string zram_device, zram_algorithm;
  std::optional<double> zram_disksize;
  std::optional<double> hold_s;
};

struct BenchDoc {
  bool is_bench = false;
  Pressure pressure;
  std::string cpu, kernel, filesystem, device;
  std::optional<double> cores, memory_bytes;
  std::string path, format;
  std::optional<double> file_size, tensor_bytes, tensors;
  std::string sink, started_utc;
  std::optional<double> repeat;
  std::optional<double> odirect_gbps, mmap_touch_gbps, disk_gbps, memcpy_gbps, pinned_h2d_gbps;
  std::vector<ResultRow> rows;
  Timeline timeline;
};

constexpr std::string_view kStages[] = {"read", "copy", "release"};

std::optional<int> stage_index(std::string_view name) {
  for (int i = 0; i < 3; ++i)
    if (kStages[i] == name) return i;
  return std::nullopt;
}

std::vector<ResultRow> read_rows(const Json* results) {
  std::vector<ResultRow> rows;
  if (results == nullptr || !results->is_array()) return rows;
  for (const Json& r : *results) {
    if (!r.is_object()) continue;
    ResultRow row;
    row.strategy = text(&r, "strategy");
    row.ran_as = text(&r, "ran_as");
    row.cache = text(&r, "cache");
    if (const Json* runs = child(r, "runs"); runs != nullptr && runs->is_array()) {
      row.run_count = runs->size();
      for (const Json& run : *runs) {
        const Json* oom = child(run, "oom_killed");
        if (oom != nullptr && oom->is_boolean() && oom->get<bool>()) ++row.oom_killed_runs;
      }
    }
    row.median = read_run(child(r, "median"));
    row.min = read_run(child(r, "min"));
    row.max = read_run(child(r, "max"));
    row.fraction_of_ceiling = number(&r, "fraction_of_ceiling");
    row.x_read = number(&r, "x_read");
    row.x_mmap = number(&r, "x_mmap");
    if (const Json* peer = child(r, "peer"); peer != nullptr && peer->is_boolean())
      row.peer = peer->get<bool>();
    row.failure = text(&r, "failure");
    rows.push_back(std::move(row));
  }
  return rows;
}

// Best = highest median throughput within each cache mode: cold and warm runs are never compared.
void mark_best(std::vector<ResultRow>& rows) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    if (!rows[i].median.gb_per_s) continue;
    bool best = true;
    for (std::size_t j = 0; j < rows.size() && best; ++j) {
      if (j == i || rows[j].cache != rows[i].cache || !rows[j].median.gb_per_s) continue;
      const double a = *rows[i].median.gb_per_s, b = *rows[j].median.gb_per_s;
      if (b > a || (b == a && j < i)) best = false;  // ties: the first in document order
    }
    rows[i].best = best;
  }
}

Timeline read_timeline(const Json* timeline) {
  Timeline t;
  t.strategy = text(timeline, "strategy");
  t.cache = text(timeline, "cache");
  const Json* spans = timeline == nullptr ? nullptr : child(*timeline, "spans");
  if (spans == nullptr || !spans->is_array()) return t;
  for (const Json& s : *spans) {
    const auto stage = stage_index(text(&s, "stage"));
    const auto start = number(&s, "start_s"), end = number(&s, "end_s");
    if (!stage || !start || !end || *end < *start) continue;
    // Only the slot's identity matters; out-of-range numbers (casting them is undefined) share 0.
    const auto slot = number(&s, "slot");
    const bool slot_fits = slot && std::abs(*slot) < 9e18;
    t.spans.push_back(Span{*stage, *start, *end, slot_fits ? static_cast<std::int64_t>(*slot) : 0});
  }
  return t;
}

BenchDoc read_doc(const Json& bench) {
  BenchDoc d;
  d.is_bench = bench.is_object() && child(bench, "ringload_bench") != nullptr;
  const Json* machine = child(bench, "machine");
  d.cpu = text(machine, "cpu");
  d.cores = number(machine, "cores");
  d.memory_bytes = number(machine, "memory_bytes");
  d.kernel = text(machine, "kernel");
  d.filesystem = text(machine, "filesystem");
  d.device = text(machine, "device");
  const Json* file = child(bench, "file");
  d.path = text(file, "path");
  d.format = text(file, "format");
  d.file_size = number(file, "file_size");
  d.tensor_bytes = number(file, "tensor_bytes");
  d.tensors = number(file, "tensors");
  d.sink = text(&bench, "sink");
  d.started_utc = text(&bench, "started_utc");
  d.repeat = number(&bench, "repeat");
  const Json* ceilings = child(bench, "ceilings");
  d.odirect_gbps = number(ceilings, "odirect_qd32_gb_per_s");
  d.mmap_touch_gbps = number(ceilings, "mmap_touch_gb_per_s");
  d.disk_gbps = number(ceilings, "disk_gb_per_s");
  d.memcpy_gbps = number(ceilings, "memcpy_gb_per_s");
  d.pinned_h2d_gbps = number(ceilings, "pinned_h2d_gb_per_s");
  d.rows = read_rows(child(bench, "results"));
  mark_best(d.rows);
  d.timeline = read_timeline(child(bench, "timeline"));
  const Json* pressure = child(bench, "pressure");
  d.pressure.cgroup = text(pressure, "cgroup");
  d.pressure.memory_limit_bytes = number(pressure, "memory_limit_bytes");
  const Json* zram = pressure == nullptr ? nullptr : child(*pressure, "zram");
  d.pressure.zram_device = text(zram, "device");
  d.pressure.zram_algorithm = text(zram, "comp_algorithm");
  d.pressure.zram_disksize = number(zram, "disksize");
  d.pressure.hold_s = number(pressure, "hold_s");
  d.pressure.any = !d.pressure.cgroup.empty() || (zram != nullptr && zram->is_object()) ||
                   (d.pressure.hold_s && *d.pressure.hold_s > 0);
  return d;
}

// ---------------------------------------------------------------------------------------------
// Text: escaping, units, widths.

// XML-escapes and repairs: invalid UTF-8 becomes U+FFFD and control characters (which XML 1.0
// forbids even escaped) become spaces, so any path still yields a well-formed file.
std::string escape_xml(std::string_view raw) {
  std::string out;
  out.reserve(raw.size());
  while (!raw.empty()) {
    const auto bad = first_invalid_utf8(raw);
    const std::string_view good = raw.substr(0, bad.value_or(raw.size()));
    for (const char c : good) {
      switch (c) {
        case '&': out += "&amp;"; break;
        case '<': out += "&lt;"; break;
        case '>': out += "&gt;"; break;
        case '"': out += "&quot;"; break;
        case '\'': out += "&apos;"; break;
        default: out += static_cast<unsigned char>(c) < 0x20 ? ' ' : c;
      }
    }
    if (!bad) break;
    out += "\xEF\xBF\xBD";
    raw.remove_prefix(static_cast<std::size_t>(*bad) + 1);
  }
  // U+FFFE and U+FFFF are valid UTF-8 but not XML characters.
  for (const std::string_view nonchar : {"\xEF\xBF\xBE", "\xEF\xBF\xBF"})
    for (auto at = out.find(nonchar); at != std::string::npos; at = out.find(nonchar, at))
      out.replace(at, nonchar.size(), "\xEF\xBF\xBD");
  return out;
}

std::size_t code_points(std::string_view s) {
  return static_cast<std::size_t>(std::count_if(
      s.begin(), s.end(), [](char c) { return (static_cast<unsigned char>(c) & 0xC0) != 0x80; }));
}

// A rough, generous width for layout decisions: DejaVu Sans (the widest common fallback) averages
// about 0.6 em per character of this kind of text.
constexpr double kEmPerChar = 0.6;
double text_width_px(std::string_view s, double font_px) {
  return static_cast<double>(code_points(s)) * font_px * kEmPerChar;
}

// Shortens to fit max_px, cutting out the middle (file names differ at both ends) on a code point
// boundary.
std::string fit_middle(std::string s, double max_px, double font_px) {
  const auto max_chars = static_cast<std::size_t>(std::max(4.0, max_px / (font_px * kEmPerChar)));
  const std::size_t n = code_points(s);
  if (n <= max_chars) return s;
  auto byte_at = [&s](std::size_t cp) {
    std::size_t seen = 0;
    for (std::size_t i = 0; i < s.size(); ++i) {
      if ((static_cast<unsigned char>(s[i]) & 0xC0) == 0x80) continue;
      if (seen++ == cp) return i;
    }
    return s.size();
  };
  const std::size_t keep_head = (max_chars - 1) / 2, keep_tail = max_chars - 1 - keep_head;
  return s.substr(0, byte_at(keep_head)) + "…" + s.substr(byte_at(n - keep_tail));
}

std::string basename_of(const std::string& path) {
  const auto slash = path.find_last_of('/');
  if (slash == std::string::npos || slash + 1 == path.size()) return path;
  return path.substr(slash + 1);
}

// Three significant digits in binary units: "134 MiB", "4.00 GiB", "12.5 KiB".
std::string format_bytes_short(double bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  if (!(bytes >= 0)) return "—";
  int unit = 0;
  while (bytes >= 1023.5 && unit < 5) {
    bytes /= 1024.0;
    ++unit;
  }
  if (unit == 0) return fmt::format("{:.0f} B", bytes);
  if (bytes >= 99.95) return fmt::format("{:.0f} {}", bytes, kUnits[unit]);
  if (bytes >= 9.995) return fmt::format("{:.1f} {}", bytes, kUnits[unit]);
  return fmt::format("{:.2f} {}", bytes, kUnits[unit]);
}

// Axis labels: exact powers stay short ("4 GiB", "256 MiB").
std::string format_bytes_tick(double bytes) {
  constexpr const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  int unit = 0;
  while (bytes >= 1024.0 && unit < 5) {
    bytes /= 1024.0;
    ++unit;
  }
  if (std::abs(bytes - std::round(bytes)) < 1e-9) return fmt::format("{:.0f} {}", bytes, kUnits[unit]);
  return fmt::format("{:.3g} {}", bytes, kUnits[unit]);
}

std::string format_gbps(std::optional<double> v) { return v ? fmt::format("{:.2f} GB/s", *v) : "—"; }

std::string format_percent(double fraction) {
  const double pct = fraction * 100.0;
  if (pct == 0) return "0%";
  if (pct > 0 && pct < 0.05) return "<0.1%";  // a few pages left must not read as "0.0%"
  return pct >= 9.95 ? fmt::format("{:.0f}%", pct) : fmt::format("{:.1f}%", pct);
}

std::string format_duration(double seconds) {
  if (seconds < 1e-3) return fmt::format("{:.0f} µs", seconds * 1e6);
  if (seconds < 1.0) return fmt::format("{:.3g} ms", seconds * 1e3);
  return fmt::format("{:.3g} s", seconds);
}

std::string format_count(double n) {
  // Thousands separators by hand: fmt's locale-aware 'L' would depend on the global locale.
  std::string digits = fmt::format("{:.0f}", std::abs(n));
  std::string out = n <= -0.5 ? "-" : "";
  const std::size_t first = digits.size() % 3 == 0 ? 3 : digits.size() % 3;
  out += digits.substr(0, first);
  for (std::size_t i = first; i < digits.size(); i += 3) out += "," + digits.substr(i, 3);
  return out;
}

// Coordinates: one decimal is well below a pixel; never prints nan/inf.
std::string px(double v) {
  if (!std::isfinite(v)) v = 0;
  std::string s = fmt::format("{:.1f}", v);
  if (s.size() > 2 && s.ends_with(".0")) s.resize(s.size() - 2);
  if (s == "-0") s = "0";
  return s;
}

// ---------------------------------------------------------------------------------------------
// Palette: one colour per cache mode and per pipeline stage, the same everywhere in the picture.

constexpr std::string_view kColdFill = "#4477aa";
constexpr std::string_view kColdDark = "#1f3f66";
constexpr std::string_view kWarmFill = "#ee7733";
constexpr std::string_view kWarmDark = "#8a3c0e";
constexpr std::string_view kOtherFill = "#888888";
constexpr std::string_view kCacheAfter = "#aa3377";
constexpr std::string_view kAnonAfter = "#555555";
constexpr std::string_view kSwapped = "#882255";  // in swap: zram here
constexpr std::string_view kCgroupPeak = "#44aa99";
constexpr std::string_view kOom = "#cc3311";
constexpr std::string_view kStageFill[] = {"#228833", "#33bbee", "#cc3311"};
constexpr std::string_view kInk = "#222222";
constexpr std::string_view kMuted = "#666666";
constexpr std::string_view kGrid = "#e3e3e3";

// Another loader's bars (--peers): the cache mode's colour, pale, so ours stand out beside them.
constexpr std::string_view kPeerBar = "fill-opacity=\"0.45\"";

// SVG attributes joined by one space.
std::string attrs(std::string_view a, std::string_view b) {
  if (a.empty() || b.empty()) return std::string(a.empty() ? b : a);
  return fmt::format("{} {}", a, b);
}

std::string_view cache_fill(std::string_view cache) {
  if (cache == "cold") return kColdFill;
  if (cache == "warm") return kWarmFill;
  return kOtherFill;
}

// ---------------------------------------------------------------------------------------------
// SVG output.

class Svg {
 public:
  void raw(std::string_view s) { out_ += s; }

  void rect(double x, double y, double w, double h, std::string_view fill, std::string_view extra = {}) {
    fmt::format_to(std::back_inserter(out_),
                   "<rect x=\"{}\" y=\"{}\" width=\"{}\" height=\"{}\" fill=\"{}\"{}{}/>\n", px(x), px(y),
                   px(std::max(0.0, w)), px(std::max(0.0, h)), fill, extra.empty() ? "" : " ", extra);
  }

  void line(double x1, double y1, double x2, double y2, std::string_view stroke, double width,
            std::string_view extra = {}) {
    fmt::format_to(std::back_inserter(out_),
                   "<line x1=\"{}\" y1=\"{}\" x2=\"{}\" y2=\"{}\" stroke=\"{}\" stroke-width=\"{}\"{}{}/>\n",
                   px(x1), px(y1), px(x2), px(y2), stroke, px(width), extra.empty() ? "" : " ", extra);
  }

  // `markup` is already escaped (it may hold <tspan>s); use label() for document text.
  void text_markup(double x, double y, std::string_view markup, std::string_view attrs = {}) {
    fmt::format_to(std::back_inserter(out_), "<text x=\"{}\" y=\"{}\"{}{}>{}</text>\n", px(x), px(y),
                   attrs.empty() ? "" : " ", attrs, markup);
  }
  void label(double x, double y, std::string_view plain, std::string_view attrs = {}) {
    text_markup(x, y, escape_xml(plain), attrs);
  }

  void open_group_titled(std::string_view tooltip) {
    out_ += "<g>\n";
    fmt::format_to(std::back_inserter(out_), "<title>{}</title>\n", escape_xml(tooltip));
  }
  void close_group() { out_ += "</g>\n"; }

  std::string take() { return std::move(out_); }

 private:
  std::string out_;
};

std::string tspan(std::string_view plain, std::string_view attrs) {
  return fmt::format("<tspan {}>{}</tspan>", attrs, escape_xml(plain));
}

// A horizontal value axis, linear or log2 (for memory spanning more than 20×).
struct Scale {
  bool log = false;
  double lo = 0, hi = 1;  // value range (lo > 0 when log)
  double x0 = 0, width = 1;
  std::vector<double> ticks;

  [[nodiscard]] double x(double v) const {
    double t = 0;
    if (log) {
      t = v <= lo ? 0 : (std::log2(v) - std::log2(lo)) / (std::log2(hi) - std::log2(lo));
    } else {
      t = (v - lo) / (hi - lo);
    }
    return x0 + std::clamp(t, 0.0, 1.0) * width;
  }
};

// 1, 2, 2.5 or 5 × 10^k: about `target` steps up to max_value.
double nice_step(double max_value, int target) {
  const double raw = max_value / target;
  const double magnitude = std::pow(10.0, std::floor(std::log10(raw)));
  for (const double m : {1.0, 2.0, 2.5, 5.0, 10.0})
    if (m * magnitude >= raw) return m * magnitude;
  return 10.0 * magnitude;
}

Scale linear_scale(double max_value, double x0, double width, int target_ticks) {
  Scale s;
  s.x0 = x0;
  s.width = width;
  if (!(max_value > 0)) max_value = 1;
  const double step = nice_step(max_value, target_ticks);
  s.hi = std::ceil(max_value / step - 1e-9) * step;
  for (int i = 0; i * step <= s.hi + step * 1e-6; ++i) s.ticks.push_back(i * step);
  return s;
}

Scale log2_scale(double min_value, double max_value, double x0, double width) {
  Scale s;
  s.log = true;
  s.x0 = x0;
  s.width = width;
  // A little room at both ends rather than whole powers of two: the bars use the width.
  s.lo = min_value / 1.25;
  s.hi = std::max(max_value * 1.15, s.lo * 4);
  const int lo_exp = static_cast<int>(std::ceil(std::log2(s.lo)));
  const int hi_exp = static_cast<int>(std::floor(std::log2(s.hi)));
  // Labelled powers of two at least 56 px apart ("256 MiB" is about 45 px wide); exponents that
  // are multiples of the step keep the labels on round values (1, 4, 16, 64 MiB...).
  const double px_per_doubling = width / (std::log2(s.hi) - std::log2(s.lo));
  int every = 1;
  while (every * px_per_doubling < 56 && every < 64) every *= 2;
  for (int e = lo_exp; e <= hi_exp; ++e)
    if (e % every == 0) s.ticks.push_back(std::exp2(e));
  return s;
}

// ---------------------------------------------------------------------------------------------
// Layout (px in a 1200-wide viewBox).

constexpr double kWidth = 1200;
constexpr double kMargin = 12;
constexpr double kLabelX = kMargin + 4;
constexpr double kLabelWidth = 156;
constexpr double kTputX0 = 180;
constexpr double kTputWidth = 300;
constexpr double kTputTextX = kTputX0 + kTputWidth + 12;
constexpr double kMemX0 = 722;
constexpr double kMemWidth = 220;
constexpr double kMemTextX = kMemX0 + kMemWidth + 12;
constexpr double kRowHeight = 38;
constexpr double kLaneX0 = kTputX0;
constexpr double kLaneWidth = kWidth - kMargin - 8 - kLaneX0;
constexpr double kLaneHeight = 40;
constexpr double kLaneGap = 8;

// The bottom of the result rows; an empty document keeps one row for its "no results" line.
double rows_end(const BenchDoc& d, double rows_top) {
  return rows_top + static_cast<double>(std::max<std::size_t>(d.rows.size(), 1)) * kRowHeight;
}

std::string cache_modes(const std::vector<ResultRow>& rows) {
  std::vector<std::string> modes;
  for (const auto& r : rows)
    if (!r.cache.empty() && std::find(modes.begin(), modes.end(), r.cache) == modes.end())
      modes.push_back(r.cache);
  if (modes.empty()) return "—";
  return fmt::format("{}", fmt::join(modes, " + "));
}

bool has_cache(const std::vector<ResultRow>& rows, std::string_view cache) {
  return std::any_of(rows.begin(), rows.end(), [&](const ResultRow& r) { return r.cache == cache; });
}

double draw_header(Svg& svg, const BenchDoc& d) {
  const double max_px = kWidth - 2 * kMargin;
  std::string file_bits;
  auto add = [](std::string& to, const std::string& part) {
    if (part.empty()) return;
    if (!to.empty()) to += " · ";
    to += part;
  };
  add(file_bits, d.format);
  if (d.file_size) add(file_bits, format_bytes_short(*d.file_size));
  if (d.tensors) add(file_bits, format_count(*d.tensors) + " tensors");
  if (d.tensor_bytes) add(file_bits, format_bytes_short(*d.tensor_bytes) + " of tensor data");
  const std::string name = d.path.empty() ? std::string("(no file)") : basename_of(d.path);
  const std::string title = fit_middle("ringload bench — " + name, max_px * 0.55, 19);
  // Bold glyphs run about 10% wider than the estimate.
  file_bits = fit_middle(file_bits, max_px - text_width_px(title, 19) * 1.1 - 14, 14);
  // dx, not spaces: renderers drop whitespace at the start of a tspan.
  svg.text_markup(
      kMargin, 28,
      escape_xml(title) + tspan(file_bits, "dx=\"14\" font-weight=\"normal\" fill=\"#444\" font-size=\"14\""),
      "font-size=\"19\" font-weight=\"bold\"");

  std::string run;
  add(run, "sink " + (d.sink.empty() ? std::string("—") : d.sink));
  add(run, "cache " + cache_modes(d.rows));
  if (d.repeat) add(run, fmt::format("{:.0f} repeats", *d.repeat));
  add(run, d.started_utc);
  if (!d.path.empty()) add(run, d.path);
  svg.label(kMargin, 49, fit_middle(run, max_px, 12.5), "font-size=\"12.5\"");

  std::string machine;
  add(machine, d.cpu);
  if (d.cores) add(machine, fmt::format("{:.0f} cores", *d.cores));
  if (d.memory_bytes) add(machine, format_bytes_short(*d.memory_bytes) + " RAM");
  if (!d.kernel.empty()) add(machine, "kernel " + d.kernel);
  std::string storage = d.filesystem;
  if (!d.device.empty()) storage += (storage.empty() ? "" : " on ") + d.device;
  add(machine, storage);
  svg.label(kMargin, 67,
            fit_middle("machine: " + (machine.empty() ? std::string("—") : machine), max_px, 12.5),
            "font-size=\"12.5\"");

  std::string ceilings;
  std::string disk = "disk " + format_gbps(d.disk_gbps);
  if (d.odirect_gbps || d.mmap_touch_gbps)
    disk += fmt::format(" (O_DIRECT QD32 {}, mmap touch {})",
                        d.odirect_gbps ? fmt::format("{:.2f}", *d.odirect_gbps) : "—",
                        d.mmap_touch_gbps ? fmt::format("{:.2f}", *d.mmap_touch_gbps) : "—");
  add(ceilings, disk);
  add(ceilings, "memcpy " + format_gbps(d.memcpy_gbps));
  if (d.pinned_h2d_gbps) add(ceilings, "pinned H2D " + format_gbps(d.pinned_h2d_gbps));
  svg.label(kMargin, 85, fit_middle("ceilings (same run): " + ceilings, max_px, 12.5),
            "font-size=\"12.5\" fill=\"#444\"");
  return 100;
}

void draw_row_labels(Svg& svg, const std::vector<ResultRow>& rows, double rows_top) {
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ResultRow& r = rows[i];
    const double y = rows_top + static_cast<double>(i) * kRowHeight;
    if (i % 2 == 0) svg.rect(kMargin - 4, y, kWidth - 2 * kMargin + 8, kRowHeight, "#f4f5f7");
    // A peer's "llama.cpp:direct-io" is too long for the column: its mode on the first line, the
    // peer on the second.
    const std::size_t colon = r.peer ? r.strategy.find(':') : std::string::npos;
    const std::string peer_name = colon == std::string::npos ? "peer" : r.strategy.substr(0, colon);
    std::string name = colon == std::string::npos ? r.strategy : r.strategy.substr(colon + 1);
    if (name.empty()) name = "?";
    const std::string name_markup = escape_xml(fit_middle(name, kLabelWidth - 16, 13.5));
    if (r.best)
      svg.text_markup(kLabelX, y + 16,
                      tspan("★", fmt::format("fill=\"{}\"", cache_fill(r.cache))) + " " + name_markup,
                      "font-size=\"13.5\" font-weight=\"bold\"");
    else
      svg.text_markup(kLabelX, y + 16, name_markup, "font-size=\"13.5\"");
    std::string second = tspan(r.cache.empty() ? "—" : r.cache,
                               fmt::format("fill=\"{}\" font-weight=\"bold\"", cache_fill(r.cache)));
    if (!r.ran_as.empty() && r.ran_as != r.strategy)
      second += escape_xml(fit_middle(" → " + r.ran_as, kLabelWidth - 36, 11));
    // Why a peer failed is written where its bars would be.
    if (r.peer) second += escape_xml(fit_middle(" · " + peer_name, kLabelWidth - 36, 11));
    svg.text_markup(kLabelX, y + 31, second, "font-size=\"11\" fill=\"#555\"");
  }
}

std::string row_tooltip(const ResultRow& r) {
  auto g = [](std::optional<double> v) { return v ? fmt::format("{:.2f}", *v) : std::string("—"); };
  auto sec = [](std::optional<double> v) { return v ? format_duration(*v) : std::string("—"); };
  auto bytes = [](std::optional<double> v) { return v ? format_bytes_short(*v) : std::string("—"); };
  return fmt::format(
      "{} ({}{}), {} runs: median {} GB/s (min {}, max {}); wall {}; first tensor {}; CPU {} s/GB; "
      "peak RSS {} (min {}, max {}); page cache after {}; anon RSS after {}",
      r.strategy, r.cache, r.ran_as.empty() || r.ran_as == r.strategy ? "" : ", ran as " + r.ran_as,
      r.run_count, g(r.median.gb_per_s), g(r.min.gb_per_s), g(r.max.gb_per_s), sec(r.median.wall_s),
      sec(r.median.first_tensor_s), g(r.median.cpu_s_per_gb), bytes(r.median.peak_rss_bytes),
      bytes(r.min.peak_rss_bytes), bytes(r.max.peak_rss_bytes), bytes(r.median.cache_after_bytes),
      bytes(r.median.anon_after_bytes));
}

void draw_whisker(Svg& svg, const Scale& s, std::optional<double> lo, std::optional<double> hi, double y_mid,
                  double half_height) {
  if (!lo || !hi) return;
  const double a = s.x(*lo), b = s.x(*hi);
  svg.line(a, y_mid, b, y_mid, kInk, 1.3);
  svg.line(a, y_mid - half_height, a, y_mid + half_height, kInk, 1.3);
  svg.line(b, y_mid - half_height, b, y_mid + half_height, kInk, 1.3);
}

void draw_axis(Svg& svg, const Scale& s, double grid_top, double axis_y, const std::string& unit,
               const std::function<std::string(double)>& tick_text) {
  for (const double t : s.ticks) svg.line(s.x(t), grid_top, s.x(t), axis_y, kGrid, 1);
  svg.line(s.x0, axis_y, s.x0 + s.width, axis_y, kMuted, 1);
  for (const double t : s.ticks) {
    svg.line(s.x(t), axis_y, s.x(t), axis_y + 4, kMuted, 1);
    svg.label(s.x(t), axis_y + 16, tick_text(t), "font-size=\"11\" fill=\"#555\" text-anchor=\"middle\"");
  }
  if (!unit.empty())
    svg.label(s.x0 + s.width, axis_y + 30, unit, "font-size=\"11\" fill=\"#555\" text-anchor=\"end\"");
}

std::string tick_gbps(double v) { return v == 0 ? "0" : fmt::format("{:g}", v); }

struct Ceiling {
  std::string text;
  double value;
  std::string_view colour;
  std::string_view dash;
};

void draw_throughput(Svg& svg, const BenchDoc& d, double top, double rows_top) {
  const auto& rows = d.rows;
  const double rows_bottom = rows_end(d, rows_top);
  const bool any_cold = has_cache(rows, "cold"), any_warm = has_cache(rows, "warm");
  const bool no_modes = !any_cold && !any_warm;

  std::vector<Ceiling> ceilings;
  if (d.disk_gbps && (any_cold || no_modes))
    ceilings.push_back(
        {fmt::format("disk {:.2f} GB/s (cold)", *d.disk_gbps), *d.disk_gbps, kColdDark, "6 4"});
  if (d.memcpy_gbps && (any_warm || no_modes))
    ceilings.push_back(
        {fmt::format("memcpy {:.2f} GB/s (warm)", *d.memcpy_gbps), *d.memcpy_gbps, kWarmDark, "6 4"});
  if (d.pinned_h2d_gbps && d.sink == "cuda")
    ceilings.push_back(
        {fmt::format("pinned H2D {:.2f} GB/s", *d.pinned_h2d_gbps), *d.pinned_h2d_gbps, "#555555", "2 3"});

  double max_value = 0;
  for (const auto& r : rows)
    for (const auto& v : {r.median.gb_per_s, r.max.gb_per_s})
      if (v) max_value = std::max(max_value, *v);
  for (const auto& c : ceilings) max_value = std::max(max_value, c.value);
  const Scale s = linear_scale(max_value * 1.02, kTputX0, kTputWidth, 6);

  std::size_t runs = 0;
  for (const auto& r : rows) runs = std::max(runs, r.run_count);
  svg.label(kTputX0, top + 14,
            runs > 0 ? fmt::format("Throughput — median GB/s, whisker = min–max of {} runs", runs)
                     : std::string("Throughput — median GB/s, whisker = min–max"),
            "font-size=\"14\" font-weight=\"bold\"");
  // Legend.
  double lx = kTputX0;
  const double ly = top + 30;
  for (const auto& [fill, name] : {std::pair{kColdFill, "cold"}, std::pair{kWarmFill, "warm"}}) {
    svg.rect(lx, ly - 9, 12, 10, fill);
    svg.label(lx + 16, ly, name, "font-size=\"11.5\"");
    lx += 56;
  }
  svg.rect(lx, ly - 9, 12, 10, "#ffffff", "stroke=\"#111\" stroke-width=\"2\"");
  svg.label(lx + 16, ly, "★ best of its cache mode", "font-size=\"11.5\"");
  lx += 16 + text_width_px("★ best of its cache mode", 11.5) + 14;
  svg.label(lx, ly, "→ strategy actually run", "font-size=\"11.5\" fill=\"#555\"");

  if (max_value > 0)
    draw_axis(svg, s, rows_top - 4, rows_bottom + 4, "GB/s (10⁹ bytes per second)", tick_gbps);

  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ResultRow& r = rows[i];
    const double y = rows_top + static_cast<double>(i) * kRowHeight;
    svg.open_group_titled(row_tooltip(r));
    if (r.median.gb_per_s) {
      const std::string style =
          attrs(r.best ? "stroke=\"#111\" stroke-width=\"2\"" : "", r.peer ? kPeerBar : "");
      svg.rect(s.x0, y + 10, s.x(*r.median.gb_per_s) - s.x0, 16, cache_fill(r.cache), style);
    }
    draw_whisker(svg, s, r.min.gb_per_s, r.max.gb_per_s, y + 18, 6);
    // A row without bars has the whole width for why it has none.
    if (!r.median.gb_per_s && !r.failure.empty())
      svg.label(kTputX0 + 4, y + 22, fit_middle("failed: " + r.failure, kMemX0 - kTputX0 - 24, 11.5),
                "font-size=\"11.5\" fill=\"#b00\"");

    if (r.run_count > 0 && r.oom_killed_runs == r.run_count) {
      svg.text_markup(kTputTextX, y + 16,
                      tspan(fmt::format("OOM-killed ({}/{} runs)", r.oom_killed_runs, r.run_count),
                            fmt::format("font-weight=\"bold\" fill=\"{}\"", kOom)),
                      "font-size=\"12.5\"");
      svg.close_group();
      continue;
    }
    std::string line1 = tspan(format_gbps(r.median.gb_per_s), "font-weight=\"bold\"");
    std::optional<double> fraction = r.fraction_of_ceiling;
    const std::optional<double> ceiling = r.cache == "cold"   ? d.disk_gbps
                                          : r.cache == "warm" ? d.memcpy_gbps
                                                              : std::nullopt;
    if (!fraction && ceiling && r.median.gb_per_s && *ceiling > 0) fraction = *r.median.gb_per_s / *ceiling;
    if (fraction)
      line1 += escape_xml(
          fmt::format(" · {} of {}", format_percent(*fraction), r.cache == "warm" ? "memcpy" : "disk"));
    svg.text_markup(kTputTextX, y + 16, line1, "font-size=\"12.5\"");

    // A baseline's ratio to itself (1.00×read on the read row) says nothing.
    std::vector<std::string> ratios;
    if (r.x_read && r.strategy != "read") ratios.push_back(fmt::format("{:.2f}×read", *r.x_read));
    if (r.x_mmap && r.strategy != "mmap") ratios.push_back(fmt::format("{:.2f}×mmap", *r.x_mmap));
    if (ratios.empty() && r.min.gb_per_s && r.max.gb_per_s)
      ratios.push_back(fmt::format("runs {:.2f}–{:.2f} GB/s", *r.min.gb_per_s, *r.max.gb_per_s));
    if (!ratios.empty())
      svg.label(kTputTextX, y + 31, fmt::format("{}", fmt::join(ratios, " · ")),
                "font-size=\"11.5\" fill=\"#444\"");
    svg.close_group();
  }

  // Ceilings last, over the bars; labels above the rows, stacked when they would collide.
  double previous_end = -1e9;
  int level = 0;
  std::vector<std::size_t> order(ceilings.size());
  for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::sort(order.begin(), order.end(),
            [&](std::size_t a, std::size_t b) { return ceilings[a].value < ceilings[b].value; });
  for (const std::size_t i : order) {
    const Ceiling& c = ceilings[i];
    const double x = s.x(c.value);
    const double w = text_width_px(c.text, 11);
    // Anchor the label's end at the line when it would run past the panel.
    const bool anchor_end = x + w > kTputX0 + kTputWidth + 150;
    const double start = anchor_end ? x - w : x - 3;
    level = start < previous_end + 6 ? level + 1 : 0;
    previous_end = start + w;
    const double label_y = rows_top - 8 - level * 13;
    svg.line(x, label_y + 2, x, rows_bottom + 4, c.colour, 1.6,
             fmt::format("stroke-dasharray=\"{}\"", c.dash));
    svg.label(anchor_end ? x - 3 : x + 3, label_y, c.text,
              fmt::format("font-size=\"11\" font-weight=\"bold\" fill=\"{}\"{}", c.colour,
                          anchor_end ? " text-anchor=\"end\"" : ""));
  }
}

// Bytes axis: log2 when the peaks (and the file size line) span more than 20×, so a 134 MiB ring
// and a 4 GiB read buffer are both visible; else linear in the largest fitting binary unit.
struct MemoryScale {
  Scale scale;                 // in bytes
  double unit_bytes = 1;       // linear ticks are labelled in this unit
  std::string_view unit_name;  // "MiB"...
  bool has_data = false;       // no byte figure at all: no axis (it would read "0.25 B")
};

MemoryScale memory_scale(const BenchDoc& d) {
  double lo_peak = 0, hi_peak = 0;
  auto widen = [](double& lo, double& hi, std::optional<double> v) {
    if (!v || *v <= 0) return;
    lo = lo == 0 ? *v : std::min(lo, *v);
    hi = std::max(hi, *v);
  };
  for (const auto& r : d.rows)
    for (const auto& v : {r.min.peak_rss_bytes, r.median.peak_rss_bytes, r.max.peak_rss_bytes})
      widen(lo_peak, hi_peak, v);
  widen(lo_peak, hi_peak, d.file_size);
  double lo = lo_peak, hi = hi_peak;
  // Leftovers are often a few pages: they may not stretch the axis more than 64× below the
  // smallest peak, or the peaks (the point of the panel) would be squeezed to the right. Smaller
  // ones get a stub.
  for (const auto& r : d.rows)
    for (const auto& v : {r.median.cache_after_bytes, r.median.anon_after_bytes})
      if (v && (lo_peak == 0 || *v >= lo_peak / 64)) widen(lo, hi, v);

  MemoryScale m;
  m.has_data = hi > 0;
  if (lo_peak > 0 && hi_peak / lo_peak > 20) {
    m.scale = log2_scale(lo, hi, kMemX0, kMemWidth);
    return m;
  }
  constexpr std::pair<double, std::string_view> kUnits[] = {{1024.0 * 1024 * 1024 * 1024, "TiB"},
                                                            {1024.0 * 1024 * 1024, "GiB"},
                                                            {1024.0 * 1024, "MiB"},
                                                            {1024.0, "KiB"}};
  m.unit_bytes = 1;
  m.unit_name = "B";
  for (const auto& [bytes, name] : kUnits) {
    if (hi >= bytes) {
      m.unit_bytes = bytes;
      m.unit_name = name;
      break;
    }
  }
  // Nice ticks in the display unit, then back to bytes.
  m.scale = linear_scale(hi > 0 ? hi * 1.02 / m.unit_bytes : 1, kMemX0, kMemWidth, 4);
  m.scale.hi *= m.unit_bytes;
  for (auto& t : m.scale.ticks) t *= m.unit_bytes;
  return m;
}

void draw_memory(Svg& svg, const BenchDoc& d, double top, double rows_top) {
  const auto& rows = d.rows;
  const double rows_bottom = rows_end(d, rows_top);
  const MemoryScale m = memory_scale(d);
  const Scale& s = m.scale;

  svg.label(kMemX0, top + 14,
            std::string("Memory — peak RSS (median, min–max)") + (s.log ? " · log scale" : ""),
            "font-size=\"14\" font-weight=\"bold\"");
  double lx = kMemX0;
  const double ly = top + 30;
  auto legend = [&](std::string_view fill, double height, std::string_view name) {
    svg.rect(lx, ly - 4 - height / 2, 12, height, fill);
    svg.label(lx + 16, ly, name, "font-size=\"11.5\"");
    lx += 16 + text_width_px(name, 11.5) + 14;
  };
  svg.rect(lx, ly - 9, 6, 10, kColdFill);
  svg.rect(lx + 6, ly - 9, 6, 10, kWarmFill);
  svg.label(lx + 16, ly, "peak RSS", "font-size=\"11.5\"");
  lx += 16 + text_width_px("peak RSS", 11.5) + 14;
  legend(kCacheAfter, 4, "page cache after");
  legend(kAnonAfter, 4, "anon RSS after");

  // Linear ticks stay in one unit ("0.5 GiB", "1 GiB"), log ticks are powers of two.
  if (m.has_data)
    draw_axis(svg, s, rows_top - 4, rows_bottom + 4, s.log ? "bytes, log scale" : "", [&m](double v) {
      if (v == 0) return std::string("0");
      return m.scale.log ? format_bytes_tick(v) : fmt::format("{:g} {}", v / m.unit_bytes, m.unit_name);
    });

  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ResultRow& r = rows[i];
    const double y = rows_top + static_cast<double>(i) * kRowHeight;
    svg.open_group_titled(row_tooltip(r));
    if (r.median.peak_rss_bytes)
      svg.rect(s.x0, y + 6, s.x(*r.median.peak_rss_bytes) - s.x0, 13, cache_fill(r.cache),
               attrs(r.best ? "stroke=\"#111\" stroke-width=\"2\"" : "", r.peer ? kPeerBar : ""));
    draw_whisker(svg, s, r.min.peak_rss_bytes, r.max.peak_rss_bytes, y + 12.5, 5);
    // Below-axis leftovers get a 2 px stub so "some" differs from "none".
    auto thin_bar = [&](std::optional<double> v, double bar_y, std::string_view fill) {
      if (!v || *v <= 0) return;
      svg.rect(s.x0, bar_y, std::max(2.0, s.x(*v) - s.x0), 4, fill);
    };
    thin_bar(r.median.cache_after_bytes, y + 23, kCacheAfter);
    thin_bar(r.median.anon_after_bytes, y + 29, kAnonAfter);

    const std::string anon = r.median.anon_after_bytes ? format_bytes_short(*r.median.anon_after_bytes) : "—";
    svg.text_markup(
        kMemTextX, y + 16,
        tspan("peak " + (r.median.peak_rss_bytes ? format_bytes_short(*r.median.peak_rss_bytes) : "—"),
              "font-weight=\"bold\"") +
            " · " + tspan("anon " + anon, fmt::format("fill=\"{}\" font-size=\"11\"", kAnonAfter)),
        "font-size=\"12.5\"");
    std::string cache = "—";
    if (r.median.cache_after_bytes) {
      cache = format_bytes_short(*r.median.cache_after_bytes);
      if (r.median.file_bytes_in_pages && *r.median.file_bytes_in_pages > 0)
        cache +=
            " (" + format_percent(*r.median.cache_after_bytes / *r.median.file_bytes_in_pages) + " of file)";
    }
    svg.label(kMemTextX, y + 31, "cache " + cache, fmt::format("font-size=\"11\" fill=\"{}\"", kCacheAfter));
    svg.close_group();
  }

  if (d.file_size && *d.file_size > 0 && !rows.empty()) {
    const double x = s.x(*d.file_size);
    svg.line(x, rows_top - 6, x, rows_bottom + 4, kMuted, 1.4, "stroke-dasharray=\"3 3\"");
    const std::string label = "file " + format_bytes_short(*d.file_size);
    const bool anchor_end = x + text_width_px(label, 11) > kMemX0 + kMemWidth + 40;
    svg.label(anchor_end ? x - 3 : x + 3, rows_top - 8, label,
              fmt::format("font-size=\"11\" font-weight=\"bold\" fill=\"#555\"{}",
                          anchor_end ? " text-anchor=\"end\"" : ""));
  }
}

// ---------------------------------------------------------------------------------------------
// Memory pressure (--memory-limit, --zram, --hold): per strategy what the child still held at the
// end, in RAM (anonymous) and swapped out (zram), the page cache charged to its cgroup, the
// cgroup's peak, and OOM kills, on one bytes axis with the limit: which loaders leave memory behind.

constexpr double kPressureRowHeight = 36;
constexpr double kPressureX0 = kTputX0;
constexpr double kPressureWidth = 500;
constexpr double kPressureTextX = kPressureX0 + kPressureWidth + 20;

std::string pressure_title(const Pressure& p) {
  std::vector<std::string> parts;
  if (!p.cgroup.empty())
    parts.push_back(p.memory_limit_bytes ? fmt::format("limit {} per run (cgroup {})",
                                                       format_bytes_short(*p.memory_limit_bytes), p.cgroup)
                                         : fmt::format("a cgroup per run, no limit ({})", p.cgroup));
  if (!p.zram_device.empty() || p.zram_disksize)
    parts.push_back(fmt::format(
        "zram swap {} {}", p.zram_disksize ? format_bytes_short(*p.zram_disksize) : "—", p.zram_algorithm));
  parts.push_back(p.hold_s && *p.hold_s > 0
                      ? fmt::format("each child held {} after its load", format_duration(*p.hold_s))
                      : std::string("measured right after the load"));
  return fmt::format("Memory pressure — {}", fmt::join(parts, " · "));
}

double draw_pressure(Svg& svg, const BenchDoc& d, double top) {
  const Pressure& p = d.pressure;
  svg.label(kMargin, top + 14, fit_middle(pressure_title(p), kWidth - 2 * kMargin, 14),
            "font-size=\"14\" font-weight=\"bold\"");
  double lx = kPressureX0;
  const double ly = top + 32;
  auto legend = [&](std::string_view fill, double height, std::string_view name) {
    svg.rect(lx, ly - 4 - height / 2, 12, height, fill);
    svg.label(lx + 16, ly, name, "font-size=\"11.5\"");
    lx += 16 + text_width_px(name, 11.5) + 14;
  };
  legend(kAnonAfter, 10, "held in RAM (anon)");
  legend(kSwapped, 10, "swapped out (zram)");
  legend(kCgroupPeak, 4, "cgroup peak");
  legend(kCacheAfter, 4, "page cache charged (peak)");
  if (p.memory_limit_bytes) {
    svg.line(lx, ly - 4, lx + 14, ly - 4, kOom, 1.6, "stroke-dasharray=\"4 3\"");
    svg.label(lx + 18, ly, "limit", "font-size=\"11.5\"");
  }

  const double rows_top = top + 46;
  const auto& rows = d.rows;
  double hi = 0;
  for (const auto& r : rows) {
    const RunFigures& m = r.median;
    hi = std::max({hi, m.held_anon_bytes.value_or(0) + m.swap_bytes.value_or(0),
                   m.cgroup_peak_bytes.value_or(0), m.cgroup_file_bytes_peak.value_or(0),
                   r.max.cgroup_peak_bytes.value_or(0)});
  }
  if (p.memory_limit_bytes) hi = std::max(hi, *p.memory_limit_bytes);
  double unit = 1;
  std::string_view unit_name = "B";
  for (const auto& [bytes, name] :
       {std::pair{1024.0 * 1024 * 1024, "GiB"}, std::pair{1024.0 * 1024, "MiB"}, std::pair{1024.0, "KiB"}}) {
    if (hi >= bytes) {
      unit = bytes;
      unit_name = name;
      break;
    }
  }
  Scale s = linear_scale(hi > 0 ? hi * 1.04 / unit : 1, kPressureX0, kPressureWidth, 5);
  s.hi *= unit;
  for (auto& t : s.ticks) t *= unit;

  for (std::size_t i = 0; i < rows.size(); ++i) {
    const ResultRow& r = rows[i];
    const RunFigures& m = r.median;
    const double y = rows_top + static_cast<double>(i) * kPressureRowHeight;
    if (i % 2 == 0) svg.rect(kMargin - 4, y, kWidth - 2 * kMargin + 8, kPressureRowHeight, "#f4f5f7");
    svg.label(kLabelX, y + 15,
              fit_middle(r.strategy.empty() ? std::string("?") : r.strategy, kLabelWidth - 16, 13),
              "font-size=\"13\"");
    svg.label(kLabelX, y + 29, r.cache.empty() ? "—" : r.cache,
              fmt::format("font-size=\"11\" font-weight=\"bold\" fill=\"{}\"", cache_fill(r.cache)));
    const bool all_oom = r.run_count > 0 && r.oom_killed_runs == r.run_count;
    svg.open_group_titled(fmt::format(
        "{} {}: held anon {}, swapped {}, zram orig {} / compressed {} / RAM {}, cgroup peak {}, page cache "
        "peak {}, OOM-killed {} of {} runs",
        r.strategy, r.cache, m.held_anon_bytes ? format_bytes_short(*m.held_anon_bytes) : "—",
        m.swap_bytes ? format_bytes_short(*m.swap_bytes) : "—",
        m.zram_orig_delta ? format_bytes_short(*m.zram_orig_delta) : "—",
        m.zram_compr_delta ? format_bytes_short(*m.zram_compr_delta) : "—",
        m.zram_mem_used_delta ? format_bytes_short(*m.zram_mem_used_delta) : "—",
        m.cgroup_peak_bytes ? format_bytes_short(*m.cgroup_peak_bytes) : "—",
        m.cgroup_file_bytes_peak ? format_bytes_short(*m.cgroup_file_bytes_peak) : "—", r.oom_killed_runs,
        r.run_count));
    const double anon = all_oom ? 0 : m.held_anon_bytes.value_or(0);
    const double swap = all_oom ? 0 : m.swap_bytes.value_or(0);
    // Held memory as one stacked bar; a few KiB still get a 2 px stub so "some" differs from "none".
    if (anon > 0) svg.rect(s.x0, y + 5, std::max(2.0, s.x(anon) - s.x0), 13, kAnonAfter);
    if (swap > 0) {
      const double from = std::max(s.x0 + (anon > 0 ? 2.0 : 0.0), s.x(anon));
      svg.rect(from, y + 5, std::max(2.0, s.x(anon + swap) - from), 13, kSwapped);
    }
    if (m.cgroup_peak_bytes && *m.cgroup_peak_bytes > 0)
      svg.rect(s.x0, y + 21, std::max(2.0, s.x(*m.cgroup_peak_bytes) - s.x0), 4, kCgroupPeak);
    if (m.cgroup_file_bytes_peak && *m.cgroup_file_bytes_peak > 0)
      svg.rect(s.x0, y + 27, std::max(2.0, s.x(*m.cgroup_file_bytes_peak) - s.x0), 4, kCacheAfter);

    if (all_oom) {
      svg.text_markup(kPressureTextX, y + 15,
                      tspan(fmt::format("OOM-killed ({}/{} runs)", r.oom_killed_runs, r.run_count),
                            fmt::format("font-weight=\"bold\" fill=\"{}\"", kOom)),
                      "font-size=\"12.5\"");
    } else if (!m.held_anon_bytes && !m.swap_bytes) {
      svg.label(kPressureTextX, y + 15, "held —", "font-size=\"12.5\"");
    } else {
      std::string held = tspan("held " + format_bytes_short(anon + swap), "font-weight=\"bold\"");
      held += escape_xml(
          fmt::format(" · RAM {} · swapped {}", format_bytes_short(anon), format_bytes_short(swap)));
      if (r.oom_killed_runs > 0)
        held += tspan(fmt::format(" · OOM-killed {}/{}", r.oom_killed_runs, r.run_count),
                      fmt::format("fill=\"{}\" font-weight=\"bold\"", kOom));
      svg.text_markup(kPressureTextX, y + 15, held, "font-size=\"12.5\"");
    }
    std::vector<std::string> second;
    if (m.zram_orig_delta && m.zram_mem_used_delta)
      second.push_back(fmt::format("zram +{} (RAM +{})",
                                   format_bytes_short(std::max(0.0, *m.zram_orig_delta)),
                                   format_bytes_short(std::max(0.0, *m.zram_mem_used_delta))));
    if (m.cgroup_peak_bytes) second.push_back("cgroup peak " + format_bytes_short(*m.cgroup_peak_bytes));
    if (m.cgroup_file_bytes_peak)
      second.push_back("cache peak " + format_bytes_short(*m.cgroup_file_bytes_peak));
    if (!second.empty())
      svg.label(kPressureTextX, y + 30, fmt::format("{}", fmt::join(second, " · ")),
                "font-size=\"11\" fill=\"#444\"");
    svg.close_group();
  }
  const double rows_bottom =
      rows_top + static_cast<double>(std::max<std::size_t>(rows.size(), 1)) * kPressureRowHeight;
  draw_axis(svg, s, rows_top - 2, rows_bottom + 4, "", [&](double v) {
    return v == 0 ? std::string("0") : fmt::format("{:g} {}", v / unit, unit_name);
  });
  if (p.memory_limit_bytes) {
    const double x = s.x(*p.memory_limit_bytes);
    svg.line(x, rows_top - 4, x, rows_bottom + 4, kOom, 1.6, "stroke-dasharray=\"4 3\"");
  }
  return rows_bottom + 24;
}

// Union of [start, end) intervals, for the "busy" share of a lane.
double busy_seconds(std::vector<std::pair<double, double>> intervals) {
  std::sort(intervals.begin(), intervals.end());
  double total = 0, cur_start = 0, cur_end = -1;
  bool open = false;
  for (const auto& [a, b] : intervals) {
    if (open && a <= cur_end) {
      cur_end = std::max(cur_end, b);
      continue;
    }
    if (open) total += cur_end - cur_start;
    cur_start = a;
    cur_end = b;
    open = true;
  }
  if (open) total += cur_end - cur_start;
  return total;
}

// One slot's spans in one lane as a single path of rectangles, in pixel space: neighbours closer
// than half a pixel merge and a span is at least one pixel wide, so thousands of sub-pixel spans
// cost a few hundred short subpaths (about 25 bytes each) rather than thousands of <rect>s.
void draw_span_row(Svg& svg, const Scale& s, std::vector<std::pair<double, double>>& spans, double y,
                   double height, std::string_view fill) {
  if (spans.empty()) return;
  std::sort(spans.begin(), spans.end());
  std::string d;
  auto emit = [&](double a, double b) {
    fmt::format_to(std::back_inserter(d), "M{} {}h{}v{}h-{}z", px(a), px(y), px(b - a), px(height),
                   px(b - a));
  };
  double a = 0, b = 0;
  bool open = false;
  for (const auto& [start, end] : spans) {
    const double xa = s.x(start), xb = std::max(s.x(end), xa + 1);
    if (open && xa <= b + 0.5) {
      b = std::max(b, xb);
      continue;
    }
    if (open) emit(a, b);
    a = xa;
    b = xb;
    open = true;
  }
  emit(a, b);
  svg.raw(fmt::format("<path fill=\"{}\" d=\"{}\"/>\n", fill, d));
}

// Seconds once the run lasts a second or more, else milliseconds; as many decimals as the step needs.
std::string time_tick_text(double seconds, double step, double total) {
  if (seconds == 0) return "0";
  const bool in_ms = total < 1.0;
  const double value = in_ms ? seconds * 1e3 : seconds, unit_step = in_ms ? step * 1e3 : step;
  int decimals = 0;
  while (decimals < 6 && std::abs(unit_step * std::pow(10.0, decimals) -
                                  std::round(unit_step * std::pow(10.0, decimals))) > 1e-6)
    ++decimals;
  return fmt::format("{:.{}f} {}", value, decimals, in_ms ? "ms" : "s");
}

double draw_timeline(Svg& svg, const BenchDoc& d, double top) {
  const Timeline& t = d.timeline;
  double t0 = 0, t1 = 0;
  for (const Span& s : t.spans) {
    t0 = std::min(t0, s.start_s);
    t1 = std::max(t1, s.end_s);
  }
  std::string title = "Timeline";
  if (!t.strategy.empty())
    title += " — one " + (t.cache.empty() ? std::string() : t.cache + " ") + "run of " + t.strategy;
  if (!t.spans.empty())
    title += fmt::format(" · {} span{} over {}", format_count(static_cast<double>(t.spans.size())),
                         t.spans.size() == 1 ? "" : "s", format_duration(t1 - t0));
  svg.label(kMargin, top + 14, fit_middle(title, kWidth - 2 * kMargin, 14),
            "font-size=\"14\" font-weight=\"bold\"");
  const double lanes_top = top + 28;
  if (t.spans.empty() || !(t1 > t0)) {
    svg.rect(kLaneX0, lanes_top, kLaneWidth, 40, "#f4f5f7");
    svg.label(kLaneX0 + kLaneWidth / 2, lanes_top + 25, "no timeline recorded",
              "font-size=\"13\" fill=\"#666\" text-anchor=\"middle\"");
    return lanes_top + 56;
  }

  Scale s = linear_scale(t1 - t0, kLaneX0, kLaneWidth, 10);
  s.lo = t0;
  s.hi += t0;
  for (auto& tick : s.ticks) tick += t0;
  const double step = s.ticks.size() > 1 ? s.ticks[1] - s.ticks[0] : s.hi - s.lo;

  // Slots side by side inside a lane show how many chunks were in flight at once.
  std::vector<std::int64_t> slots;
  for (const Span& sp : t.spans) slots.push_back(sp.slot);
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  const std::size_t sub_rows = std::clamp<std::size_t>(slots.size(), 1, 8);
  const double sub_height = (kLaneHeight - 4) / static_cast<double>(sub_rows);
  auto sub_row_of = [&](std::int64_t slot) {
    const auto rank =
        static_cast<std::size_t>(std::lower_bound(slots.begin(), slots.end(), slot) - slots.begin());
    return rank % sub_rows;
  };

  const double lanes_bottom = lanes_top + 3 * kLaneHeight + 2 * kLaneGap;
  for (const double tick : s.ticks) svg.line(s.x(tick), lanes_top - 2, s.x(tick), lanes_bottom + 4, kGrid, 1);

  for (int lane = 0; lane < 3; ++lane) {
    const double y = lanes_top + lane * (kLaneHeight + kLaneGap);
    std::vector<std::vector<std::pair<double, double>>> per_row(sub_rows);
    std::vector<std::pair<double, double>> all;
    for (const Span& sp : t.spans) {
      if (sp.stage != lane) continue;
      per_row[sub_row_of(sp.slot)].push_back({sp.start_s, sp.end_s});
      all.push_back({sp.start_s, sp.end_s});
    }
    svg.rect(kLaneX0, y, kLaneWidth, kLaneHeight, "#f4f5f7");
    svg.rect(kLabelX, y + 6, 12, 12, kStageFill[lane]);
    svg.label(kLabelX + 18, y + 17, kStages[lane], "font-size=\"13.5\" font-weight=\"bold\"");
    const double busy = busy_seconds(all) / (t1 - t0);
    svg.label(kLabelX, y + 33,
              fmt::format("{} span{} · busy {}", format_count(static_cast<double>(all.size())),
                          all.size() == 1 ? "" : "s", format_percent(busy)),
              "font-size=\"10.5\" fill=\"#555\"");

    for (std::size_t row = 0; row < sub_rows; ++row) {
      const double ry = y + 2 + static_cast<double>(row) * sub_height;
      draw_span_row(svg, s, per_row[row], ry, sub_height > 3 ? sub_height - 1 : sub_height, kStageFill[lane]);
    }
  }

  const double axis_y = lanes_bottom + 4;
  svg.line(s.x0, axis_y, s.x0 + s.width, axis_y, kMuted, 1);
  for (const double tick : s.ticks) {
    svg.line(s.x(tick), axis_y, s.x(tick), axis_y + 4, kMuted, 1);
    svg.label(s.x(tick), axis_y + 16, time_tick_text(tick, step, t1 - t0),
              "font-size=\"11\" fill=\"#555\" text-anchor=\"middle\"");
  }
  svg.label(s.x0 + s.width, axis_y + 30,
            sub_rows > 1
                ? fmt::format("time since load start · one row per staging slot ({} slots)", slots.size())
                : std::string("time since load start"),
            "font-size=\"11\" fill=\"#555\" text-anchor=\"end\"");
  return axis_y + 40;
}

}  // namespace

std::string render_bench_svg(const nlohmann::ordered_json& bench) {
  const BenchDoc d = read_doc(bench);
  Svg body;
  double y = draw_header(body, d);
  if (!d.is_bench)
    body.label(kMargin, y + 4, "warning: not a ringload bench document (no \"ringload_bench\" key)",
               "font-size=\"12\" fill=\"#cc3311\"");

  const double panel_top = y + 8;
  const double rows_top = panel_top + 66;
  draw_row_labels(body, d.rows, rows_top);
  draw_throughput(body, d, panel_top, rows_top);
  draw_memory(body, d, panel_top, rows_top);
  if (d.rows.empty()) {
    body.rect(kMargin - 4, rows_top, kWidth - 2 * kMargin + 8, kRowHeight, "#f4f5f7");
    body.label(kWidth / 2, rows_top + 24, "no results in this document",
               "font-size=\"13\" fill=\"#666\" text-anchor=\"middle\"");
  }
  y = rows_end(d, rows_top) + 44;
  if (d.pressure.any) y = draw_pressure(body, d, y) + 20;
  y = draw_timeline(body, d, y);

  const double height = std::ceil(y + 8);
  std::string svg = fmt::format(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {0} {1}\" width=\"{0}\" height=\"{1}\" "
      "font-family=\"system-ui, -apple-system, 'Segoe UI', Roboto, 'DejaVu Sans', Helvetica, Arial, "
      "sans-serif\" "
      "fill=\"{2}\">\n",
      px(kWidth), px(height), kInk);
  svg += "<rect width=\"100%\" height=\"100%\" fill=\"#ffffff\"/>\n";
  svg += body.take();
  svg += "</svg>\n";
  return svg;
}

}  // namespace ringload::cli
