#include "bench_peers.hpp"

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "base/json.hpp"
#include "io/file.hpp"
#include "peers_config.hpp"

extern char** environ;  // NOLINT(readability-redundant-declaration): posix_spawn's envp

namespace ringload::cli::bench {
namespace {

namespace fs = std::filesystem;

// What a peer is made of: the directory its scripts live in (under bench/peers/), the package it
// installs, and its modes in run order.
struct PeerSpec {
  std::string_view name;
  std::string_view dir_name;
  std::string_view package;  // for messages
  std::array<std::string_view, 3> modes;
};

constexpr std::array<PeerSpec, 1> kPeers{{
    {"llama.cpp", "llama_cpp", "node-llama-cpp 3.21.1", {"no-mmap", "direct-io", "mmap"}},
}};
constexpr std::array<std::string_view, 1> kPeerNames{"llama.cpp"};

// Files of a peer's scripts directory: what npm ci installs from, and the loader it runs.
constexpr std::array<std::string_view, 2> kPackageFiles{"package.json", "package-lock.json"};
constexpr std::string_view kLoaderScript = "load.mjs";
// A copy of the lockfile npm ci last installed successfully: the installation is current when it
// equals the scripts' lockfile.
constexpr std::string_view kInstalledLock = ".ringload-installed-lock.json";

const PeerSpec* find_spec(std::string_view name) {
  const auto* it =
      std::find_if(kPeers.begin(), kPeers.end(), [&](const PeerSpec& p) { return p.name == name; });
  return it == kPeers.end() ? nullptr : &*it;
}

Result<std::string> read_text(const fs::path& path) {
  const std::vector<std::byte> bytes = RINGLOAD_TRY(read_file(path));
  return std::string(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

Result<void> write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << text;
  out.close();
  if (!out) return sys_error(errno != 0 ? errno : EIO, "cannot write", path.string());
  return {};
}

// The first executable `name` on $PATH, as execvp would find it; nullopt when there is none.
std::optional<fs::path> find_on_path(std::string_view name) {
  const char* path = std::getenv("PATH");
  if (path == nullptr) return std::nullopt;
  std::istringstream dirs{std::string(path)};
  for (std::string dir; std::getline(dirs, dir, ':');) {
    const fs::path candidate = (dir.empty() ? fs::path(".") : fs::path(dir)) / name;
    std::error_code ec;
    if (fs::is_regular_file(candidate, ec) && ::access(candidate.c_str(), X_OK) == 0) {
      return fs::absolute(candidate, ec);
    }
  }
  return std::nullopt;
}

// npm's line that says what went wrong: its "...Error: ..." line ("FetchError: request to ... failed,
// reason: connect ECONNREFUSED"), else its first error line that is not a bare code, else its last
// line. Its stack, "code"/"errno" lines and log-file hints say less.
std::string npm_error_line(const std::string& log) {
  std::istringstream lines(log);
  std::string last;
  std::string first_error;
  for (std::string line; std::getline(lines, line);) {
    if (line.empty()) continue;
    last = line;
    for (std::string_view prefix : {"npm error ", "npm ERR! "}) {
      if (line.rfind(prefix, 0) != 0) continue;
      std::string text = line.substr(prefix.size());
      if (text.find("Error: ") != std::string::npos) return text;
      const bool bare = text.empty() || text[0] == ' ' || text.rfind("code ", 0) == 0 ||
                        text.rfind("errno ", 0) == 0 || text.rfind("syscall ", 0) == 0;
      if (first_error.empty() && !bare) first_error = text;
    }
  }
  return first_error.empty() ? last : first_error;
}

// Runs `npm ci` for the package in `dir` with its output in `log` and waits; the exit status.
Result<int> run_npm_ci(const fs::path& npm, const fs::path& dir, const fs::path& log) {
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (log_fd < 0) return sys_error(errno, "cannot create the npm log", log.string());
  const UniqueFd log_owner(log_fd);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDOUT_FILENO);
  posix_spawn_file_actions_adddup2(&actions, log_fd, STDERR_FILENO);
  // Only the package and the CPU build (an explicit dependency): --omit=optional leaves out the
  // CUDA, Vulkan, macOS and Windows builds. --ignore-scripts: node-llama-cpp's postinstall would
  // only check for (or try to build) binaries the prebuilt package already holds.
  std::vector<std::string> argv_storage{
      npm.string(),       "ci",         "--prefix",  dir.string(),        "--omit=optional",
      "--ignore-scripts", "--no-audit", "--no-fund", "--fetch-retries=1", "--loglevel=error"};
  std::vector<char*> argv;
  argv.reserve(argv_storage.size() + 1);
  for (auto& a : argv_storage) argv.push_back(a.data());
  argv.push_back(nullptr);
  pid_t pid = 0;
  const int rc = ::posix_spawn(&pid, npm.c_str(), &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return sys_error(rc, "cannot start npm", npm.string());
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

Error unavailable(std::string message) { return make_error(ErrorKind::not_found, std::move(message)); }

std::optional<double> number_in(const Json& doc, const char* key) {
  const auto it = doc.find(key);
  if (it == doc.end() || !it->is_number()) return std::nullopt;
  return it->get<double>();
}

}  // namespace

std::span<const std::string_view> known_peers() noexcept { return kPeerNames; }

Result<std::vector<PeerMode>> peer_modes(std::span<const std::string> peers) {
  std::vector<PeerMode> rows;
  for (const std::string& name : peers) {
    const PeerSpec* spec = find_spec(name);
    if (spec == nullptr) {
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("--peers: no peer '{}' (known: {})", name, fmt::join(kPeerNames, ", ")));
    }
    for (std::string_view mode : spec->modes)
      rows.push_back(PeerMode{std::string(spec->name), std::string(mode)});
  }
  return rows;
}

Result<fs::path> find_peer_scripts(const fs::path& exe) {
  std::vector<fs::path> looked;
  const auto has_peers = [&looked](const fs::path& dir) {
    looked.push_back(dir);
    std::error_code ec;
    return fs::is_regular_file(dir / kPeers[0].dir_name / kLoaderScript, ec);
  };
  if (const char* env = std::getenv("RINGLOAD_PEERS_DIR"); env != nullptr && *env != '\0') {
    if (has_peers(env)) return fs::path(env);
    return unavailable(
        fmt::format("RINGLOAD_PEERS_DIR={} holds no {}/{}", env, kPeers[0].dir_name, kLoaderScript));
  }
  // The installed layout first (bin/ringload beside share/ringload/peers), so an installed binary
  // never runs the scripts of whatever source tree it happened to be built in; a build-tree binary
  // has none beside it and takes its own source tree's, never an older installation's.
  if (!kPeersFromBindir.empty()) {
    const fs::path beside = (exe.parent_path() / kPeersFromBindir).lexically_normal();
    if (has_peers(beside)) return beside;
  }
  if (has_peers(kPeersSourceDir)) return fs::path(kPeersSourceDir);
  if (has_peers(kPeersInstallDir)) return fs::path(kPeersInstallDir);
  std::string places;
  for (const fs::path& p : looked) places += (places.empty() ? "" : ", ") + p.string();
  return unavailable(
      fmt::format("no peer scripts found (looked in {}); reinstall ringload or set "
                  "RINGLOAD_PEERS_DIR to its bench/peers",
                  places));
}

Result<fs::path> peer_cache_dir(std::string_view dir_name) {
  fs::path base;
  if (const char* xdg = std::getenv("XDG_CACHE_HOME"); xdg != nullptr && *xdg == '/') {
    base = xdg;
  } else if (const char* home = std::getenv("HOME"); home != nullptr && *home != '\0') {
    base = fs::path(home) / ".cache";
  } else {
    return unavailable("neither XDG_CACHE_HOME nor HOME is set: no cache directory to install peers into");
  }
  return base / "ringload" / "peers" / dir_name;
}

Result<PeerInstall> ensure_peer_installed(std::string_view peer, const fs::path& exe) {
  const PeerSpec* spec = find_spec(peer);
  if (spec == nullptr) return make_error(ErrorKind::invalid_argument, fmt::format("no peer '{}'", peer));
  const fs::path scripts = RINGLOAD_TRY(find_peer_scripts(exe)) / spec->dir_name;
  const fs::path dir = RINGLOAD_TRY(peer_cache_dir(spec->dir_name));

  PeerInstall install{std::string(peer), {}, dir / kLoaderScript, dir, false};
  const auto node = find_on_path("node");
  if (!node) {
    return unavailable(
        fmt::format("--peers {} runs {} under Node.js, but node is not on PATH; install Node.js "
                    "20 or newer (with npm) or leave out --peers",
                    peer, spec->package));
  }
  install.node = *node;

  const std::string lock = RINGLOAD_TRY(read_text(scripts / "package-lock.json"));
  auto installed_lock = read_text(dir / kInstalledLock);
  std::error_code ec;
  const bool current = installed_lock && *installed_lock == lock &&
                       fs::is_directory(dir / "node_modules" / "node-llama-cpp", ec);
  if (!current) {
    const auto npm = find_on_path("npm");
    if (!npm) {
      return unavailable(
          fmt::format("--peers {} installs {} with npm on first use, but npm is not on PATH; "
                      "install Node.js 20 or newer with npm, or leave out --peers",
                      peer, spec->package));
    }
    fs::create_directories(dir, ec);
    if (ec) return sys_error(ec.value(), "cannot create the peer cache directory", dir.string());
    fs::remove(dir / kInstalledLock, ec);
    for (std::string_view file : kPackageFiles) {
      fs::copy_file(scripts / file, dir / file, fs::copy_options::overwrite_existing, ec);
      if (ec)
        return sys_error(ec.value(), fmt::format("cannot copy {} into the peer cache", file), dir.string());
    }
    const fs::path log = dir / "npm-ci.log";
    const int status = RINGLOAD_TRY(run_npm_ci(*npm, dir, log));
    if (status != 0) {
      const auto output = read_text(log);
      Error e = make_error(ErrorKind::io,
                           fmt::format("npm ci could not install {} into {} (is the npm registry "
                                       "reachable?): {} (log: {})",
                                       spec->package, dir.string(),
                                       output ? npm_error_line(*output) : "(no output)", log.string()));
      return e;
    }
    RINGLOAD_TRY_VOID(write_text(dir / kInstalledLock, lock));
    install.installed_now = true;
  }
  // The loader is copied on every run (it is tiny): a changed script needs no reinstall, and
  // beside node_modules its `import "node-llama-cpp"` resolves to the installed package.
  fs::copy_file(scripts / kLoaderScript, install.script, fs::copy_options::overwrite_existing, ec);
  if (ec) return sys_error(ec.value(), "cannot copy the peer's loader script into its cache", dir.string());
  return install;
}

std::string peer_note(const PeerInstall& install) {
  const PeerSpec* spec = find_spec(install.peer);
  return fmt::format(
      "{0}:* rows: {0}'s own loader ({1}, its prebuilt CPU build, no layer on a GPU), a fresh node process "
      "per run{2}; wall = its loadModel call, peak RSS = the whole process (Node.js included), page cache "
      "counted after it exited",
      install.peer, spec != nullptr ? spec->package : "",
      install.installed_now ? ", installed now with npm ci" : "");
}

PeerCommand peer_command(const PeerInstall& install, const PeerMode& mode, const fs::path& model) {
  return PeerCommand{install.node.string(),
                     {install.script.string(), fs::absolute(model).string(), mode.mode}};
}

Result<ChildReport> parse_peer_report(std::string_view json_text, std::uint64_t tensor_bytes) {
  // The script prints one JSON line last; anything before it (a library's stray output) is noise.
  const std::size_t start = json_text.rfind("\n{");
  const std::string_view line = start == std::string_view::npos ? json_text : json_text.substr(start + 1);
  const Json doc = RINGLOAD_TRY(parse_json(line, 0));
  if (!doc.is_object())
    return make_error(ErrorKind::malformed_header, "the peer's report is not a JSON object", 0);
  ChildReport report;
  const auto need = [&doc](const char* key) -> Result<double> {
    if (auto v = number_in(doc, key)) return *v;
    return make_error(ErrorKind::malformed_header,
                      fmt::format("the peer's report has no numeric '{}' (a different load.mjs?)", key));
  };
  RunFigures& f = report.figures;
  f.wall_s = RINGLOAD_TRY(need("load_s"));
  f.gb_per_s = f.wall_s > 0 ? static_cast<double>(tensor_bytes) / f.wall_s / 1e9 : 0;
  const double gb = static_cast<double>(tensor_bytes) / 1e9;
  f.cpu_s_per_gb = gb > 0 ? RINGLOAD_TRY(need("cpu_s")) / gb : 0;
  f.peak_rss = RINGLOAD_TRY(need("peak_rss"));
  f.anon_rss_after = RINGLOAD_TRY(need("anon_rss_after"));
  f.time_to_first_tensor_s = kNotMeasured;  // loadModel hands over the whole model at once
  if (const auto it = doc.find("mode"); it != doc.end() && it->is_string()) {
    report.ran_as = doc.value("peer", std::string("peer")) + ":" + it->get<std::string>();
  }
  return report;
}

}  // namespace ringload::cli::bench
