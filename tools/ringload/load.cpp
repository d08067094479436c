// `ringload load`: load a model through the pipeline into a sink and report what it cost and
// what it left behind.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <string>
#include <tuple>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "bench_hold.hpp"
#include "commands.hpp"
#include "load_mpi.hpp"
#include "load_report_json.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/report.hpp"
#include "pipeline/slice.hpp"
#include "progress.hpp"
#include "ringload/pipeline.hpp"
#include "units.hpp"

namespace ringload::cli {
namespace {

// Copies each destination back to the host and compares it with the file bytes the plan says it
// holds (the shard's slice when sharded; a sliced tensor's part cut out of the whole tensor row by
// row, not through the plan's runs). `bytes_of(tensor)` gives the whole tensor's file bytes;
// `formats` each file's format. Returns the number of tensors checked.
template <class BytesOf>
Result<std::uint32_t> verify_destinations(std::span<const TensorInfo> all, std::span<const Format> formats,
                                          const std::string& path, BytesOf bytes_of, const Sink& sink,
                                          const PipelineOptions& options) {
  const Plan plan =
      RINGLOAD_TRY(select_tensors(all, formats.size(), selection_options(options, formats), path));
  for (const SinkTensor& t : plan.tensors) {
    auto host = copy_to_host(sink, t.index);
    if (!host) return std::move(host).error();
    const std::span<const std::byte> whole = RINGLOAD_TRY(bytes_of(*t.info));
    std::vector<std::byte> part;
    std::span<const std::byte> file;
    if (const SliceRule* rule = matching_slice_rule(t.info->name, options.slices)) {
      const auto original = std::find_if(all.begin(), all.end(), [&](const TensorInfo& x) {
        return x.name == t.info->name && x.file == t.info->file;
      });
      part = RINGLOAD_TRY(
          copy_slice_rows(whole, *original, formats[original->file], rule->dim, options.rank, options.world));
      file = part;
    } else {
      file = whole.subspan(t.file_offset - t.info->offset, t.size);
    }
    if (host->size() != file.size() || !std::equal(host->begin(), host->end(), file.begin())) {
      Error e = make_error(ErrorKind::checksum_mismatch, "the destination's bytes differ from the file's",
                           t.file_offset, t.info->name);
      e.path = path;
      return e;
    }
  }
  return static_cast<std::uint32_t>(plan.tensors.size());
}

// One load per process: every thread's CPU is the load's (io_uring's workers too).
void whole_process_cpu(LoadReport& r, const CpuTimes& before) {
  const CpuTimes after = process_cpu();
  r.cpu_user_s = after.user - before.user;
  r.cpu_system_s = after.system - before.system;
}

// The heap copy was read before load_into started its clock: its time and CPU are part of the load,
// and the file's residency is measured on the file (a from_bytes model has no descriptor).
void account_heap_read(LoadReport& r, const HeapModel& heap, const std::string& file) {
  r.wall_s += heap.wall_s;
  r.gb_per_s = r.wall_s > 0 ? static_cast<double>(r.bytes) / r.wall_s / 1e9 : 0;
  if (r.time_to_first_tensor_s >= 0) r.time_to_first_tensor_s += heap.wall_s;
  r.cpu_user_s += heap.cpu_s;  // getrusage's user/system split is not worth keeping apart here
  if (auto cache = file_cache_stat(file)) {
    r.bytes_read = cache->file_bytes;
    r.file_resident_pages_after = cache->resident_pages;
    r.file_total_pages = cache->total_pages;
  }
}

}  // namespace

std::function<int()> add_load(CLI::App& app) {
  struct Options {
    std::string file;
    std::string strategy = "auto";
    std::string sink = "host";
    std::uint32_t slots = PipelineOptions{}.slot_count;
    std::string slot_size = "8MiB";
    std::string willneed = "0";
    std::uint32_t streams = 2;
    int device = 0;
    std::string checksum;
    std::vector<std::string> tensors;
    std::string shard;
    std::vector<std::string> slices;  // PATTERN:DIM
    std::string rank;                 // empty: not given
    std::string world;
    bool no_release = false;
    bool verify = false;
    bool json = false;
    std::string trace;
    double hold_s = -1;  // < 0: no hold
    std::string zram_device = "/sys/block/zram0";
    bool quiet = false;
    bool mpi = false;
    std::string round_size = "256MiB";
  };
  auto opts = std::make_shared<Options>();
  auto make_sink = [](const Options& o) -> Result<std::unique_ptr<Sink>> {
    if (o.sink == "cuda") return make_cuda_sink(CudaSinkOptions{.device = o.device, .streams = o.streams});
    if (o.sink == "null") return std::unique_ptr<Sink>(std::make_unique<NullSink>());
    return std::unique_ptr<Sink>(std::make_unique<HostSink>());
  };
  CLI::App* sub = app.add_subcommand(
      "load",
      "Load every tensor of FILE into a sink through the pipeline and report wall time, GB/s, time to\n"
      "first tensor, CPU time, peak RSS, and the anonymous memory and page cache left behind.\n"
      "Strategies: read (whole file onto the heap, then copy: baseline), mmap (copy out of a mapping,\n"
      "release at the end: baseline), mmap-pipelined, uring, uring-direct (O_DIRECT), uring-dontcache\n"
      "(RWF_DONTCACHE), auto (O_DIRECT where the file system allows, else the best fallback), pread-direct\n"
      "(O_DIRECT preads from a few threads: where io_uring is blocked, as in Docker's default profile).\n"
      "Example: ringload load --strategy uring-direct --sink null --json --checksum sha256 model.gguf");
  sub->add_option(
         "file", opts->file,
         "Model file, or a whole checkpoint: a directory, a *.index.json, any file of a GGUF split set")
      ->required();
  std::vector<std::string> names;
  for (Strategy s : all_strategies()) names.emplace_back(to_string(s));
  sub->add_option("--strategy", opts->strategy, "How bytes are read (see above)")
      ->check(CLI::IsMember(names))
      ->capture_default_str();
  sub->add_option("--sink", opts->sink,
                  "host (keep in host memory) | null (read and discard) | cuda (GPU memory)")
      ->check(CLI::IsMember({"host", "null", "cuda"}))
      ->capture_default_str();
  sub->add_option("--slots", opts->slots, "Staging slots")->capture_default_str();
  sub->add_option("--slot-size", opts->slot_size, "Bytes per staging slot (multiple of 64KiB)")
      ->capture_default_str();
  sub->add_option("--streams", opts->streams, "CUDA streams (cuda sink)")->capture_default_str();
  sub->add_option("--device", opts->device, "The GPU to load into (cuda sink)")
      ->check(CLI::Range(0, 1023))
      ->capture_default_str();
  sub->add_option("--willneed", opts->willneed, "mmap-pipelined: MADV_WILLNEED this far ahead (0: off)")
      ->capture_default_str();
  sub->add_option("--checksum", opts->checksum, "sha256: hash each tensor as it passes through the ring")
      ->check(CLI::IsMember({"sha256"}));
  sub->add_option("--tensor", opts->tensors, "Load only this tensor (repeatable)");
  sub->add_option("--shard", opts->shard, "RANK/WORLD: load only this rank's slice of every tensor");
  sub->add_option(
      "--slice", opts->slices,
      "PATTERN:DIM (repeatable; with --rank/--world): a tensor whose name matches the shell glob "
      "PATTERN ('*' matches '.' too) is cut into WORLD near-equal parts along row-major dim DIM "
      "(GGUF: ne[] reversed) as numpy.array_split cuts it, and only part RANK is read and "
      "delivered, contiguous; the first matching rule wins, other tensors load whole. Example, "
      "rank 1 of 4 of tensor parallelism: --slice '*.q_proj.weight:0' --slice '*.o_proj.weight:1' "
      "--rank 1 --world 4");
  sub->add_option("--rank", opts->rank, "With --slice: the part this load takes (0-based, default 0)");
  sub->add_option("--world", opts->world,
                  "With --slice: how many parts each sliced tensor is cut into (default 1)");
  sub->add_flag("--no-release", opts->no_release, "Keep the file's pages mapped and cached after the load");
  sub->add_flag("--verify", opts->verify,
                "After the load, copy every destination back (device -> host for cuda) and compare it "
                "byte for byte with the file");
  sub->add_flag("--json", opts->json, "Print the LoadReport as JSON (with --checksum: per-tensor sha256)");
  sub->add_option("--trace", opts->trace, "Write the chunk timeline as Chrome trace JSON (open in Perfetto)");
  sub->add_option("--hold", opts->hold_s,
                  "After the load, stay alive SECONDS keeping what a service using the strategy keeps (read: "
                  "its heap copy, as a model built from the bytes; mmap: its mapping; the others: the sink's "
                  "destinations), then report swap, anonymous RSS, page cache and zram (\"hold\" in --json). "
                  "0: measure at once")
      ->check(CLI::Range(0.0, 86400.0));
  sub->add_option("--zram-device", opts->zram_device, "With --hold: the zram device whose mm_stat to report")
      ->capture_default_str();
  sub->add_flag("-q,--quiet", opts->quiet, "No progress bar");
  sub->add_flag("--mpi", opts->mpi,
                "Run as one rank of an mpirun job: the ranks read the checkpoint once between them (each "
                "a contiguous 1/W) and MPI broadcasts the rest; each rank prints its own report. Try: "
                "mpirun -np 4 ringload load --mpi --json MODEL");
  sub->add_option("--mpi-round", opts->round_size,
                  "--mpi: bytes each rank reads before the ranks agree and broadcast them")
      ->capture_default_str();

  return [opts, make_sink]() {
    auto fail = [](const Error& e) {
      fmt::print(stderr, "ringload load: {}\n", e.to_string());
      return load_exit_code(e);
    };
    PipelineOptions options;
    options.strategy = *strategy_from_name(opts->strategy);
    options.slot_count = opts->slots;
    auto slot_size = parse_size(opts->slot_size);
    if (!slot_size) {
      fmt::print(stderr, "ringload load: --slot-size '{}' is not a size\n", opts->slot_size);
      return kExitBadInput;
    }
    options.slot_size = *slot_size;
    auto willneed = parse_size(opts->willneed);
    if (!willneed) {
      fmt::print(stderr, "ringload load: --willneed '{}' is not a size\n", opts->willneed);
      return kExitBadInput;
    }
    options.willneed_window = *willneed;
    options.read_size = std::min<std::uint64_t>(options.read_size, options.slot_size);
    options.release = !opts->no_release;
    options.checksum_sha256 = opts->checksum == "sha256";
    options.tensor_names = opts->tensors;
    options.record_timeline = !opts->trace.empty();
    if (!opts->shard.empty()) {
      unsigned rank = 0;
      unsigned world = 0;
      if (std::sscanf(opts->shard.c_str(), "%u/%u", &rank, &world) != 2) {
        fmt::print(stderr, "ringload load: --shard '{}' is not RANK/WORLD (e.g. 0/4)\n", opts->shard);
        return kExitBadInput;
      }
      options.shard_rank = rank;
      options.shard_world = world;
    }
    for (const std::string& rule : opts->slices) {
      const auto colon = rule.rfind(':');
      const std::string dim = colon == std::string::npos ? std::string() : rule.substr(colon + 1);
      unsigned long parsed = 0;  // NOLINT(google-runtime-int): strtoul's type
      char* end = nullptr;
      if (colon == 0 || dim.empty() ||
          !std::all_of(dim.begin(), dim.end(), [](char c) { return c >= '0' && c <= '9'; }) ||
          (parsed = std::strtoul(dim.c_str(), &end, 10)) > 0xFFFFFFFFUL || *end != '\0') {
        fmt::print(stderr,
                   "ringload load: --slice '{}' is not PATTERN:DIM (a tensor-name glob, then ':' and a "
                   "non-negative dim, e.g. '*.q_proj.weight:0')\n",
                   rule);
        return kExitBadInput;
      }
      options.slices.push_back(SliceRule{rule.substr(0, colon), static_cast<std::uint32_t>(parsed)});
    }
    for (auto [flag, text, out] : {std::tuple{"--rank", &opts->rank, &options.rank},
                                   std::tuple{"--world", &opts->world, &options.world}}) {
      if (text->empty()) continue;
      if (opts->slices.empty()) {
        fmt::print(
            stderr,
            "ringload load: {} goes with --slice (which tensors to cut); --shard takes RANK/WORLD itself\n",
            flag);
        return kExitBadInput;
      }
      char* end = nullptr;
      const unsigned long value = std::strtoul(text->c_str(), &end, 10);  // NOLINT(google-runtime-int)
      if (text->front() < '0' || text->front() > '9' || *end != '\0' || value > 0xFFFFFFFFUL) {
        fmt::print(stderr, "ringload load: {} '{}' is not a non-negative number\n", flag, *text);
        return kExitBadInput;
      }
      *out = static_cast<std::uint32_t>(value);
    }

    if (opts->mpi) {
      const auto given_rank = opts->rank.empty() ? std::nullopt : std::optional(options.rank);
      const auto given_world = opts->world.empty() ? std::nullopt : std::optional(options.world);
      MpiLoadArgs args{.path = opts->file,
                       .make_sink = [opts, make_sink] { return make_sink(*opts); },
                       .invalid = std::nullopt,
                       .options = std::move(options),
                       .round_bytes = 0,
                       .json = opts->json,
                       .rank = given_rank,
                       .world = given_world};
      auto round = parse_size(opts->round_size);
      if (!round || *round == 0) {
        args.invalid = make_error(ErrorKind::invalid_argument,
                                  fmt::format("--mpi-round '{}' is not a size", opts->round_size));
      } else if (opts->hold_s >= 0 || opts->verify || !opts->trace.empty() || !opts->shard.empty()) {
        args.invalid = make_error(ErrorKind::invalid_argument,
                                  "--mpi does not combine with --hold, --verify, --trace or --shard");
      } else {
        args.round_bytes = *round;
      }
      return run_mpi_load(std::move(args));
    }

    // Any checkpoint path; one file is loaded as a Model, so --hold can keep its mapping or heap copy.
    std::optional<Model> model;
    std::optional<Checkpoint> checkpoint;  // a load of many files
    std::optional<HeapModel> heap;
    {
      auto opened = Checkpoint::open(opts->file);
      if (!opened) return fail(opened.error());
      if (opened->files().size() > 1) {
        // Its read baseline goes through the pipeline file by file: no heap copy is kept.
        checkpoint.emplace(std::move(opened).value());
      } else if (opts->hold_s > 0 && options.strategy == Strategy::read) {
        // `read` held: the heap copy a service using it keeps, built as such a service builds it.
        auto read = read_onto_heap(opened->files().front().path);
        if (!read) return fail(read.error());
        heap.emplace(std::move(read).value());
        model.emplace(std::move(heap->model));  // heap keeps only the timing
      } else {
        auto loaded = Model::load(opened->files().front().path);
        if (!loaded) return fail(loaded.error());
        model.emplace(std::move(loaded).value());
      }
    }
    auto made = make_sink(*opts);
    if (!made) return fail(made.error());
    const std::unique_ptr<Sink> sink = std::move(made).value();
    std::uint64_t total = 0;
    for (const auto& t : checkpoint ? checkpoint->tensors() : model->tensors()) total += t.size;
    ProgressBar bar("load", total, !opts->quiet && !opts->json);
    options.on_progress = [&bar](const LoadProgress& p) { bar.update(p.bytes_done, p.bytes_total); };

    const CpuTimes cpu_before = process_cpu();
    auto report = checkpoint ? load_into(*checkpoint, *sink, options) : load_into(*model, *sink, options);
    bar.finish();
    if (!report) return fail(report.error());
    whole_process_cpu(*report, cpu_before);
    if (heap) account_heap_read(*report, *heap, opts->file);
    std::uint32_t verified = 0;
    if (opts->verify) {
      std::vector<Format> formats;
      if (checkpoint) {
        for (const CheckpointFile& f : checkpoint->files()) formats.push_back(f.format);
      } else {
        formats.push_back(model->format());
      }
      auto checked =
          checkpoint
              ? verify_destinations(
                    checkpoint->tensors(), formats, checkpoint->path(),
                    [&](const TensorInfo& t) { return checkpoint->tensor_bytes(t.name); }, *sink, options)
              : verify_destinations(
                    model->tensors(), formats, model->path(),
                    [&](const TensorInfo& t) { return model->tensor_bytes(t.name); }, *sink, options);
      if (!checked) return fail(checked.error());
      verified = *checked;
    }
    if (!opts->trace.empty()) {
      std::ofstream out(opts->trace);
      out << timeline_trace_json(*report);
      if (!out) {
        fmt::print(stderr, "ringload load: cannot write the trace to {}\n", opts->trace);
        return kExitFailure;
      }
    }
    std::optional<HoldFigures> held;
    if (opts->hold_s >= 0) {
      // A checkpoint's baselines release each file's mapping or buffer as they finish with it.
      const Kept kept = checkpoint ? Kept::destinations : kept_by(report->strategy);
      if (kept == Kept::destinations) model.reset();  // a service keeps only the destinations
      std::vector<std::filesystem::path> files;
      if (checkpoint) {
        for (const CheckpointFile& f : checkpoint->files()) files.emplace_back(f.path);
      } else {
        files.emplace_back(opts->file);
      }
      auto measured = hold_then_measure(opts->hold_s, kept, files, opts->zram_device);
      if (!measured) return fail(measured.error());
      held = *measured;
    }
    if (opts->json) {
      auto j = report_json(*report, options.checksum_sha256);
      if (opts->verify) j["verified_tensors"] = verified;
      if (held) j["hold"] = hold_json(*held);
      fmt::print("{}\n", dump_json(j, 2));
      return kExitOk;
    }
    if (opts->verify) fmt::print("verified: {} tensors byte-exact at the destination\n", verified);
    const LoadReport& r = *report;
    fmt::print("{} {} -> {}: {} in {} ({:.2f} GB/s), first tensor after {}, CPU {:.2f} s ({:.2f} s/GB)\n",
               to_string(r.strategy), r.path, r.sink, format_bytes(r.bytes), format_seconds(r.wall_s),
               r.gb_per_s, format_seconds(std::max(0.0, r.time_to_first_tensor_s)),
               r.cpu_user_s + r.cpu_system_s,
               r.bytes > 0 ? (r.cpu_user_s + r.cpu_system_s) / (static_cast<double>(r.bytes) / 1e9) : 0.0);
    fmt::print("  busy: read {} copy {} release {}; staging {}{}\n", format_seconds(r.read_busy_s),
               format_seconds(r.copy_busy_s), format_seconds(r.release_busy_s), format_bytes(r.staging_bytes),
               r.staging_huge_pages ? " (huge pages)" : "");
    fmt::print("  peak RSS {}, anonymous RSS {} -> {}, file pages cached after: {} of {} ({:.1f}%)\n",
               format_bytes(r.peak_rss_bytes), format_bytes(r.anon_rss_before_bytes),
               format_bytes(r.anon_rss_after_bytes), r.file_resident_pages_after, r.file_total_pages,
               r.file_total_pages ? 100.0 * static_cast<double>(r.file_resident_pages_after) /
                                        static_cast<double>(r.file_total_pages)
                                  : 0.0);
    fmt::print("  I/O engine: {} ({})\n", r.io_engine, r.io_engine_reason);
    for (const auto& w : r.warnings) fmt::print("  warning: {}\n", w);
    if (held) {
      fmt::print("  held {} for {}: swap {}, anonymous RSS {}, file pages cached {} of {}\n", held->kept,
                 format_seconds(held->held_s), format_bytes(held->swap_bytes),
                 format_bytes(held->anon_rss_bytes), held->file_resident_pages, held->file_total_pages);
    }
    return kExitOk;
  };
}

}  // namespace ringload::cli
