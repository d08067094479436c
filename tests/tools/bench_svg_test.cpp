// render_bench_svg: the picture of a `ringload bench --json` document. Structure and content are
// checked here; how it reads is checked by eye: RINGLOAD_BENCH_SVG_DIR=some/dir makes every test
// write what it rendered there (realistic.svg is a full 8 GiB run), to open in a browser.
#include "bench_svg.hpp"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <vector>

#include <gtest/gtest.h>

#include "base/utf8.hpp"

namespace ringload::cli {
namespace {

using Json = nlohmann::ordered_json;

constexpr double kMiB = 1024.0 * 1024.0;
constexpr double kGiB = 1024.0 * kMiB;

Json run(double wall_s, double file_bytes, double peak_rss, double cache_pages, double anon_rss) {
  return Json{{"wall_s", wall_s},
              {"gb_per_s", file_bytes / wall_s / 1e9},
              {"time_to_first_tensor_s", 0.004},
              {"cpu_s_per_gb", 0.11},
              {"peak_rss", peak_rss},
              {"anon_rss_after", anon_rss},
              {"file_resident_pages_after", cache_pages},
              {"file_total_pages", file_bytes / 4096},
              {"zram_orig_delta", 0}};
}

// One result: `walls` are the runs' wall times; runs are listed in order, median/min/max by wall.
Json result(const std::string& strategy, const std::string& cache, std::vector<double> walls,
            double file_bytes, double peak_rss, double cache_pages, double ceiling_gbps) {
  Json runs = Json::array();
  for (std::size_t i = 0; i < walls.size(); ++i)
    runs.push_back(
        run(walls[i], file_bytes, peak_rss * (1 + 0.01 * static_cast<double>(i)), cache_pages, 12 * kMiB));
  std::sort(walls.begin(), walls.end());
  const double median_wall = walls[walls.size() / 2];
  return Json{{"strategy", strategy},
              {"ran_as", strategy},
              {"cache", cache},
              {"runs", runs},
              {"median", run(median_wall, file_bytes, peak_rss, cache_pages, 12 * kMiB)},
              {"min", run(walls.back(), file_bytes, peak_rss, cache_pages, 12 * kMiB)},
              {"max", run(walls.front(), file_bytes, peak_rss * 1.02, cache_pages, 12 * kMiB)},
              {"fraction_of_ceiling", file_bytes / median_wall / 1e9 / ceiling_gbps},
              {"x_read", nullptr},
              {"x_mmap", nullptr}};
}

Json header(const std::string& path, double file_bytes) {
  return Json{{"ringload_bench", 1},
              {"machine",
               {{"cpu", "Intel(R) Xeon(R) Platinum 8480+"},
                {"cores", 16},
                {"memory_bytes", 128 * kGiB},
                {"kernel", "6.18.0"},
                {"filesystem", "ext4"},
                {"device", "nvme0n1"}}},
              {"file",
               {{"path", path},
                {"format", "safetensors"},
                {"file_size", file_bytes},
                {"tensor_bytes", file_bytes - 65536},
                {"tensors", 291}}},
              {"sink", "host"},
              {"repeat", 3},
              {"started_utc", "2026-11-25T13:17:40Z"},
              {"ceilings",
               {{"odirect_qd32_gb_per_s", 2.71},
                {"mmap_touch_gb_per_s", 2.45},
                {"disk_gb_per_s", 2.71},
                {"memcpy_gb_per_s", 9.8},
                {"pinned_h2d_gb_per_s", nullptr}}}};
}

// The hand-made document: 2 strategies × cold/warm, 3 runs, a small timeline, a hostile path.
Json small_document() {
  const double file_bytes = 4 * kGiB;
  Json doc = header("/models/a<b&c>d/model.safetensors", file_bytes);
  Json results = Json::array();
  results.push_back(result("read", "cold", {2.9, 3.1, 3.0}, file_bytes, 4 * kGiB, 1048576, 2.71));
  results.push_back(result("read", "warm", {0.95, 1.0, 1.05}, file_bytes, 4 * kGiB, 1048576, 9.8));
  results.push_back(result("uring-direct", "cold", {1.66, 1.7, 1.75}, file_bytes, 134 * kMiB, 0, 2.71));
  results.push_back(result("uring-direct", "warm", {0.6, 0.62, 0.65}, file_bytes, 134 * kMiB, 3, 9.8));
  results[0]["x_read"] = 1.0;
  results[2]["x_read"] = 3.0 / 1.7;
  results[3]["x_read"] = 1.0 / 0.62;
  results[3]["ran_as"] = "uring";
  doc["results"] = results;
  Json spans = Json::array();
  for (int i = 0; i < 6; ++i) {
    const double t = 0.25 * i;
    spans.push_back(
        {{"stage", "read"}, {"start_s", t}, {"end_s", t + 0.3}, {"bytes", 4 << 20}, {"slot", i % 2}});
    spans.push_back(
        {{"stage", "copy"}, {"start_s", t + 0.3}, {"end_s", t + 0.32}, {"bytes", 4 << 20}, {"slot", i % 2}});
    spans.push_back({{"stage", "release"},
                     {"start_s", t + 0.32},
                     {"end_s", t + 0.321},
                     {"bytes", 4 << 20},
                     {"slot", i % 2}});
  }
  doc["timeline"] = {{"strategy", "uring-direct"}, {"cache", "cold"}, {"spans", spans}};
  return doc;
}

// What a real 8 GiB run looks like: every strategy, 5 runs, 2048 chunks on 8 slots.
Json realistic_document() {
  const double file_bytes = 8 * kGiB;
  Json doc = header("/data/models/Llama-3.1-8B-Instruct/model-00001-of-00004.safetensors", file_bytes);
  doc["repeat"] = 5;
  struct Strategy {
    const char* name;
    const char* ran_as;
    double cold_wall, warm_wall, peak, cache_pages_cold;
  };
  const Strategy strategies[] = {
      {"read", "read", 7.9, 1.55, 8 * kGiB + 9 * kMiB, 2097152},
      {"mmap", "mmap", 3.85, 1.30, 8 * kGiB + 4 * kMiB, 2097152},
      {"mmap-pipelined", "mmap-pipelined", 3.55, 1.02, 166 * kMiB, 6000},
      {"uring", "uring", 9.5, 1.01, 140 * kMiB, 300},
      {"uring-direct", "uring-direct", 3.25, 3.22, 134 * kMiB, 0},
      {"uring-dontcache", "uring-dontcache", 3.6, 1.0, 136 * kMiB, 12},
      {"auto", "uring-direct", 3.27, 3.24, 134 * kMiB, 0},
  };
  Json results = Json::array();
  double read_wall[2] = {0, 0}, mmap_wall[2] = {0, 0};
  for (const auto& s : strategies) {
    for (int c = 0; c < 2; ++c) {
      const double wall = c == 0 ? s.cold_wall : s.warm_wall;
      Json r = result(s.name, c == 0 ? "cold" : "warm",
                      {wall * 1.03, wall, wall * 0.98, wall * 1.06, wall * 0.99}, file_bytes, s.peak,
                      c == 0 ? s.cache_pages_cold : 2097152.0 * (s.peak > kGiB), c == 0 ? 2.71 : 9.8);
      r["ran_as"] = s.ran_as;
      if (std::string_view(s.name) == "read") read_wall[c] = wall;
      if (std::string_view(s.name) == "mmap") mmap_wall[c] = wall;
      r["x_read"] = read_wall[c] / wall;
      r["x_mmap"] = mmap_wall[c] > 0 ? Json(mmap_wall[c] / wall) : Json(nullptr);
      results.push_back(r);
    }
  }
  doc["results"] = results;
  Json spans = Json::array();
  const int chunks = 2048, slots = 8;
  const double read_s = 32 * 4 * kMiB / 2.65e9 / 4;  // QD8 of 4 MiB at 2.65 GB/s
  for (int i = 0; i < chunks; ++i) {
    const double start = 0.002 + (i / slots) * (slots * 4 * kMiB / 2.65e9) + (i % slots) * 0.0006;
    const double end = start + read_s;
    const double copy_end = end + 4 * kMiB / 9.8e9;
    spans.push_back(
        {{"stage", "read"}, {"start_s", start}, {"end_s", end}, {"bytes", 4 << 20}, {"slot", i % slots}});
    spans.push_back(
        {{"stage", "copy"}, {"start_s", end}, {"end_s", copy_end}, {"bytes", 4 << 20}, {"slot", i % slots}});
    if (i % 7 == 6)
      spans.push_back({{"stage", "release"},
                       {"start_s", copy_end},
                       {"end_s", copy_end + 0.00015},
                       {"bytes", 28 << 20},
                       {"slot", i % slots}});
  }
  doc["timeline"] = {{"strategy", "uring-direct"}, {"cache", "cold"}, {"spans", spans}};
  return doc;
}

// A minimal XML well-formedness check: tags nest and close, attributes are quoted, text holds no
// raw '<' and every '&' starts an entity.
::testing::AssertionResult well_formed(const std::string& svg) {
  std::vector<std::string> open;
  std::size_t i = 0;
  while (i < svg.size()) {
    if (svg[i] == '&') {
      const auto semi = svg.find(';', i);
      if (semi == std::string::npos || semi - i > 8)
        return ::testing::AssertionFailure() << "bare '&' at " << i << ": " << svg.substr(i, 40);
      i = semi + 1;
      continue;
    }
    if (svg[i] == '>') return ::testing::AssertionFailure() << "bare '>' in text at " << i;
    if (svg[i] != '<') {
      ++i;
      continue;
    }
    // A tag: find its end outside quoted attribute values.
    std::size_t j = i + 1;
    char quote = 0;
    for (; j < svg.size(); ++j) {
      if (quote != 0) {
        if (svg[j] == quote)
          quote = 0;
        else if (svg[j] == '<')
          return ::testing::AssertionFailure() << "'<' inside an attribute at " << j;
      } else if (svg[j] == '"' || svg[j] == '\'') {
        quote = svg[j];
      } else if (svg[j] == '>') {
        break;
      } else if (svg[j] == '<') {
        return ::testing::AssertionFailure() << "'<' inside a tag at " << j;
      }
    }
    if (j >= svg.size()) return ::testing::AssertionFailure() << "unterminated tag at " << i;
    std::string tag = svg.substr(i + 1, j - i - 1);
    const bool closing = !tag.empty() && tag[0] == '/';
    const bool self_closing = !tag.empty() && tag.back() == '/';
    std::string name = tag.substr(closing ? 1 : 0);
    name = name.substr(0, name.find_first_of(" \n/"));
    if (closing) {
      if (open.empty() || open.back() != name)
        return ::testing::AssertionFailure()
               << "</" << name << "> closes " << (open.empty() ? "nothing" : open.back());
      open.pop_back();
    } else if (!self_closing) {
      open.push_back(name);
    }
    i = j + 1;
  }
  if (!open.empty()) return ::testing::AssertionFailure() << "<" << open.back() << "> never closed";
  return ::testing::AssertionSuccess();
}

std::string render(const Json& doc, const std::string& name) {
  std::string svg = render_bench_svg(doc);
  if (const char* dir = std::getenv("RINGLOAD_BENCH_SVG_DIR"))
    std::ofstream(std::string(dir) + "/" + name + ".svg") << svg;
  return svg;
}

std::size_t count(const std::string& haystack, std::string_view needle) {
  std::size_t n = 0;
  for (auto at = haystack.find(needle); at != std::string::npos;
       at = haystack.find(needle, at + needle.size()))
    ++n;
  return n;
}

// The shape every rendering must have, whatever the document held.
void expect_clean_svg(const std::string& svg) {
  ASSERT_TRUE(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 1200 "))
      << svg.substr(0, 120);
  std::string trimmed = svg;
  while (!trimmed.empty() && std::isspace(static_cast<unsigned char>(trimmed.back()))) trimmed.pop_back();
  EXPECT_TRUE(trimmed.ends_with("</svg>"));
  EXPECT_TRUE(well_formed(svg));
  EXPECT_EQ(count(svg, "<g>") + count(svg, "<g "), count(svg, "</g>"));
  EXPECT_EQ(first_invalid_utf8(svg), std::nullopt);
  std::string lower = svg;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  EXPECT_EQ(lower.find("nan"), std::string::npos) << lower.substr(lower.find("nan") - 60, 120);
  EXPECT_EQ(lower.find("inf"), std::string::npos) << lower.substr(lower.find("inf") - 60, 120);
  EXPECT_EQ(svg.find("<script"), std::string::npos);
  EXPECT_EQ(svg.find("href"), std::string::npos);  // no external fonts, images or stylesheets
}

TEST(BenchSvg, HandMadeDocumentDrawsEveryStrategyAndTheEscapedPath) {
  const std::string svg = render(small_document(), "small");
  expect_clean_svg(svg);
  EXPECT_NE(svg.find(">read<"), std::string::npos);
  EXPECT_NE(svg.find(" uring-direct<"), std::string::npos);  // best: after its star
  EXPECT_NE(svg.find("/models/a&lt;b&amp;c&gt;d/model.safetensors"), std::string::npos);
  EXPECT_EQ(svg.find("a<b&c>d"), std::string::npos);
  EXPECT_NE(svg.find("ran as uring"), std::string::npos);
}

TEST(BenchSvg, TitleNamesFileSinkCacheModesRepeatsAndMachine) {
  const std::string svg = render_bench_svg(small_document());
  for (const char* expected : {"model.safetensors", "safetensors", "4.00 GiB", "sink host",
                               "cache cold + warm", "3 repeats", "Intel(R) Xeon(R) Platinum 8480+",
                               "16 cores", "kernel 6.18.0", "ext4 on nvme0n1", "2026-11-25T13:17:40Z"})
    EXPECT_NE(svg.find(expected), std::string::npos) << expected;
}

TEST(BenchSvg, BarsCarryMedianFractionRatiosAndCeilings) {
  const std::string svg = render_bench_svg(small_document());
  // uring-direct cold: 4 GiB in 1.7 s.
  EXPECT_NE(svg.find("2.53 GB/s"), std::string::npos);
  EXPECT_NE(svg.find("93% of disk"), std::string::npos);
  EXPECT_NE(svg.find("1.76×read"), std::string::npos);
  EXPECT_NE(svg.find("disk 2.71 GB/s (cold)"), std::string::npos);
  EXPECT_NE(svg.find("memcpy 9.80 GB/s (warm)"), std::string::npos);
  EXPECT_EQ(count(svg, "★</tspan>"), 2U);           // one best per cache mode
  EXPECT_EQ(svg.find("×mmap"), std::string::npos);  // x_mmap is null throughout
}

TEST(BenchSvg, MemoryUsesALogScaleWhenPeaksSpanMoreThanTwentyTimes) {
  const std::string svg = render_bench_svg(small_document());  // 134 MiB and 4 GiB peaks
  EXPECT_NE(svg.find("· log scale"), std::string::npos);
  EXPECT_NE(svg.find("peak 134 MiB"), std::string::npos);
  EXPECT_NE(svg.find("peak 4.00 GiB"), std::string::npos);
  EXPECT_NE(svg.find(">256 MiB<"), std::string::npos);  // a labelled power-of-two tick
  EXPECT_NE(svg.find("cache 4.00 GiB (100% of file)"), std::string::npos);
  EXPECT_NE(svg.find("cache 0 B (0% of file)"), std::string::npos);
}

TEST(BenchSvg, MemoryIsLinearWhenPeaksAreClose) {
  Json doc = small_document();
  doc["file"].erase("file_size");
  for (auto& r : doc["results"])
    for (const char* k : {"median", "min", "max"}) {
      r[k]["peak_rss"] = 300 * kMiB;
      r[k]["file_resident_pages_after"] = 0;
    }
  const std::string svg = render(doc, "linear");
  expect_clean_svg(svg);
  EXPECT_NE(svg.find(">300 MiB<"), std::string::npos);  // linear ticks in MiB
  EXPECT_EQ(svg.find("log scale"), std::string::npos);
}

TEST(BenchSvg, TimelineNamesTheStrategyAndHasThreeLanes) {
  const std::string svg = render_bench_svg(small_document());
  EXPECT_NE(svg.find("Timeline — one cold run of uring-direct · 18 spans"), std::string::npos);
  EXPECT_NE(svg.find(">read<"), std::string::npos);
  EXPECT_NE(svg.find(">copy<"), std::string::npos);
  EXPECT_NE(svg.find(">release<"), std::string::npos);
  EXPECT_NE(svg.find(">0.4 s<"), std::string::npos);  // a time tick, in seconds for a 1.6 s run
}

// Rectangles drawn for the timeline: subpaths of the span paths.
std::size_t span_rects(const std::string& svg) {
  std::size_t n = 0;
  for (auto at = svg.find("<path "); at != std::string::npos; at = svg.find("<path ", at + 1))
    n += count(svg.substr(at, svg.find("/>", at) - at), "M");
  return n;
}

TEST(BenchSvg, ThousandsOfSpansStaySmall) {
  const Json doc = realistic_document();
  const std::string svg = render(doc, "realistic");
  expect_clean_svg(svg);
  ASSERT_GT(doc["timeline"]["spans"].size(), 4000U);
  EXPECT_LT(svg.size(), 100U * 1024U);
  EXPECT_LT(span_rects(svg), doc["timeline"]["spans"].size());
  for (const char* name :
       {"read", "mmap", "mmap-pipelined", "uring", "uring-direct", "uring-dontcache", "auto"})
    EXPECT_NE(svg.find(std::string(">") + name + "<"), std::string::npos) << name;
}

TEST(BenchSvg, SubPixelSpansInALaneMergeIntoOneRect) {
  Json doc = small_document();
  Json spans = Json::array();
  for (int i = 0; i < 20000; ++i)  // 50 µs each, back to back: 1 s in all
    spans.push_back({{"stage", "copy"}, {"start_s", i * 50e-6}, {"end_s", (i + 1) * 50e-6}, {"slot", 0}});
  doc["timeline"]["spans"] = spans;
  const std::string svg = render(doc, "merged");
  expect_clean_svg(svg);
  EXPECT_EQ(span_rects(svg), 1U);
  EXPECT_LT(svg.size(), 32U * 1024U);
  EXPECT_NE(svg.find("20,000 spans · busy 100%"), std::string::npos);
}

TEST(BenchSvg, DocumentWithoutOptionalPartsRenders) {
  Json doc = small_document();
  doc.erase("timeline");
  doc.erase("machine");
  doc["ceilings"] = {
      {"disk_gb_per_s", nullptr}, {"memcpy_gb_per_s", "fast"}, {"pinned_h2d_gb_per_s", nullptr}};
  for (auto& r : doc["results"]) {
    r.erase("fraction_of_ceiling");
    r.erase("runs");
    r["max"] = nullptr;
    r["median"].erase("peak_rss");
    r["median"]["file_resident_pages_after"] = "many";
  }
  const std::string svg = render(doc, "sparse");
  expect_clean_svg(svg);
  EXPECT_NE(svg.find("no timeline recorded"), std::string::npos);
  EXPECT_NE(svg.find("uring-direct<"), std::string::npos);
  EXPECT_NE(svg.find("disk — · memcpy —"), std::string::npos);
}

TEST(BenchSvg, EmptyOrForeignDocumentsRender) {
  int n = 0;
  for (const Json& doc : {Json(), Json::array({1, 2}), Json{{"ringload_bench", 1}}, Json{{"results", 7}},
                          Json{{"ringload_bench", 1},
                               {"results", Json::array({nullptr, 3, Json::object()})},
                               {"timeline", {{"spans", Json::array({{{"stage", "read"}}, 5})}}}}}) {
    const std::string svg = render(doc, "foreign" + std::to_string(n++));
    expect_clean_svg(svg);
  }
  EXPECT_NE(render_bench_svg(Json::array()).find("not a ringload bench document"), std::string::npos);
  EXPECT_NE(render_bench_svg(Json::object()).find("no results in this document"), std::string::npos);
}

TEST(BenchSvg, NonFiniteNumbersAndHostileTextAreNeverPrinted) {
  Json doc = small_document();
  const double nan = std::numeric_limits<double>::quiet_NaN(), inf = std::numeric_limits<double>::infinity();
  doc["results"][0]["median"]["gb_per_s"] = nan;
  doc["results"][1]["max"]["gb_per_s"] = inf;
  doc["results"][2]["x_read"] = -inf;
  doc["results"][3]["median"]["peak_rss"] = inf;
  doc["ceilings"]["disk_gb_per_s"] = nan;
  doc["timeline"]["spans"][0]["end_s"] = inf;
  doc["file"]["path"] = std::string("/tmp/\x01weird\xFF\"name'.gguf");
  doc["results"][0]["strategy"] = "<script>alert(1)</script>";
  doc["results"][1]["median"]["gb_per_s"] = 1.7e308;  // huge but finite: scaling must not overflow
  doc["results"][1]["median"]["peak_rss"] = 1.7e308;
  doc["file"]["tensors"] = -1234;
  doc["timeline"]["spans"][1]["slot"] = 1e30;
  doc["machine"]["cpu"] = "x\xEF\xBF\xBEy";  // U+FFFE: valid UTF-8, not an XML character
  const std::string svg = render(doc, "hostile");
  expect_clean_svg(svg);
  EXPECT_NE(svg.find("&lt;script&gt;"), std::string::npos);
  EXPECT_NE(svg.find("weird\xEF\xBF\xBD&quot;name&apos;.gguf"), std::string::npos);
  EXPECT_NE(svg.find("x\xEF\xBF\xBDy"), std::string::npos);
  EXPECT_NE(svg.find("-1,234 tensors"), std::string::npos);
}

TEST(BenchSvg, SpansOutsideTheStagesOrBackwardsAreSkipped) {
  Json doc = small_document();
  doc["timeline"]["spans"] = Json::array({{{"stage", "decode"}, {"start_s", 0}, {"end_s", 1}},
                                          {{"stage", "read"}, {"start_s", 2}, {"end_s", 1}},
                                          {{"stage", "copy"}, {"start_s", 0}, {"end_s", 0.5}, {"slot", 3}}});
  const std::string svg = render_bench_svg(doc);
  expect_clean_svg(svg);
  EXPECT_NE(svg.find("· 1 span over 500 ms"), std::string::npos);
}

// A --memory-limit 1 GiB --zram 4 GiB --hold 20 run of a 4 GiB model: read holds its heap copy, most
// of it in zram; uring-direct holds nothing; mmap was OOM-killed in every run.
Json pressure_document() {
  Json doc = small_document();
  doc["pressure"] = {
      {"memory_limit_bytes", 1 * kGiB},
      {"cgroup", "v1"},
      {"cgroup_parent", "/bench"},
      {"zram",
       {{"device", "/dev/zram0"}, {"disksize", 4 * kGiB}, {"comp_algorithm", "lz4"}, {"hot_added", false}}},
      {"hold_s", 20}};
  auto held = [](Json& run, double anon, double swap, double peak, double cache_peak) {
    run["anon_rss_bytes"] = anon;
    run["swap_bytes"] = swap;
    run["zram_orig_delta"] = swap;
    run["zram_compr_delta"] = swap * 1.001;
    run["zram_mem_used_delta"] = swap * 1.01;
    run["cgroup_peak_bytes"] = peak;
    run["cgroup_file_bytes_peak"] = cache_peak;
    run["oom_killed"] = false;
  };
  Json& results = doc["results"];
  for (const char* k : {"median", "min", "max"}) {
    held(results[0][k], 1 * kGiB - 20 * kMiB, 3 * kGiB + 20 * kMiB, 1 * kGiB, 90 * kMiB);
    held(results[2][k], 1 * kMiB, 0, 134 * kMiB, 16 * 1024);
  }
  for (auto& run : results[0]["runs"]) run["oom_killed"] = false;
  Json oom = results[1];  // read warm stands in for an mmap row that never finished
  oom["strategy"] = "mmap";
  for (auto& run : oom["runs"]) {
    run["oom_killed"] = true;
    run["gb_per_s"] = nullptr;
  }
  for (const char* k : {"median", "min", "max"}) {
    oom[k]["gb_per_s"] = nullptr;
    oom[k]["cgroup_peak_bytes"] = 1 * kGiB;
  }
  results[1] = oom;
  return doc;
}

TEST(BenchSvg, PressurePanelShowsHeldMemoryZramTheLimitAndOomKills) {
  const std::string svg = render(pressure_document(), "pressure");
  expect_clean_svg(svg);
  EXPECT_NE(
      svg.find("Memory pressure — limit 1.00 GiB per run (cgroup v1) · zram swap 4.00 GiB lz4 · each child "
               "held 20 s after its load"),
      std::string::npos);
  EXPECT_NE(svg.find("held 4.00 GiB"), std::string::npos);  // read: 1 GiB - 20 MiB in RAM + the rest swapped
  EXPECT_NE(svg.find("RAM 1004 MiB · swapped 3.02 GiB"), std::string::npos);
  EXPECT_NE(svg.find("zram +3.02 GiB (RAM +3.05 GiB)"), std::string::npos);
  EXPECT_NE(svg.find("held 1.00 MiB"), std::string::npos);  // uring-direct: its own few pages
  EXPECT_NE(svg.find("cgroup peak 134 MiB"), std::string::npos);
  EXPECT_EQ(count(svg, "OOM-killed (3/3 runs)"), 2U);  // in the throughput column and in the panel
  EXPECT_NE(svg.find(">1 GiB<"), std::string::npos);   // a tick at the limit's scale
  EXPECT_NE(svg.find("stroke-dasharray=\"4 3\""), std::string::npos);  // the limit line
}

TEST(BenchSvg, NoPressurePanelWithoutPressure) {
  Json doc = pressure_document();
  doc["pressure"] = {{"memory_limit_bytes", nullptr}, {"cgroup", nullptr}, {"zram", nullptr}, {"hold_s", 0}};
  EXPECT_EQ(render_bench_svg(doc).find("Memory pressure"), std::string::npos);
  doc.erase("pressure");  // documents from before the pressure flags
  EXPECT_EQ(render_bench_svg(doc).find("Memory pressure"), std::string::npos);
  doc["pressure"] = {{"hold_s", 5}};  // a hold alone is pressure enough to show what was held
  EXPECT_NE(render_bench_svg(doc).find("Memory pressure — each child held 5 s"), std::string::npos);
}

}  // namespace
}  // namespace ringload::cli
