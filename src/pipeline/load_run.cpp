// LoadRun's schedule: starts reads into free slots, reaps them, delivers chunks in plan order,
// releases what was delivered and recycles slots the sink is done with, a quantum at a time.
// (begin() is load_setup.cpp.)
#include "pipeline/load_run.hpp"

namespace ringload {

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
