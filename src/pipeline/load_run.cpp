// LoadRun: the schedule. Starts reads into free slots, reaps them, delivers chunks in plan order,
// releases what was delivered and recycles slots the sink is done with, a quantum at a time.
#include "pipeline/load_run.hpp"

#include <fmt/format.h>

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

PlanOptions plan_options(const PipelineOptions& options, const SourceNeeds& needs) {
  PlanOptions plan;
  plan.slot_size = needs.max_chunk != 0 ? needs.max_chunk : options.slot_size;
  plan.alignment = needs.alignment;
  plan.max_gap = options.read_size;
  plan.per_tensor = needs.per_tensor;
  plan.tensor_names = options.tensor_names;
  plan.shard_rank = options.shard_rank;
  plan.shard_world = options.shard_world;
  return plan;
}

}  // namespace

LoadRun::LoadRun(LoadEngine& engine, const Model& model, Sink& sink, PipelineOptions options)
    : engine_(engine), model_(model), sink_(sink), options_(std::move(options)) {}

LoadRun::~LoadRun() = default;

void LoadRun::warn(std::string_view message) {
  report_.warnings.emplace_back(message);
  if (options_.log) options_.log(message);
}

Error LoadRun::located(Error e) const {
  if (e.path.empty()) e.path = model_.path();
  return e;
}

Result<void> LoadRun::begin() {
  const CpuMeter meter(cpu_);
  report_.path = model_.path();
  report_.requested = options_.strategy;
  report_.sink = std::string(sink_.name());
  if (auto before = process_memory()) report_.anon_rss_before_bytes = before->rss_anon_bytes;
  if (auto ok = check_geometry(options_); !ok) return located(std::move(ok).error());
  RINGLOAD_TRY_VOID(open_source());
  const SourceNeeds needs = source_->needs();
  auto planned = make_plan(model_, plan_options(options_, needs));
  if (!planned) return located(std::move(planned).error());
  plan_ = std::move(planned).value();
  if (needs.slots) RINGLOAD_TRY_VOID(prepare_staging());
  if (auto prepared = sink_.prepare(plan_->tensors); !prepared) return located(std::move(prepared).error());
  delivery_.emplace(*plan_, sink_, options_, report_, start_);
  if (options_.release) {
    releaser_.emplace(model_.is_mmap() ? model_.image() : std::span<const std::byte>{}, model_.fd(),
                      model_.path(), [this](std::string_view w) { warn(w); });
  }
  const auto chunks = static_cast<std::uint32_t>(plan_->chunks.size());
  window_.emplace(chunks, ring_ != nullptr ? ring_->slot_count() : 0);
  read_span_.assign(chunks, 0);
  arrived_.assign(chunks, ChunkDone{});
  delivery_->tensors_ready_through(-1);  // zero-byte tensors before the first chunk
  return {};
}

Result<void> LoadRun::open_source() {
  auto warn_here = [this](std::string_view w) { warn(w); };
  report_.strategy = RINGLOAD_TRY(resolve_strategy(options_.strategy, model_, engine_, options_, warn_here));
  const SourceContext context{model_, options_, engine_, sink_, warn_here};
  auto opened = strategy_entry(report_.strategy).open(context);
  if (!opened && opened.error().kind == ErrorKind::unsupported_feature &&
      options_.strategy == Strategy::automatic && report_.strategy == Strategy::uring_direct) {
    warn("O_DIRECT open failed; auto falls back to buffered reads + FADV_DONTNEED");
    report_.strategy = Strategy::uring;
    opened = strategy_entry(report_.strategy).open(context);
  }
  if (!opened) return located(std::move(opened).error());
  source_ = std::move(opened).value();
  return {};
}

Result<void> LoadRun::prepare_staging() {
  const std::optional<int> device = sink_.staging_device();
  const std::optional<int> node = device ? engine_.pinner().numa_node(*device) : std::nullopt;
  ring_ = RINGLOAD_TRY(engine_.ring(options_.slot_count, options_.slot_size, node));
  if (device) {
    if (auto pinned = ring_->pin_for(*device, engine_.pinner()); !pinned) {
      warn(fmt::format("{}; copying from unpinned staging memory, at lower speed",
                       pinned.error().to_string()));
    }
    report_.staging_pinned = ring_->pinned_for(*device);
  }
  source_->attach(*ring_);
  report_.staging_bytes = ring_->memory().size();
  report_.staging_huge_pages = ring_->huge_pages();
  report_.staging_registered = source_->fixed_buffers();
  return {};
}

Result<bool> LoadRun::step(std::uint64_t quantum_bytes, const YieldCheck& yield) {
  const CpuMeter meter(cpu_);
  std::uint64_t started_bytes = 0;
  bool yielding = false;
  while (!window_->all_delivered()) {
    if (cancelled()) return located(make_error(ErrorKind::cancelled, "the load was cancelled"));
    RINGLOAD_TRY_VOID(recycle(/*wait=*/false));
    if (!yielding && yield) {
      const bool used = started_bytes >= quantum_bytes;
      if (yield(used)) {
        yielding = true;
      } else if (used) {
        started_bytes = 0;  // nobody else wants the ring: another quantum, no drain
      }
    }
    if (!yielding) RINGLOAD_TRY_VOID(start_reads(quantum_bytes, started_bytes));
    if (yielding && window_->all_started_delivered() && source_->in_flight() == 0) {
      // Our turn is over: hand back every slot, so the next load starts with the whole ring.
      RINGLOAD_TRY_VOID(recycle(/*wait=*/true));
      return false;
    }
    RINGLOAD_TRY_VOID(reap());
    RINGLOAD_TRY_VOID(deliver_ready());
  }
  // Every chunk is delivered; the last tensors are ready once the sink has finished with them.
  RINGLOAD_TRY_VOID(sink_.finish());
  RINGLOAD_TRY_VOID(recycle(/*wait=*/true));
  delivery_->tensors_ready_through(static_cast<std::int64_t>(plan_->chunks.size()));
  return true;
}

