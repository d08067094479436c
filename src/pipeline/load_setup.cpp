// LoadRun's setup: begin() selects the tensors across every file, opens the first file and readies
// the ring (pinned for the sink's device) and the sink; each next file is opened (strategy
// resolved for it, its source opened, its chunks planned) when the schedule reaches it, and closed
// once delivered. The schedule itself is load_run.cpp.
#include <algorithm>
#include <chrono>
#include <thread>

#include <fmt/format.h>

#include "io/page_cache.hpp"
#include "pipeline/load_run.hpp"
#include "pipeline/strategy_table.hpp"
#include "ringload/memstat.hpp"

namespace ringload {
namespace {

// The staging ring is pinned memory in CUDA builds: bounded, so a typo cannot pin the machine.
constexpr std::uint64_t kMaxRingBytes = 256ULL << 20;

Result<void> check_geometry(const PipelineOptions& options) {
  const auto ring_bytes = static_cast<unsigned __int128>(options.slot_count) * options.slot_size;
  if (options.slot_count == 0 || options.slot_size < 65536 || options.slot_size % 65536 != 0 ||
      ring_bytes > kMaxRingBytes || options.read_size == 0 || options.read_size % 4096 != 0 ||
      options.queue_depth == 0) {
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("slots {} x {} bytes, reads of {} bytes, queue depth {}: need ≥ 1 slot "
                    "of a multiple of 64 KiB (at most {} MiB in all), reads a multiple of 4 KiB, depth ≥ 1",
                    options.slot_count, options.slot_size, options.read_size, options.queue_depth,
                    kMaxRingBytes >> 20));
  }
  return {};
}

PlanOptions plan_options(const PipelineOptions& options, const SourceNeeds& needs, const LoadFiles& files) {
  PlanOptions plan = selection_options(options, files.formats());
  plan.slot_size = needs.max_chunk != 0 ? needs.max_chunk : options.slot_size;
  plan.alignment = needs.alignment;
  plan.max_gap = options.read_size;
  plan.per_tensor = needs.per_tensor;
  return plan;
}

}  // namespace

LoadRun::LoadRun(LoadEngine& engine, const Model& model, Sink& sink, PipelineOptions options)
    : engine_(engine), files_(model), sink_(sink), options_(std::move(options)) {}

LoadRun::LoadRun(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink, PipelineOptions options)
    : engine_(engine), files_(checkpoint), sink_(sink), options_(std::move(options)) {}

LoadRun::~LoadRun() {
  // Sources before the reader they read through (members go in reverse order, but be explicit).
  runs_.clear();
}

Result<void> LoadRun::begin() {
  const CpuMeter meter(cpu_);
  report_.path = files_.path();
  report_.requested = options_.strategy;
  report_.sink = std::string(sink_.name());
  if (auto before = process_memory()) report_.anon_rss_before_bytes = before->rss_anon_bytes;
  storage_read_.emplace();
  if (auto ok = check_geometry(options_); !ok) return located(std::move(ok).error());
  auto selected =
      select_tensors(files_.tensors(), files_.count(), plan_options(options_, {}, files_), files_.path());
  if (!selected) return located(std::move(selected).error());
  plan_ = std::move(selected).value();
  runs_.resize(files_.count());
  report_.files.resize(files_.count());
  RINGLOAD_TRY_VOID(open_next_file());
  RINGLOAD_TRY_VOID(prepare_sink());
  delivery_.emplace(*plan_, sink_, options_, report_, start_, files_);
  delivery_->tensors_ready_through(-1);  // zero-byte tensors before the first chunk
  return {};
}

Result<void> LoadRun::prepare_sink() {
  ImageTarget* target = sink_.image_target();
  const FileRun& first = runs_.front();
  if (target != nullptr && first.reads_anywhere) {
    // A page at least: the sink's images start on page boundaries.
    const std::uint64_t alignment = std::max<std::uint64_t>(4096, first.alignment);
    if (auto images = plan_file_images(*plan_, alignment, options_.read_size)) {
      if (auto prepared = target->prepare_images(plan_->tensors, *images); !prepared) {
        return located(std::move(prepared).error());
      }
      images_.emplace(std::move(images).value(), *target);
      return {};
    }
  }
  if (auto prepared = sink_.prepare(plan_->tensors); !prepared) return located(std::move(prepared).error());
  return {};
}

