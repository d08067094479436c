// `ringload bench --peers`: the rows a peer adds, its report read into a run's figures (what it
// cannot give is null, never 0), where its scripts and installation are found, and the one-line
// refusals when node or npm is missing. Loading in llama.cpp itself is
// tests/tools/llama_cpp_test.sh's job (it needs npm and the registry).
#include "bench_peers.hpp"

#include <sys/stat.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>

#include <gtest/gtest.h>

#include "bench_stats.hpp"
#include "bench_svg.hpp"
#include "support/temp_dir.hpp"

namespace ringload::cli::bench {
namespace {

namespace fs = std::filesystem;
using test::TempDir;

// Sets an environment variable for the test's duration (the code reads PATH, HOME, ...).
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const std::string& value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    ::setenv(name, value.c_str(), 1);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;
  ~ScopedEnv() {
    if (old_) {
      ::setenv(name_, old_->c_str(), 1);
    } else {
      ::unsetenv(name_);
    }
  }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

void write_text(const fs::path& path, const std::string& text) {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << text;
}

// An executable script named `name` in `dir`: a stand-in for node or npm running `body`.
void fake_program(const fs::path& dir, const char* name, const std::string& body = "exit 0\n") {
  write_text(dir / name, "#!/bin/sh\n" + body);
  ::chmod((dir / name).c_str(), 0755);
}

constexpr std::string_view kReport =
    R"({"peer":"llama.cpp","mode":"mmap","load_s":2.5,"cpu_s":1.25,"peak_rss":3000000000,)"
    R"("anon_rss_after":90000000,"model_size":5000000000,"tensor_count":84})";

TEST(BenchPeers, LlamaCppRunsItsThreeModesInOrder) {
  const std::vector<std::string> peers{"llama.cpp"};
  auto modes = peer_modes(peers);
  ASSERT_TRUE(modes) << modes.error().to_string();
  ASSERT_EQ(modes->size(), 3U);
  EXPECT_EQ((*modes)[0].row_name(), "llama.cpp:no-mmap");
  EXPECT_EQ((*modes)[1].row_name(), "llama.cpp:direct-io");
  EXPECT_EQ((*modes)[2].row_name(), "llama.cpp:mmap");
}

TEST(BenchPeers, UnknownPeerIsInvalidArgumentNamingIt) {
  const std::vector<std::string> peers{"llama.cpp", "vllm"};
  auto modes = peer_modes(peers);
  ASSERT_FALSE(modes);
  EXPECT_EQ(modes.error().kind, ErrorKind::invalid_argument);
  EXPECT_NE(modes.error().message.find("vllm"), std::string::npos);
}

TEST(BenchPeers, ReportBecomesTheRunsFiguresWithNullWhereAPeerHasNone) {
  // Stray output before the JSON line is ignored.
  const std::string out = "llama.cpp says hello\n" + std::string(kReport) + "\n";
  const std::uint64_t tensor_bytes = 5'000'000'000;
  auto report = parse_peer_report(out, tensor_bytes);
  ASSERT_TRUE(report) << report.error().to_string();
  const RunFigures& f = report->figures;
  EXPECT_EQ(f.wall_s, 2.5);
  EXPECT_EQ(f.gb_per_s, 2.0);       // 5 GB / 2.5 s
  EXPECT_EQ(f.cpu_s_per_gb, 0.25);  // 1.25 CPU-s / 5 GB
  EXPECT_EQ(f.peak_rss, 3e9);
  EXPECT_EQ(f.anon_rss_after, 9e7);
  EXPECT_TRUE(std::isnan(f.time_to_first_tensor_s));
  EXPECT_EQ(report->ran_as, "llama.cpp:mmap");
  const Json run = run_json(f);
  EXPECT_TRUE(run.at("time_to_first_tensor_s").is_null());
  EXPECT_EQ(run.at("wall_s"), 2.5);
}

TEST(BenchPeers, ReportWithoutLoadSecondsIsMalformedNamingTheField) {
  auto report = parse_peer_report(R"({"peer":"llama.cpp","mode":"mmap","cpu_s":1})", 100);
  ASSERT_FALSE(report);
  EXPECT_EQ(report.error().kind, ErrorKind::malformed_header);
  EXPECT_NE(report.error().message.find("load_s"), std::string::npos);
  EXPECT_FALSE(parse_peer_report("not json", 100));
}

TEST(BenchPeers, SummaryOfAFieldSomeRunLacksIsNull) {
  RunFigures a;
  a.wall_s = 1;
  a.time_to_first_tensor_s = kNotMeasured;
  RunFigures b;
  b.wall_s = 3;
  b.time_to_first_tensor_s = kNotMeasured;
  const std::vector<RunFigures> runs{a, b};
  const Summary s = summarize(runs);
  EXPECT_EQ(s.median.wall_s, 2.0);
  EXPECT_EQ(s.min.wall_s, 1.0);
  EXPECT_TRUE(std::isnan(s.median.time_to_first_tensor_s));
  EXPECT_TRUE(std::isnan(s.max.time_to_first_tensor_s));
}

TEST(BenchPeers, TableShowsAFailedPeerRowWithItsReason) {
  const Json doc{{"results", Json::array({Json{{"strategy", "llama.cpp:mmap"},
                                               {"peer", true},
                                               {"ran_as", "llama.cpp:mmap"},
                                               {"cache", "cold"},
                                               {"runs", Json::array()},
                                               {"median", nullptr},
                                               {"failure", "exit 1: wrong number of tensors"}}})}};
  const std::string table = format_table(doc, {});
  EXPECT_NE(table.find("llama.cpp:mmap"), std::string::npos);
  EXPECT_NE(table.find("FAILED: exit 1: wrong number of tensors"), std::string::npos);
}

TEST(BenchPeers, SvgDrawsPeerBarsPaleAndSaysWhyAPeerFailed) {
  RunFigures f;
  f.wall_s = 2;
  f.gb_per_s = 1.5;
  f.peak_rss = 4e9;
  f.time_to_first_tensor_s = kNotMeasured;
  const Json run = run_json(f);
  const Json doc{{"ringload_bench", 1},
                 {"results", Json::array({Json{{"strategy", "llama.cpp:no-mmap"},
                                               {"peer", true},
                                               {"ran_as", "llama.cpp:no-mmap"},
                                               {"cache", "cold"},
                                               {"runs", Json::array({run})},
                                               {"median", run},
                                               {"min", run},
                                               {"max", run}},
                                          Json{{"strategy", "llama.cpp:mmap"},
                                               {"peer", true},
                                               {"cache", "cold"},
                                               {"runs", Json::array()},
                                               {"median", nullptr},
                                               {"failure", "exit 1: unknown model architecture"}}})}};
  const std::string svg = render_bench_svg(doc);
  EXPECT_NE(svg.find("fill-opacity=\"0.45\""), std::string::npos);
  EXPECT_NE(svg.find(" no-mmap</text>"), std::string::npos) << "the mode names the row";
  EXPECT_NE(svg.find(" · llama.cpp<"), std::string::npos) << "the peer under it";
  EXPECT_NE(svg.find("failed: exit 1: unknown model architecture"), std::string::npos);
  EXPECT_EQ(svg.find("nan"), std::string::npos);
}

TEST(BenchPeers, ScriptsComeFromRingloadPeersDirWhenSet) {
  TempDir dir;
  write_text(dir.file("llama_cpp") / "load.mjs", "// stand-in\n");
  const ScopedEnv env("RINGLOAD_PEERS_DIR", dir.path().string());
  auto found = find_peer_scripts("/nonexistent/bin/ringload");
  ASSERT_TRUE(found) << found.error().to_string();
  EXPECT_EQ(*found, dir.path());
  const ScopedEnv empty("RINGLOAD_PEERS_DIR", dir.file("nothing-here").string());
  auto missing = find_peer_scripts("/nonexistent/bin/ringload");
  ASSERT_FALSE(missing);
  EXPECT_EQ(missing.error().kind, ErrorKind::not_found);
}

TEST(BenchPeers, BuildTreeBinaryFindsTheSourceTreesScripts) {
  auto found = find_peer_scripts("/nonexistent/build/tools/ringload/ringload");
  ASSERT_TRUE(found) << found.error().to_string();
  EXPECT_TRUE(fs::is_regular_file(*found / "llama_cpp" / "package-lock.json"));
  EXPECT_TRUE(fs::is_regular_file(*found / "llama_cpp" / "load.mjs"));
}

TEST(BenchPeers, InstalledLayoutWinsOverTheSourceTree) {
  TempDir dir;  // prefix/bin/ringload and prefix/share/ringload/peers
  write_text(dir.file("share") / "ringload" / "peers" / "llama_cpp" / "load.mjs", "// installed\n");
  auto found = find_peer_scripts(dir.file("bin") / "ringload");
  ASSERT_TRUE(found) << found.error().to_string();
  EXPECT_EQ(fs::canonical(*found), fs::canonical(dir.file("share") / "ringload" / "peers"));
}

TEST(BenchPeers, CacheIsUnderXdgCacheHomeElseHome) {
  {
    const ScopedEnv xdg("XDG_CACHE_HOME", "/var/cache/someone");
    EXPECT_EQ(*peer_cache_dir("llama_cpp"), fs::path("/var/cache/someone/ringload/peers/llama_cpp"));
  }
  const ScopedEnv xdg("XDG_CACHE_HOME", "");
  const ScopedEnv home("HOME", "/home/someone");
  EXPECT_EQ(*peer_cache_dir("llama_cpp"), fs::path("/home/someone/.cache/ringload/peers/llama_cpp"));
}

TEST(BenchPeers, WithoutNodeOnPathTheInstallRefusesNamingNode) {
  TempDir dir;
  const ScopedEnv path("PATH", dir.file("empty-bin").string());
  const ScopedEnv cache("XDG_CACHE_HOME", dir.file("cache").string());
  auto install = ensure_peer_installed("llama.cpp", "/nonexistent/build/tools/ringload/ringload");
  ASSERT_FALSE(install);
  EXPECT_EQ(install.error().kind, ErrorKind::not_found);
  EXPECT_NE(install.error().message.find("node is not on PATH"), std::string::npos)
      << install.error().message;
  EXPECT_FALSE(fs::exists(dir.file("cache"))) << "nothing installed, nothing created";
}

TEST(BenchPeers, WithoutNpmAFirstUseRefusesNamingNpmAndCreatesNothing) {
  TempDir dir;
  fake_program(dir.file("bin"), "node");
  const ScopedEnv path("PATH", dir.file("bin").string());
  const ScopedEnv cache("XDG_CACHE_HOME", dir.file("cache").string());
  auto install = ensure_peer_installed("llama.cpp", "/nonexistent/build/tools/ringload/ringload");
  ASSERT_FALSE(install);
  EXPECT_EQ(install.error().kind, ErrorKind::not_found);
  EXPECT_NE(install.error().message.find("npm is not on PATH"), std::string::npos) << install.error().message;
  EXPECT_EQ(install.error().message.find('\n'), std::string::npos) << "one line";
  EXPECT_FALSE(fs::exists(dir.file("cache")));
}

TEST(BenchPeers, FirstUseRunsNpmCiWithoutOptionalPackagesIntoTheCache) {
  TempDir dir;
  fake_program(dir.file("bin"), "node");
  // npm ci --prefix DIR ...: records its arguments and installs a stand-in package.
  fake_program(dir.file("bin"), "npm",
               "echo \"$@\" > \"$3/npm-args\"\n/bin/mkdir -p \"$3/node_modules/node-llama-cpp\"\n");
  const ScopedEnv path("PATH", dir.file("bin").string());
  const ScopedEnv cache("XDG_CACHE_HOME", dir.file("cache").string());
  const fs::path exe = "/nonexistent/build/tools/ringload/ringload";
  auto install = ensure_peer_installed("llama.cpp", exe);
  ASSERT_TRUE(install) << install.error().to_string();
  EXPECT_TRUE(install->installed_now);
  const fs::path installed = dir.file("cache") / "ringload" / "peers" / "llama_cpp";
  std::ifstream args_file(installed / "npm-args");
  std::string args;
  std::getline(args_file, args);
  EXPECT_EQ(args.rfind("ci --prefix " + installed.string(), 0), 0U) << args;
  EXPECT_NE(args.find("--omit=optional"), std::string::npos) << args;
  for (const char* file : {"package.json", "package-lock.json", "load.mjs"}) {
    EXPECT_TRUE(fs::is_regular_file(installed / file)) << file;
  }
  // Installed: the second use runs no npm (a failing one would fail it).
  fake_program(dir.file("bin"), "npm", "exit 1\n");
  auto again = ensure_peer_installed("llama.cpp", exe);
  ASSERT_TRUE(again) << again.error().to_string();
  EXPECT_FALSE(again->installed_now);
}

TEST(BenchPeers, FailingNpmCiIsOneLineWithNpmsReasonAndTheLog) {
  TempDir dir;
  fake_program(dir.file("bin"), "node");
  fake_program(dir.file("bin"), "npm",
               "echo 'npm error code ECONNREFUSED'\n"
               "echo 'npm error FetchError: request to http://registry.test/x failed, reason: refused'\n"
               "echo 'npm error     at ClientRequest.<anonymous> (index.js:1:1)'\nexit 1\n");
  const ScopedEnv path("PATH", dir.file("bin").string());
  const ScopedEnv cache("XDG_CACHE_HOME", dir.file("cache").string());
  auto install = ensure_peer_installed("llama.cpp", "/nonexistent/build/tools/ringload/ringload");
  ASSERT_FALSE(install);
  EXPECT_EQ(install.error().kind, ErrorKind::io);
  const std::string& message = install.error().message;
  EXPECT_NE(message.find("FetchError: request to http://registry.test/x failed"), std::string::npos)
      << message;
  EXPECT_NE(message.find("npm-ci.log"), std::string::npos) << message;
  EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
  EXPECT_FALSE(
      fs::exists(dir.file("cache") / "ringload" / "peers" / "llama_cpp" / ".ringload-installed-lock.json"));
}

TEST(BenchPeers, AnInstalledCacheNeedsNoNpmAndGetsTheCurrentLoader) {
  TempDir dir;
  fake_program(dir.file("bin"), "node");
  const ScopedEnv path("PATH", dir.file("bin").string());
  const ScopedEnv cache("XDG_CACHE_HOME", dir.file("cache").string());
  const fs::path exe = "/nonexistent/build/tools/ringload/ringload";
  const fs::path scripts = *find_peer_scripts(exe) / "llama_cpp";
  const fs::path installed = dir.file("cache") / "ringload" / "peers" / "llama_cpp";
  fs::create_directories(installed / "node_modules" / "node-llama-cpp");
  fs::copy_file(scripts / "package-lock.json", installed / ".ringload-installed-lock.json");
  auto install = ensure_peer_installed("llama.cpp", exe);
  ASSERT_TRUE(install) << install.error().to_string();
  EXPECT_FALSE(install->installed_now);
  EXPECT_EQ(install->node, dir.file("bin") / "node");
  EXPECT_EQ(install->script, installed / "load.mjs");
  EXPECT_TRUE(fs::is_regular_file(install->script));
  const PeerCommand command = peer_command(*install, PeerMode{"llama.cpp", "direct-io"}, "/m/model.gguf");
  EXPECT_EQ(command.exe, (dir.file("bin") / "node").string());
  EXPECT_EQ(command.args, (std::vector<std::string>{install->script.string(), "/m/model.gguf", "direct-io"}));

  // A changed lockfile means a reinstall, which needs npm.
  std::ofstream(installed / ".ringload-installed-lock.json") << "{}";
  auto stale = ensure_peer_installed("llama.cpp", exe);
  ASSERT_FALSE(stale);
  EXPECT_NE(stale.error().message.find("npm"), std::string::npos);
}

}  // namespace
}  // namespace ringload::cli::bench