Result<void> LoadRun::start_reads(std::uint64_t quantum_bytes, std::uint64_t& started_bytes) {
  ChunkWindow& window = *window_;
  while (started_bytes < quantum_bytes && window.can_start() && source_->in_flight() < options_.queue_depth) {
    const std::uint32_t chunk = window.next_start();
    const Chunk& c = plan_->chunks[chunk];
    const std::uint32_t slot = window.start_next();
    read_span_[chunk] = spans_.size();
    spans_.push_back(
        TimelineSpan{TimelineSpan::Stage::read, slot, c.file_offset, c.valid, delivery_->now(), 0});
    const auto buffer = slot == kNoSlot ? std::span<std::byte>{} : ring_->slot(slot);
    if (auto started = source_->start(ChunkRequest{chunk, slot, &c, buffer}); !started) {
      return located(std::move(started).error());
    }
    started_bytes += c.valid;
  }
  return {};
}

Result<void> LoadRun::reap() {
  const ChunkWindow& window = *window_;
  const bool wait = !window.next_ready();
  if (wait && window.all_started_delivered() && source_->in_flight() == 0) {
    // Nothing in flight and no slot free: wait for the sink to hand one back.
    if (!window.draining())
      return located(make_error(ErrorKind::io, "pipeline stalled: no slot in flight or draining"));
    return sink_.wait_slot_idle(window.oldest_draining_slot());
  }
  done_.clear();
  if (auto reaped = source_->reap(wait, done_); !reaped) return located(std::move(reaped).error());
  for (const ChunkDone& d : done_) {
    window_->completed(d.chunk);
    arrived_[d.chunk] = d;
    spans_[read_span_[d.chunk]].end_s = delivery_->now();
  }
  return {};
}

Result<void> LoadRun::deliver_ready() {
  ChunkWindow& window = *window_;
  while (window.next_ready()) {
    if (cancelled()) return located(make_error(ErrorKind::cancelled, "the load was cancelled"));
    const std::uint32_t chunk = window.next_deliver();
    const Chunk& c = plan_->chunks[chunk];
    const ChunkDone& arrived = arrived_[chunk];
    const std::uint32_t slot = window.slot_of(chunk);
    const double copy_start = delivery_->now();
    if (arrived.delivered) {
      delivery_->delivered_by_source(c);
    } else if (auto delivered = delivery_->deliver(c, arrived.bytes, slot); !delivered) {
      return located(std::move(delivered).error());
    }
    spans_.push_back(
        TimelineSpan{TimelineSpan::Stage::copy, slot, c.file_offset, c.valid, copy_start, delivery_->now()});
    if (releaser_ && source_->needs().release_as_delivered) {
      const double release_start = delivery_->now();
      // Bytes before the next chunk's start are done with (the next chunk may share a page).
      const auto& chunks = plan_->chunks;
      releaser_->delivered_up_to(chunk + 1 < chunks.size() ? chunks[chunk + 1].file_offset
                                                           : c.file_offset + c.valid);
      spans_.push_back(TimelineSpan{TimelineSpan::Stage::release, slot, c.file_offset, c.valid, release_start,
                                    delivery_->now()});
    }
    window.delivered();
    if (slot == kNoSlot) {
      // In place: a sink may read the bytes until finish(); the tensor is ready once they landed.
      if (!arrived.delivered) RINGLOAD_TRY_VOID(sink_.finish());
      delivery_->tensors_ready_through(chunk);
    }
  }
  return {};
}

Result<void> LoadRun::recycle(bool wait) {
  const std::int64_t last = RINGLOAD_TRY(window_->recycle(sink_, wait));
  if (last >= 0) delivery_->tensors_ready_through(last);
  return {};
}

Result<LoadReport> LoadRun::finish() {
  {
    const CpuMeter meter(cpu_);
    RINGLOAD_TRY_VOID(sink_.finish());
    delivery_->progress(/*force=*/true);
    if (releaser_) releaser_->finish(model_.image().size());
  }
  const ReportInputs inputs{.bytes = plan_->bytes,
                            .bytes_read = source_->bytes_read(),
                            .tensors = static_cast<std::uint32_t>(plan_->tensors.size()),
                            .wall_s = delivery_->now(),
                            .cpu = cpu_,
                            .release_busy_s = releaser_ ? releaser_->busy_seconds() : 0,
                            .fd = model_.fd(),
                            .path = model_.path()};
  complete_report(report_, inputs, spans_, options_.record_timeline);
  finished_ = true;
  if (options_.on_finished) options_.on_finished(nullptr);
  return std::move(report_);
}

void LoadRun::abandon(const Error& error) noexcept {
  if (finished_) return;
  finished_ = true;
  // The kernel may still write into slots, the sink still read them: both must stop before the
  // slots go to another load and before the destinations are freed.
  if (source_) source_->drain();
  (void)sink_.finish();
  sink_.discard();
  if (releaser_) releaser_->finish(model_.image().size());
  if (options_.on_finished) options_.on_finished(&error);
}

}  // namespace ringload