// The next file: opened, its strategy resolved and its source opened, its chunks planned. The
// first file's source also decides the ring (whether there is one).
Result<void> LoadRun::open_next_file() {
  const std::uint32_t f = next_file_++;
  if (!window_) window_.emplace();
  if (PlannedFile& wanted = plan_->files[f];
      leave_unread_files_alone_ && wanted.end_tensor == wanted.first_tensor) {
    // Nothing of this file is loaded in this round of a collective load: left alone (see
    // leave_unread_files_alone).
    wanted.planned = true;
    wanted.first_chunk = wanted.end_chunk = static_cast<std::uint32_t>(plan_->chunks.size());
    report_.files[f] = FileReport{.path = files_.path(f), .bytes = 0, .strategy = options_.strategy};
    if (delivery_) delivery_->recheck();
    return {};
  }
  FileRun& run = runs_[f];
  auto model = files_.open(f);
  if (!model) return located(std::move(model).error());
  run.model = *model;
  run.open = true;
  run.source = RINGLOAD_TRY(open_source(*run.model, run.strategy));
  const SourceNeeds needs = run.source->needs();
  if (!strategy_reported_) {  // the first file opened speaks for the load
    report_.strategy = run.strategy;
    strategy_reported_ = true;
  }
  if (needs.slots) {
    // The ring comes with the first file that reads into slots (auto may copy a cached file in
    // place and read the next one with O_DIRECT).
    if (ring_ == nullptr) {
      RINGLOAD_TRY_VOID(prepare_staging(*run.source));
      window_->add_slots(ring_->slot_count());
    } else {
      run.source->attach(*ring_);
    }
  }
  const auto planned_before = static_cast<std::uint32_t>(plan_->chunks.size());
  if (auto planned = plan_file(*plan_, f, run.model->image().size(), plan_options(options_, needs, files_));
      !planned) {
    return located(std::move(planned).error());
  }
  const auto added = static_cast<std::uint32_t>(plan_->chunks.size()) - planned_before;
  window_->add_chunks(added, !needs.slots);
  read_span_.resize(plan_->chunks.size(), 0);
  arrived_.resize(plan_->chunks.size());
  read_in_place_.resize(plan_->chunks.size(), false);
  run.release_as_delivered = needs.release_as_delivered;
  run.reads_anywhere = needs.reads_anywhere;
  run.alignment = needs.alignment;
  if (options_.release) {
    run.releaser.emplace(run.model->is_mmap() ? run.model->image() : std::span<const std::byte>{},
                         run.model->fd(), run.model->path(), [this](std::string_view w) { warn(w); });
  }
  report_.files[f] =
      FileReport{.path = files_.path(f), .bytes = plan_->files[f].bytes, .strategy = run.strategy};
  if (added == 0) close_file(f);  // nothing to read (every tensor empty or filtered out)
  if (delivery_) delivery_->recheck();
  return {};
}

Result<std::unique_ptr<ChunkSource>> LoadRun::open_source(const Model& model, Strategy& strategy) {
  auto warn_here = [this](std::string_view w) { warn(w); };
  ResolvedStrategy resolved =
      RINGLOAD_TRY(resolve_strategy(options_.strategy, model, engine_, options_, warn_here));
  strategy = resolved.strategy;
  const SourceContext context{model,
                              options_,
                              engine_,
                              sink_,
                              warn_here,
                              [this] { return uring_reader(); },
                              [this]() -> PreadPool& { return pread_pool(); }};
  auto opened = strategy_entry(strategy).open(context);
  if (!opened && opened.error().kind == ErrorKind::unsupported_feature &&
      options_.strategy == Strategy::automatic &&
      (strategy == Strategy::uring_direct || strategy == Strategy::pread_direct)) {
    // Buffered reads dropped as they land: through io_uring where it is there.
    strategy = strategy == Strategy::uring_direct ? Strategy::uring : Strategy::mmap_pipelined;
    warn(fmt::format("{}: O_DIRECT open failed; auto falls back to {} (buffered, pages dropped per tensor)",
                     model.path(), to_string(strategy)));
    resolved.reason += fmt::format("; but O_DIRECT open failed: {} instead", to_string(strategy));
    opened = strategy_entry(strategy).open(context);
  }
  if (!opened) return located(std::move(opened).error());
  if (report_.io_engine.empty()) {  // the load's first file speaks for the load
    report_.io_engine = strategy_entry(strategy).io_engine;
    report_.io_engine_reason = std::move(resolved.reason);
  }
  return opened;
}

