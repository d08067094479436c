// LoadRun's schedule: opens the next file when the ring has room for its chunks, starts reads
// into free slots, reaps them, delivers chunks in plan order, releases what was delivered, closes
// each file after its last chunk and recycles slots the sink is done with, a quantum at a time.
// (The setup is load_setup.cpp.)
#include <algorithm>
#include <limits>

#include "pipeline/load_run.hpp"

namespace ringload {

void LoadRun::warn(std::string_view message) {
  report_.warnings.emplace_back(message);
  if (options_.log) options_.log(message);
}

Error LoadRun::located(Error e) const {
  if (e.path.empty()) e.path = files_.path();
  return e;
}

// A failed read names the file and the offset it read from; the tensor whose bytes it was
// fetching (the first one of that file that ends after the offset) is named here, where the plan
// is known: a user wants to know which weights could not be read.
Error LoadRun::read_failed(Error e) const {
  if (e.tensor.empty() && e.offset && plan_) {
    for (std::uint32_t f = 0; f < plan_->files.size(); ++f) {
      if (!e.path.empty() && e.path != files_.path(f)) continue;
      const PlannedFile& file = plan_->files[f];
      for (std::uint32_t t = file.first_tensor; t < file.end_tensor; ++t) {
        const SinkTensor& tensor = plan_->tensors[t];
        if (tensor.size > 0 && tensor.file_offset + plan_->runs[t].extent() > *e.offset) {
          e.tensor = tensor.info->name;
          break;
        }
      }
      break;
    }
  }
  return located(std::move(e));
}

Result<bool> LoadRun::step(std::uint64_t quantum_bytes, const YieldCheck& yield) {
  const CpuMeter meter(cpu_);
  std::uint64_t started_bytes = 0;
  bool yielding = false;
  while (!window_->all_delivered() || more_files()) {
    if (cancelled()) return located(make_error(ErrorKind::cancelled, "the load was cancelled"));
    RINGLOAD_TRY_VOID(recycle(/*wait=*/false));
    more_to_start_ = false;  // only this turn's start_reads may say so (not a yielding turn's)
    if (!yielding && yield) {
      const bool used = started_bytes >= quantum_bytes;
      if (yield(used)) {
        yielding = true;
      } else if (used) {
        started_bytes = 0;  // nobody else wants the ring: another quantum, no drain
      }
    }
    if (!yielding) {
      // The next file's first reads go out while this one's last chunks are still in flight.
      while (more_files() && window_->wants_more() && started_bytes < quantum_bytes) {
        RINGLOAD_TRY_VOID(open_next_file());
      }
      RINGLOAD_TRY_VOID(start_reads(quantum_bytes, started_bytes));
    }
    if (window_->all_started_delivered() && in_flight() == 0 && (yielding || window_->all_delivered())) {
      if (yielding) {
        // Our turn is over: hand back every slot, so the next load starts with the whole ring.
        RINGLOAD_TRY_VOID(recycle(/*wait=*/true));
        return false;
      }
      if (!more_files()) break;
    }
    RINGLOAD_TRY_VOID(reap());
    RINGLOAD_TRY_VOID(deliver_ready());
  }
  // Every chunk is delivered; the last tensors are ready once the sink has finished with them.
  RINGLOAD_TRY_VOID(sink_.finish());
  RINGLOAD_TRY_VOID(recycle(/*wait=*/true));
  delivery_->tensors_ready_through(std::numeric_limits<std::int64_t>::max() - 1);
  return true;
}

Result<void> LoadRun::start_reads(std::uint64_t quantum_bytes, std::uint64_t& started_bytes) {
  ChunkWindow& window = *window_;
  // First chunk alone: a disk serves the reads in flight side by side, so with the whole ring in
  // flight the first chunk lands only with the last (81-107 ms to the first tensor of a cold
  // 1 GiB file here, against 7-9 ms with it alone). Once it is delivered the whole ring goes out.
  // (Doubling the reads ahead chunk by chunk instead cost a third of the throughput on a busy
  // machine: every step waits for the io thread to be scheduled.)
  const std::uint32_t ahead_limit = window.next_deliver() == 0 ? 1U : ~0U;
  // Reads into the sink's images fault its fresh pages in when they are submitted (the kernel pins
  // them), 2-5 ms per huge page where memory must be compacted for it: submitted all at once, the
  // ring's worth blocked a cancel for over 100 ms. One chunk per turn keeps the checks between.
  const std::uint32_t turn_limit = images_ ? 1U : ~0U;
  std::uint32_t turn_starts = 0;
  while (started_bytes < quantum_bytes && window.can_start() && in_flight() < options_.queue_depth &&
         window.next_start() - window.next_deliver() < ahead_limit) {
    if (turn_starts == turn_limit) {
      more_to_start_ = true;  // reap() must not block: the next turn starts the rest
      break;
    }
    ++turn_starts;
    const std::uint32_t chunk = window.next_start();
    const Chunk& c = plan_->chunks[chunk];
    FileRun& run = runs_[c.file];
    const std::uint32_t slot = window.start_next();
    read_span_[chunk] = spans_.size();
    const double now = delivery_->now();
    if (run.first_read_s < 0) run.first_read_s = now;
    spans_.push_back(TimelineSpan{TimelineSpan::Stage::read, slot, c.file_offset, c.valid, now, 0});
    auto buffer = slot == kNoSlot ? std::span<std::byte>{} : ring_->slot(slot);
    std::uint32_t read_slot = slot;
    if (images_ && run.reads_anywhere && slot != kNoSlot) {
      // Its place at the sink instead of the slot, which stays taken: slots still bound the
      // bytes in flight.
      if (const auto place = images_->place(c); !place.empty()) {
        buffer = place;
        read_slot = kNoSlot;
      }
    }
    read_in_place_[chunk] = read_slot != slot;
    if (auto started = run.source->start(ChunkRequest{chunk, read_slot, &c, buffer}); !started) {
      return read_failed(std::move(started).error());
    }
    started_bytes += c.valid;
  }
  return {};
}

std::uint32_t LoadRun::in_flight() const {
  std::uint32_t total = 0;
  std::vector<const void*> counted;
  for (const FileRun& run : runs_) {
    if (!run.source || std::find(counted.begin(), counted.end(), run.source->reap_group()) != counted.end())
      continue;
    counted.push_back(run.source->reap_group());
    total += run.source->in_flight();
  }
  return total;
}

Result<void> LoadRun::reap() {
  const ChunkWindow& window = *window_;
  const bool wait = !window.next_ready() && !more_to_start_;
  if (wait && window.all_started_delivered() && in_flight() == 0) {
    // Nothing in flight and no slot free: wait for the sink to hand one back.
    if (!window.draining())
      return located(make_error(ErrorKind::io, "pipeline stalled: no slot in flight or draining"));
    return sink_.wait_slot_idle(window.oldest_draining_slot());
  }
  // Block only on the source of the chunk delivered next; take what the others have.
  const void* waited_on = nullptr;
  if (wait && window.next_deliver() < plan_->chunks.size()) {
    waited_on = runs_[plan_->chunks[window.next_deliver()].file].source->reap_group();
  }
  done_.clear();
  std::vector<const void*> reaped;
  for (FileRun& run : runs_) {
    if (!run.source || std::find(reaped.begin(), reaped.end(), run.source->reap_group()) != reaped.end())
      continue;
    reaped.push_back(run.source->reap_group());
    if (auto r = run.source->reap(run.source->reap_group() == waited_on, done_); !r) {
      return read_failed(std::move(r).error());
    }
  }
  for (const ChunkDone& d : done_) {
    window_->completed(d.chunk);
    arrived_[d.chunk] = d;
    spans_[read_span_[d.chunk]].end_s = delivery_->now();
  }
  return {};
}

Result<void> LoadRun::deliver_ready() {
  while (window_->next_ready()) {
    if (cancelled()) return located(make_error(ErrorKind::cancelled, "the load was cancelled"));
    RINGLOAD_TRY_VOID(deliver(window_->next_deliver()));
  }
  return {};
}

Result<void> LoadRun::deliver(std::uint32_t chunk) {
  const Chunk& c = plan_->chunks[chunk];
  FileRun& run = runs_[c.file];
  const ChunkDone& arrived = arrived_[chunk];
  const std::uint32_t slot = window_->slot_of(chunk);
  const double copy_start = delivery_->now();
  if (arrived.delivered) {
    delivery_->delivered_by_source(c);
  } else if (read_in_place_[chunk]) {
    if (auto digested = delivery_->delivered_in_place(c, arrived.bytes); !digested) {
      return located(std::move(digested).error());
    }
    report_.bytes_read_in_place += c.valid;
  } else if (auto delivered = delivery_->deliver(c, arrived.bytes, slot); !delivered) {
    return located(std::move(delivered).error());
  }
  spans_.push_back(
      TimelineSpan{TimelineSpan::Stage::copy, slot, c.file_offset, c.valid, copy_start, delivery_->now()});
  const bool last_of_file = chunk + 1 == plan_->files[c.file].end_chunk;
  if (run.releaser && run.release_as_delivered) {
    const double release_start = delivery_->now();
    // Bytes before the next chunk's start are done with (the next chunk may share a page).
    run.releaser->delivered_up_to(last_of_file ? c.file_offset + c.valid
                                               : plan_->chunks[chunk + 1].file_offset);
    spans_.push_back(TimelineSpan{TimelineSpan::Stage::release, slot, c.file_offset, c.valid, release_start,
                                  delivery_->now()});
  }
  window_->delivered();
  if (slot == kNoSlot) {
    // In place: a sink may read the bytes until finish(); the tensor is ready once they landed,
    // and once every slot before it has (a load that switched from slots to in place).
    if (!arrived.delivered) RINGLOAD_TRY_VOID(sink_.finish());
    RINGLOAD_TRY_VOID(recycle(/*wait=*/true));
    delivery_->tensors_ready_through(chunk);
  }
  if (last_of_file) close_file(c.file);
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
  }
  std::uint64_t bytes_read = 0;
  for (std::uint32_t f = 0; f < runs_.size(); ++f) {
    close_file(f);  // every file is closed by now; a file with nothing to read, too
    bytes_read += runs_[f].bytes_read;
  }
  // pread-direct's threads are this load's own; their reads are system time.
  if (pread_pool_) cpu_.system += pread_pool_->cpu_seconds();
  const ReportInputs inputs{.bytes = plan_->bytes,
                            .bytes_read = bytes_read,
                            .tensors = static_cast<std::uint32_t>(plan_->tensors.size()),
                            .wall_s = delivery_->now(),
                            .cpu = cpu_,
                            .storage_bytes_read = storage_read_ ? storage_read_->bytes() : 0};
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
  for (FileRun& run : runs_) {
    if (run.source) run.source->drain();
  }
  (void)sink_.finish();
  sink_.discard();
  for (std::uint32_t f = 0; f < runs_.size(); ++f) close_file(f, /*abandoned=*/true);
  if (options_.on_finished) options_.on_finished(&error);
}

namespace {

Result<LoadReport> run_to_end(LoadRun& run) {
  auto done = [&]() -> Result<LoadReport> {
    RINGLOAD_TRY_VOID(run.begin());
    RINGLOAD_TRY_VOID(run.step(std::numeric_limits<std::uint64_t>::max(), nullptr));
    return run.finish();
  }();
  if (!done) run.abandon(done.error());
  return done;
}

}  // namespace

Result<LoadReport> run_load(LoadEngine& engine, const Model& model, Sink& sink,
                            const PipelineOptions& options) {
  LoadRun run(engine, model, sink, options);
  return run_to_end(run);
}

Result<LoadReport> run_load(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink,
                            const PipelineOptions& options) {
  LoadRun run(engine, checkpoint, sink, options);
  return run_to_end(run);
}

Result<LoadReport> run_round_load(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink,
                                  const PipelineOptions& options) {
  LoadRun run(engine, checkpoint, sink, options);
  run.leave_unread_files_alone();
  return run_to_end(run);
}

}  // namespace ringload
