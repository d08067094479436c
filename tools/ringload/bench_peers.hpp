// Other loaders as rows of `ringload bench` (`--peers llama.cpp`): which modes a peer runs, where
// its scripts and its installation live, the command of one run, and its report read into the
// same figures as a ringload child's. The bench runs a peer's modes interleaved with its own
// strategies, each in a fresh process, under the same cold/warm protocol.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "bench_stats.hpp"
#include "ringload/error.hpp"

namespace ringload::cli::bench {

// The peers `--peers` knows, in the order their rows run.
[[nodiscard]] std::span<const std::string_view> known_peers() noexcept;

// One mode of one peer: the row "llama.cpp:no-mmap".
struct PeerMode {
  std::string peer;  // "llama.cpp"
  std::string mode;  // "no-mmap", "direct-io", "mmap"
  [[nodiscard]] std::string row_name() const { return peer + ":" + mode; }
};

// The rows of `peers` (names from known_peers), every mode of each, in run order. invalid_argument
// naming an unknown peer.
[[nodiscard]] Result<std::vector<PeerMode>> peer_modes(std::span<const std::string> peers);

// A peer ready to run: the node binary and the loader script inside the installed cache.
struct PeerInstall {
  std::string peer;
  std::filesystem::path node;    // absolute, found on PATH
  std::filesystem::path script;  // load.mjs beside the installed node_modules
  std::filesystem::path dir;     // the cache directory npm ci installed into
  bool installed_now = false;    // npm ci ran in this call
};

// Where the peer scripts (package.json, package-lock.json, load.mjs per peer) are: $RINGLOAD_PEERS_DIR,
// else the data directory beside `exe` as `meson install` lays it out (bin/ringload,
// share/ringload/peers), else the source tree this ringload was built from, else the configured
// install prefix's. not_found naming every place looked at.
[[nodiscard]] Result<std::filesystem::path> find_peer_scripts(const std::filesystem::path& exe);

// Where a peer is installed: $XDG_CACHE_HOME/ringload/peers/<dir> (default ~/.cache), outside any
// clone. `dir_name` is the scripts' directory name ("llama_cpp").
[[nodiscard]] Result<std::filesystem::path> peer_cache_dir(std::string_view dir_name);

// Makes `peer` runnable: copies its package.json and package-lock.json into the cache and runs
// `npm ci --omit=optional` there when the lockfile installed last differs (the first use), then
// copies the loader script. Errors are one line each and name what is missing: node or npm not
// on PATH (unavailable), npm ci failing (io: registry unreachable?, with npm's own last error line
// and its log file).
[[nodiscard]] Result<PeerInstall> ensure_peer_installed(std::string_view peer,
                                                        const std::filesystem::path& exe);

// The note under the table: what the peer's rows are and how they were measured.
[[nodiscard]] std::string peer_note(const PeerInstall& install);

// The command of one run: argv[0] (absolute) and the arguments.
struct PeerCommand {
  std::string exe;
  std::vector<std::string> args;
};
[[nodiscard]] PeerCommand peer_command(const PeerInstall& install, const PeerMode& mode,
                                       const std::filesystem::path& model);

// Reads the loader script's stdout (one JSON object, bench/peers/llama_cpp/load.mjs) into a run's
// figures: wall_s = its load seconds, gb_per_s = tensor_bytes / wall / 1e9, CPU-s per GB, peak and
// anonymous RSS; what a peer cannot give (time to first tensor) is kNotMeasured, and the page-cache
// figures are left for the caller, which measures them after the process ended.
// malformed_header when a field is missing.
[[nodiscard]] Result<ChildReport> parse_peer_report(std::string_view json_text, std::uint64_t tensor_bytes);

}  // namespace ringload::cli::bench