UringReader* LoadRun::uring_reader() {
  if (!uring_reader_) {
    Uring* uring = engine_.uring(options_.queue_depth);
    if (uring == nullptr) return nullptr;
    uring_reader_ =
        std::make_unique<UringReader>(UringReaderOptions{.uring = uring,
                                                         .read_size = options_.read_size,
                                                         .fault = engine_.fault,
                                                         .warn = [this](std::string_view w) { warn(w); }});
  }
  return uring_reader_.get();
}

PreadPool& LoadRun::pread_pool() {
  if (!pread_pool_) pread_pool_ = std::make_unique<PreadPool>(pread_direct_threads());
  return *pread_pool_;
}

Result<void> LoadRun::prepare_staging(ChunkSource& first_source) {
  const std::optional<int> device = sink_.staging_device();
  const std::optional<int> node = device ? engine_.pinner().numa_node(*device) : std::nullopt;
  std::uint32_t slots = options_.slot_count;
  if (engine_.one_shot()) {
    // Never more slots than the load has bytes for (a chunk is at most a slot), and from three
    // slots' worth on, half as many, reused: a fresh ring is faulted in and zeroed as it is first
    // used, so a ring as large as the load costs a first touch of every byte. 64 MiB cold into the
    // null sink, uring-direct, 9 rounds: 8 slots 61.7 ms median, 4 slots 36.7, 2 slots 36.5.
    const std::uint64_t needed = (plan_->bytes + options_.slot_size - 1) / options_.slot_size;
    const std::uint64_t wanted = needed <= 2 ? needed : (needed + 1) / 2;
    slots = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(wanted, 1, options_.slot_count));
  }
  ring_ = RINGLOAD_TRY(engine_.ring(slots, options_.slot_size, node));
  if (device) {
    if (auto pinned = ring_->pin_for(*device, engine_.pinner()); !pinned) {
      warn(fmt::format("{}; copying from unpinned staging memory, at lower speed",
                       pinned.error().to_string()));
    }
    report_.staging_pinned = ring_->pinned_for(*device);
  }
  first_source.attach(*ring_);
  report_.staging_bytes = ring_->memory().size();
  report_.staging_huge_pages = ring_->huge_pages();
  report_.staging_registered = first_source.fixed_buffers();
  return {};
}

// Its last chunk is delivered: release what is left of its pages, measure what stayed, let go of
// its source (fds) and its Model (fd, mapping).
namespace {

// A load stopped early can leave the kernel still reading ahead for it (MADV_WILLNEED on the
// window ahead, the mapping's own readahead): pages under I/O survive a drop and land in the
// cache just after it (1,500-1,800 of 6,145 pages after a cancel, measured). Drop again once
// they have landed, for at most ~100 ms; pages still cached then are mapped by someone else.
void settle_release(Releaser& releaser, const Model& model) noexcept {
  constexpr int kTries = 20;
  constexpr auto kPause = std::chrono::milliseconds(5);
  for (int i = 0; i < kTries; ++i) {
    const auto cached = file_residency(model.fd(), model.path());
    if (!cached || cached->resident_pages == 0) return;
    std::this_thread::sleep_for(kPause);
    releaser.finish(model.image().size());
  }
}

}  // namespace

void LoadRun::close_file(std::uint32_t file, bool abandoned) noexcept {
  FileRun& run = runs_[file];
  if (!run.open) return;
  if (run.releaser) {
    run.releaser->finish(run.model->image().size());
    if (abandoned && run.model->fd() >= 0) settle_release(*run.releaser, *run.model);
    report_.release_busy_s += run.releaser->busy_seconds();
  }
  if (run.model->fd() >= 0) {
    if (auto residency = file_residency(run.model->fd(), run.model->path())) {
      report_.file_resident_pages_after += residency->resident_pages;
      report_.file_total_pages += residency->total_pages;
    }
  }
  run.bytes_read = run.source ? run.source->bytes_read() : 0;
  run.done_s = delivery_ ? delivery_->now() : 0;
  report_.files[file].wall_s = run.first_read_s >= 0 ? run.done_s - run.first_read_s : 0;
  run.releaser.reset();
  run.source.reset();
  run.model = nullptr;
  run.open = false;
  files_.close(file);
}

}  // namespace ringload
