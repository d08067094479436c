// The staged, overlapped loader: plan → read (strategy) → staging ring → sink → release.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringload/checkpoint.hpp"
#include "ringload/error.hpp"
#include "ringload/model.hpp"
#include "ringload/sink.hpp"

namespace ringload {

enum class Strategy : std::uint8_t {
  read,             // baseline: whole file onto the heap, then copy
  mmap,             // baseline: map, copy tensor by tensor, release at the end
  mmap_pipelined,   // MADV_WILLNEED a window ahead, copy mapping → slots, per-tensor release
  uring,            // buffered io_uring reads into registered slots, FADV_DONTNEED as it goes
  uring_direct,     // O_DIRECT io_uring reads (no page cache at all)
  uring_dontcache,  // buffered io_uring reads with RWF_DONTCACHE (Linux ≥ 6.14)
  automatic,        // a mostly cached file: mmap-pipelined; else O_DIRECT where accepted, else
                    // buffered + FADV_DONTNEED (measured faster than DONTCACHE: bench/results);
                    // without io_uring, pread-direct
  pread_direct,     // O_DIRECT pread from a few threads: no io_uring, no page cache (containers)
};

[[nodiscard]] std::string_view to_string(Strategy strategy) noexcept;  // "mmap-pipelined", "auto", ...
[[nodiscard]] std::optional<Strategy> strategy_from_name(std::string_view name) noexcept;
[[nodiscard]] std::span<const Strategy> all_strategies() noexcept;

// Shared between the caller and a running load; cancel() from any thread.
class CancellationToken {
 public:
  CancellationToken() : flag_(std::make_shared<std::atomic<bool>>(false)) {}
  void cancel() const noexcept { flag_->store(true, std::memory_order_relaxed); }
  [[nodiscard]] bool cancelled() const noexcept { return flag_->load(std::memory_order_relaxed); }

 private:
  std::shared_ptr<std::atomic<bool>> flag_;
};

struct LoadProgress {
  std::uint64_t bytes_done = 0;
  std::uint64_t bytes_total = 0;
  std::uint32_t tensors_done = 0;
  std::uint32_t tensors_total = 0;
  double seconds = 0;
};

// A tensor-parallel split rule: a tensor whose name matches `pattern` (a shell glob, as fnmatch(3)
// and Python's fnmatch.fnmatchcase read it; '*' also matches '.' and '/') is cut into `world`
// near-equal parts along `dim` and the load delivers part `rank` only. DIM counts in the row-major
// shape (safetensors and APR as stored; GGUF's ne[] reversed, so dim 0 of a GGUF matrix is its
// rows). The part is delivered as a contiguous row-major tensor of the sliced shape.
struct SliceRule {
  std::string pattern;
  std::uint32_t dim = 0;
};

struct PipelineOptions {
  Strategy strategy = Strategy::automatic;
  std::uint32_t slot_count = 16;         // staging ring: slot_count × slot_size bytes
  std::uint64_t slot_size = 8ULL << 20;  // ≤ 256 MiB in all
  std::uint32_t queue_depth = 64;        // io_uring reads in flight
  std::uint64_t read_size = 1ULL << 20;  // one read request; a slot is filled by several
  bool release = true;                   // drop mapped pages and page cache as tensors land
  // mmap-pipelined: MADV_WILLNEED this many bytes ahead of the copy. Off by default: on Linux
  // 6.18/ext4 WILLNEED readahead fills the cache with 4 KiB folios where fault-path readahead
  // uses large ones, and a cold 4 GiB load measured 1.78 GB/s with it vs 2.24 GB/s without, its
  // release 242 ms vs 15 ms. Worth trying where page-cache folios are small anyway.
  std::uint64_t willneed_window = 0;
  std::vector<std::string> tensor_names;  // load only these (empty: all)
  std::uint32_t shard_rank = 0;           // each tensor's bytes split in shard_world parts ...
  std::uint32_t shard_world = 1;          // ... of which this load takes part shard_rank
  // Tensor-parallel slices (with shard_world 1 only): the first rule whose pattern matches a
  // tensor's name splits it; tensors matching none load whole. Only the slice's bytes are read.
  std::vector<SliceRule> slices;
  std::uint32_t rank = 0;  // the part of every sliced tensor this load takes ...
  std::uint32_t world =
      1;  // ... of `world` (numpy.array_split: the first n mod world parts get one more row)
  bool checksum_sha256 = false;  // hash each tensor as it passes through the ring
  bool record_timeline = false;  // keep the chunk spans (LoadReport::timeline)
  CancellationToken cancel;
  // Fired in file order as each tensor is complete at the sink.
  std::function<void(const TensorInfo&, const Destination&)> on_tensor_ready;
  std::function<void(const LoadProgress&)> on_progress;  // at most ~20 times a second
  std::function<void(std::string_view)> log;             // warnings (a failed madvise, a fallback)
  // Fired once when the load ends, after the last on_tensor_ready: nullptr on success, else why
  // it failed (cancelled included). Lets per-tensor waiters (async.hpp's TensorReadiness) learn
  // that a tensor they wait for will never come.
  std::function<void(const Error* failure)> on_finished;
};

struct TimelineSpan {
  enum class Stage : std::uint8_t { read, copy, release };
  Stage stage = Stage::read;
  std::uint32_t slot = 0;
  std::uint64_t file_offset = 0;
  std::uint64_t bytes = 0;
  double start_s = 0;  // since the load started
  double end_s = 0;
};

struct TensorDigest {
  std::string name;
  std::uint64_t offset = 0;  // absolute file offset of the first loaded byte
  std::uint64_t size = 0;    // bytes loaded
  std::string sha256;        // lower-case hex; empty unless checksum_sha256
  std::string file;          // the file that holds it (a checkpoint's file path)
};

// One file of a load (a checkpoint loads several).
struct FileReport {
  std::string path;
  std::uint64_t bytes = 0;                  // tensor bytes delivered from it
  double wall_s = 0;                        // from its first read to its last chunk delivered
  Strategy strategy = Strategy::automatic;  // what ran for it (auto decides per file)
};

// What a collective load (collective.hpp) did on this rank.
struct CollectiveFigures {
  std::uint32_t rank = 0;
  std::uint32_t world = 1;
  std::uint64_t bytes_received = 0;  // tensor bytes other ranks read and the group delivered here
  double busy_s = 0;                 // time this rank's driver spent blocked in the collective
  std::uint32_t rounds = 0;
};

struct LoadReport {
  std::string path;
  Strategy requested = Strategy::automatic;
  Strategy strategy = Strategy::automatic;  // what ran (auto resolved)
  // What read the bytes: "io_uring", "pread", "mmap" (a mapping, or a model in memory) or "read",
  // and why that one ("asked for", or auto's reason: e.g. io_uring_setup failed with EPERM). The
  // first file's; LoadReport::files has each file's strategy.
  std::string io_engine;
  std::string io_engine_reason;
  std::string sink;
  std::uint64_t bytes = 0;       // tensor bytes delivered
  std::uint64_t bytes_read = 0;  // file bytes read (aligned supersets included)
  // Of bytes_read, those read straight into the sink's memory (Sink::image_target): no staging
  // copy after the read.
  std::uint64_t bytes_read_in_place = 0;
  std::uint32_t tensors = 0;
  double wall_s = 0;
  double gb_per_s = 0;  // bytes / wall_s / 1e9
  double time_to_first_tensor_s = -1;
  double read_busy_s = 0;  // per-stage busy time
  double copy_busy_s = 0;
  double release_busy_s = 0;
  // CPU time of the thread that ran the load (an AsyncLoader's io thread: its turns for this load
  // only) and of pread-direct's threads (as system time); not io_uring's kernel workers (iou-wrk),
  // which serve every load of the process. `ringload load` and `ringload bench` report their whole
  // process's CPU instead, one load per process.
  double cpu_user_s = 0;
  double cpu_system_s = 0;
  std::uint64_t peak_rss_bytes = 0;  // VmHWM of the process
  // Bytes the process read from storage during the load (/proc/self/io read_bytes: page-cache
  // hits and another process's reads excluded); 0 where the kernel keeps no I/O accounting.
  std::uint64_t storage_bytes_read = 0;
  std::uint64_t anon_rss_before_bytes = 0;
  std::uint64_t anon_rss_after_bytes = 0;  // load_into: after its ring is freed; Loader::load: ring included
  std::uint64_t file_resident_pages_after = 0;
  std::uint64_t file_total_pages = 0;
  std::uint64_t staging_bytes = 0;  // ring size
  bool staging_huge_pages = false;
  bool staging_registered = false;  // the slots are io_uring fixed buffers
  bool staging_pinned = false;      // page-locked for the sink's device (a failed pin warns instead)
  std::vector<std::string> warnings;
  std::vector<TimelineSpan> timeline;
  std::vector<TensorDigest> digests;  // per loaded tensor, file order
  std::vector<FileReport> files;      // per file, load order
  // async_load's completion: why the load failed or was cancelled (file, tensor, byte offset),
  // beside an error_code that holds only the kind; empty on success.
  std::optional<Error> error;
  std::optional<CollectiveFigures> collective;  // set by a collective load only
};

// Chrome trace-event JSON of the timeline (open in Perfetto or chrome://tracing).
[[nodiscard]] std::string timeline_trace_json(const LoadReport& report);

class LoadEngine;  // src/pipeline/engine.hpp: the ring and io_uring a Loader keeps

// Owns one staging ring (allocated on first use and reused) and its io_uring; loads run one at a
// time on the calling thread. Not thread-safe (async.hpp's AsyncLoader shares one ring between
// concurrent loads). A load that fails or is cancelled leaves nothing behind: in-flight reads are
// waited out, the sink's destinations are discarded and the file's pages released. The ring stays
// pinned for every device a sink copied to until the Loader is destroyed: a service pays the
// pinning cost once.
class Loader {
 public:
  Loader();
  Loader(Loader&&) noexcept;
  Loader& operator=(Loader&&) noexcept;
  ~Loader();

  Result<LoadReport> load(const Model& model, Sink& sink, const PipelineOptions& options);
  // A whole checkpoint through one plan: one ring, one io_uring, no drain between files.
  Result<LoadReport> load(const Checkpoint& checkpoint, Sink& sink, const PipelineOptions& options);

 private:
  std::unique_ptr<LoadEngine> engine_;
};

// One-shot helpers: a Loader for one load.
[[nodiscard]] Result<LoadReport> load_into(const Model& model, Sink& sink,
                                           const PipelineOptions& options = {});
[[nodiscard]] Result<LoadReport> load_into(const Checkpoint& checkpoint, Sink& sink,
                                           const PipelineOptions& options = {});
// Any checkpoint path (one file, a directory, an index, a GGUF split): see checkpoint.hpp.
[[nodiscard]] Result<LoadReport> load_into(const std::filesystem::path& path, Sink& sink,
                                           const PipelineOptions& options = {});

}  // namespace ringload
