// The Loader: resolves the strategy, plans the chunks, drives source → ring → sink → release on
// the calling thread, and builds the LoadReport.
#include <fcntl.h>
#include <sys/resource.h>

#include <algorithm>
#include <chrono>
#include <deque>
#include <optional>
#include <thread>

#include <fmt/format.h>

#include "base/sha256.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "io/safe_copy.hpp"
#include "io/uring.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/release.hpp"
#include "pipeline/source.hpp"
#include "pipeline/staging_ring.hpp"
#include "pipeline/testing.hpp"
#include "ringload/memstat.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct CpuTimes {
  double user = 0;
  double system = 0;
};

CpuTimes thread_cpu() {
  rusage usage{};
  ::getrusage(RUSAGE_THREAD, &usage);
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return {secs(usage.ru_utime), secs(usage.ru_stime)};
}

Error with_path(Error e, const std::string& path) {
  if (e.path.empty()) e.path = path;
  return e;
}

// Length of the union of the read spans: the time at least one read was in flight.
double busy_union(std::vector<TimelineSpan> spans) {
  std::sort(spans.begin(), spans.end(), [](const auto& a, const auto& b) { return a.start_s < b.start_s; });
  double total = 0;
  double open_start = -1;
  double open_end = -1;
  for (const auto& s : spans) {
    if (s.start_s > open_end) {
      if (open_end > open_start) total += open_end - open_start;
      open_start = s.start_s;
      open_end = s.end_s;
    } else {
      open_end = std::max(open_end, s.end_s);
    }
  }
  if (open_end > open_start) total += open_end - open_start;
  return total;
}

// Everything one load needs while it runs: what it delivers to, what it reports, in order.
class Delivery {
 public:
  Delivery(const Plan& plan, Sink& sink, const PipelineOptions& options, LoadReport& report,
           Clock::time_point start)
      : plan_(plan),
        sink_(sink),
        options_(options),
        report_(report),
        start_(start),
        digests_(plan.tensors.size()) {}

  Result<void> write(std::uint32_t tensor, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) {
    if (options_.checksum_sha256) {
      auto& digest = digests_[tensor];
      if (!digest) digest = RINGLOAD_TRY(Sha256::create());
      digest->update(bytes);
    }
    RINGLOAD_TRY_VOID(sink_.write(tensor, offset, bytes, slot));
    bytes_done_ += bytes.size();
    return {};
  }

  // Fires on_tensor_ready for every tensor complete once chunk `delivered` is (-1: before any),
  // in file order.
  void tensors_ready_through(std::int64_t delivered) {
    while (next_ready_ < plan_.tensors.size() && plan_.last_chunk[next_ready_] <= delivered) fire_next();
  }
  // The baselines deliver whole tensors: tensors [0, end) are complete.
  void tensors_ready_before(std::size_t end) {
    while (next_ready_ < std::min(end, plan_.tensors.size())) fire_next();
  }

 private:
  void fire_next() {
    {
      const SinkTensor& t = plan_.tensors[next_ready_];
      if (report_.time_to_first_tensor_s < 0) report_.time_to_first_tensor_s = seconds_since(start_);
      TensorDigest d{t.info->name, t.file_offset, t.size, {}};
      if (options_.checksum_sha256) {
        auto& digest = digests_[next_ready_];
        if (!digest) {
          if (auto fresh = Sha256::create()) digest = std::move(fresh).value();
        }
        if (digest) d.sha256 = digest->finish_hex();
        digest.reset();
      }
      report_.digests.push_back(std::move(d));
      if (options_.on_tensor_ready) options_.on_tensor_ready(*t.info, sink_.destination(t.index));
      ++next_ready_;
      progress(false);
    }
  }

 public:
  void progress(bool force) {
    if (!options_.on_progress) return;
    const auto now = Clock::now();
    if (!force && now - last_progress_ < std::chrono::milliseconds(50)) return;
    last_progress_ = now;
    options_.on_progress(LoadProgress{bytes_done_, plan_.bytes, static_cast<std::uint32_t>(next_ready_),
                                      static_cast<std::uint32_t>(plan_.tensors.size()),
                                      seconds_since(start_)});
  }

  [[nodiscard]] bool cancelled() const { return options_.cancel.cancelled(); }
  [[nodiscard]] double now() const { return seconds_since(start_); }

 private:
  const Plan& plan_;
  Sink& sink_;
  const PipelineOptions& options_;
  LoadReport& report_;
  Clock::time_point start_;
  std::vector<std::optional<Sha256>> digests_;
  std::size_t next_ready_ = 0;
  std::uint64_t bytes_done_ = 0;
  Clock::time_point last_progress_{};
};

// The staging ring is pinned memory in CUDA builds: bounded, so a typo cannot pin the machine.
constexpr std::uint64_t kMaxRingBytes = 256ULL << 20;

Error cancelled_error(const std::string& path) {
  Error e = make_error(ErrorKind::cancelled, "the load was cancelled");
  e.path = path;
  return e;
}

}  // namespace

struct Loader::Impl {
  std::optional<StagingRing> ring;
  std::optional<Uring> uring;
  std::thread::id uring_thread;
  std::optional<Error> uring_unavailable;
  bool buffers_registered = false;
  FaultInjector fault;

  Result<LoadReport> load(const Model& model, Sink& sink, const PipelineOptions& options);

 private:
  Result<void> ensure_ring(const PipelineOptions& options, Sink& sink);
  Uring* ensure_uring(const PipelineOptions& options);
  Result<Strategy> resolve(const Model& model, const PipelineOptions& options,
                           const std::function<void(std::string_view)>& warn);
  Result<void> run_read(const Model& model, const Plan& plan, Sink& sink, Delivery& delivery);
  Result<void> run_mmap(const Model& model, const Plan& plan, Sink& sink, Delivery& delivery);
  Result<void> run_pipelined(const Model& model, const Plan& plan, Sink& sink, ChunkSource& source,
                             const PipelineOptions& options, Releaser* releaser, Delivery& delivery,
                             std::vector<TimelineSpan>& spans);
};

Result<void> Loader::Impl::ensure_ring(const PipelineOptions& options, Sink& sink) {
  if (!ring || ring->slot_count() != options.slot_count || ring->slot_size() != options.slot_size) {
    // Memory a device sink pinned must be unpinned before it is unmapped.
    if (ring) RINGLOAD_TRY_VOID(sink.attach_staging({}));
    if (uring && buffers_registered) io_uring_unregister_buffers(uring->get());
    buffers_registered = false;
    ring.reset();
    ring = RINGLOAD_TRY(StagingRing::create(options.slot_count, options.slot_size));
  }
  return sink.attach_staging(ring->memory());
}

Uring* Loader::Impl::ensure_uring(const PipelineOptions& options) {
  // The ring is SINGLE_ISSUER: only the thread that created it may submit. A Loader moved to
  // another thread (an Asio pool runs handlers anywhere) builds a new one there.
  if (uring && uring_thread != std::this_thread::get_id()) {
    uring.reset();
    buffers_registered = false;
  }
  if (uring) return &*uring;
  if (uring_unavailable) return nullptr;
  auto created = Uring::create(std::max<std::uint32_t>(8, options.queue_depth));
  if (!created) {
    uring_unavailable = std::move(created).error();
    return nullptr;
  }
  uring = std::move(created).value();
  uring_thread = std::this_thread::get_id();
  return &*uring;
}

Result<Strategy> Loader::Impl::resolve(const Model& model, const PipelineOptions& options,
                                       const std::function<void(std::string_view)>& warn) {
  const Strategy s = options.strategy;
  if (s == Strategy::read || s == Strategy::mmap || s == Strategy::mmap_pipelined) return s;
  if (!model.is_mmap()) {
    warn(fmt::format(
        "{}: the model is in memory (compressed APR or from_bytes): copying from memory instead of {}",
        model.path(), to_string(s)));
    return Strategy::mmap_pipelined;
  }
  if (ensure_uring(options) == nullptr) {
    if (s != Strategy::automatic) return *uring_unavailable;
    warn(fmt::format("io_uring unavailable ({}); auto uses mmap-pipelined", uring_unavailable->message));
    return Strategy::mmap_pipelined;
  }
  if (s != Strategy::automatic) return s;
  // Measured on an 8 GiB file (bench/results/2026-11-25-cpp-2vcpu): warm, O_DIRECT reads the
  // disk again (3.6 GB/s) where copying out of the page cache runs at 9.9 GB/s, so a mostly
  // cached file is copied from its mapping. Cold, O_DIRECT is best (4.1 GB/s, 94% of the disk);
  // where the file system refuses it, buffered reads + FADV_DONTNEED (3.3 GB/s, nothing left
  // cached) beat RWF_DONTCACHE (1.9 GB/s) here, so that is the fallback.
  if (auto cached = file_residency(model.fd(), model.path());
      cached && cached->total_pages > 0 && cached->resident_pages * 2 >= cached->total_pages) {
    return Strategy::mmap_pipelined;
  }
  return direct_io_alignment(model.fd()) ? Strategy::uring_direct : Strategy::uring;
}

Result<void> Loader::Impl::run_read(const Model& model, const Plan& plan, Sink& sink, Delivery& delivery) {
  // The seed's "before": the whole file onto the heap (uninitialised, as fs::read or
  // Python's read() would have it), then copy out of it.
  std::unique_ptr<std::byte[]> heap;
  std::span<const std::byte> image = model.image();
  if (model.is_mmap()) {
    // Through the model's own descriptor: the file it opened, even if the path was replaced since.
    const std::uint64_t size = model.image().size();
    heap = std::make_unique_for_overwrite<std::byte[]>(size);
    constexpr std::uint64_t kPiece = 64ULL << 20;  // a cancel is seen between pieces
    for (std::uint64_t at = 0; at < size; at += kPiece) {
      if (delivery.cancelled()) return cancelled_error(model.path());
      const std::uint64_t n = std::min(kPiece, size - at);
      RINGLOAD_TRY_VOID(pread_exact(model.fd(), std::span(heap.get() + at, n), at, model.path()));
    }
    image = std::span<const std::byte>(heap.get(), size);
  }
  for (const SinkTensor& t : plan.tensors) {
    if (delivery.cancelled()) return cancelled_error(model.path());
    RINGLOAD_TRY_VOID(delivery.write(t.index, 0, image.subspan(t.file_offset, t.size), kNoSlot));
    // kNoSlot bytes are the sink's until finish(); after it the tensor is at its destination
    // (a no-op for host sinks, a stream sync for a device: this is the baseline, not the fast path).
    RINGLOAD_TRY_VOID(sink.finish());
    delivery.tensors_ready_before(t.index + 1);
  }
  return {};
}

Result<void> Loader::Impl::run_mmap(const Model& model, const Plan& plan, Sink& sink, Delivery& delivery) {
  // The seed's "after": copy tensor by tensor straight out of the mapping. Device sinks get the
  // bytes through a staging slot: a SIGBUS must never unwind out of a driver call.
  const auto image = model.image();
  const bool bounce = !plan.tensors.empty() && sink.destination(0).on_device;
  for (const SinkTensor& t : plan.tensors) {
    if (delivery.cancelled()) return cancelled_error(model.path());
    const auto bytes = image.subspan(t.file_offset, t.size);
    if (bounce) {
      const auto slot = ring->slot(0);
      for (std::uint64_t at = 0; at < bytes.size(); at += slot.size()) {
        const std::uint64_t n = std::min<std::uint64_t>(slot.size(), bytes.size() - at);
        auto copied = copy_from_mapping(slot.first(n), bytes.subspan(at, n));
        if (!copied) {
          Error e = std::move(copied).error();
          e.offset = t.file_offset + at + e.offset.value_or(0);
          e.tensor = t.info->name;
          return with_path(std::move(e), model.path());
        }
        RINGLOAD_TRY_VOID(delivery.write(t.index, at, slot.first(n), 0));
        RINGLOAD_TRY_VOID(sink.wait_slot_idle(0));
      }
    } else {
      Result<void> written;
      auto guarded = guard_mapped_reads(image, [&] { written = delivery.write(t.index, 0, bytes, kNoSlot); });
      if (!guarded) {
        Error e = std::move(guarded).error();
        e.tensor = t.info->name;
        return with_path(std::move(e), model.path());
      }
      RINGLOAD_TRY_VOID(std::move(written));
    }
    delivery.tensors_ready_before(t.index + 1);
  }
  delivery.tensors_ready_before(plan.tensors.size());
  return {};
}

Result<void> Loader::Impl::run_pipelined(const Model& model, const Plan& plan, Sink& sink,
                                         ChunkSource& source, const PipelineOptions& options,
                                         Releaser* releaser, Delivery& delivery,
                                         std::vector<TimelineSpan>& spans) {
  const auto n = static_cast<std::uint32_t>(plan.chunks.size());
  std::vector<std::int64_t> slot_of(n, -1);
  std::vector<bool> ready(n, false);
  std::vector<std::size_t> read_span(n, 0);
  std::deque<std::uint32_t> free_slots;
  for (std::uint32_t s = 0; s < ring->slot_count(); ++s) free_slots.push_back(s);
  // Delivered chunks whose slot an async sink may still be copying from, in chunk order. A
  // tensor is ready only once every chunk up to its last is idle: its bytes are then at the
  // destination, not merely queued.
  struct Draining {
    std::uint32_t slot;
    std::uint32_t chunk;
  };
  std::deque<Draining> draining;
  std::vector<std::uint32_t> completed;
  std::uint32_t next_start = 0;
  std::uint32_t next_deliver = 0;

  auto on_completed = [&] {
    for (std::uint32_t c : completed) {
      ready[c] = true;
      spans[read_span[c]].end_s = delivery.now();
    }
    completed.clear();
  };

  delivery.tensors_ready_through(-1);
  while (next_deliver < n) {
    if (delivery.cancelled()) return cancelled_error(model.path());
    while (!draining.empty()) {  // recycle slots the sink has finished with
      const bool idle = RINGLOAD_TRY(sink.slot_idle(draining.front().slot));
      if (!idle) break;
      free_slots.push_back(draining.front().slot);
      delivery.tensors_ready_through(draining.front().chunk);
      draining.pop_front();
    }
    while (next_start < n && !free_slots.empty() && source.in_flight() < options.queue_depth) {
      const std::uint32_t slot = free_slots.front();
      free_slots.pop_front();
      slot_of[next_start] = slot;
      read_span[next_start] = spans.size();
      const Chunk& chunk = plan.chunks[next_start];
      spans.push_back(
          TimelineSpan{TimelineSpan::Stage::read, slot, chunk.file_offset, chunk.valid, delivery.now(), 0});
      auto started = source.start(ChunkRequest{next_start, slot, &chunk, ring->slot(slot)});
      if (!started) return with_path(std::move(started).error(), model.path());
      ++next_start;
    }
    if (!ready[next_deliver]) {
      if (next_start == next_deliver && source.in_flight() == 0) {
        // Nothing in flight and no slot free: wait for the sink to hand one back.
        if (draining.empty())
          return make_error(ErrorKind::io, "pipeline stalled: no slot in flight or draining");
        RINGLOAD_TRY_VOID(sink.wait_slot_idle(draining.front().slot));
        continue;
      }
      auto reaped = source.reap(/*wait=*/true, completed);
      if (!reaped) return with_path(std::move(reaped).error(), model.path());
    } else {
      auto reaped = source.reap(/*wait=*/false, completed);
      if (!reaped) return with_path(std::move(reaped).error(), model.path());
    }
    on_completed();

    while (next_deliver < n && ready[next_deliver]) {
      const Chunk& chunk = plan.chunks[next_deliver];
      const auto slot = static_cast<std::uint32_t>(slot_of[next_deliver]);
      const auto bytes = ring->slot(slot);
      const double copy_start = delivery.now();
      for (const Piece& p : chunk.pieces) {
        RINGLOAD_TRY_VOID(
            delivery.write(p.tensor, p.tensor_offset, bytes.subspan(p.chunk_offset, p.length), slot));
      }
      spans.push_back(TimelineSpan{TimelineSpan::Stage::copy, slot, chunk.file_offset, chunk.valid,
                                   copy_start, delivery.now()});
      if (releaser != nullptr) {
        const double release_start = delivery.now();
        // Bytes before the next chunk's start are done with (the next chunk may share a page).
        const std::uint64_t done_to = next_deliver + 1 < n ? plan.chunks[next_deliver + 1].file_offset
                                                           : chunk.file_offset + chunk.valid;
        releaser->delivered_up_to(done_to);
        spans.push_back(TimelineSpan{TimelineSpan::Stage::release, slot, chunk.file_offset, chunk.valid,
                                     release_start, delivery.now()});
      }
      draining.push_back(Draining{slot, next_deliver});
      ++next_deliver;
    }
  }
  // Every chunk is delivered; the last tensors are ready once the sink has finished with them.
  RINGLOAD_TRY_VOID(sink.finish());
  delivery.tensors_ready_through(static_cast<std::int64_t>(n));
  return {};
}

Result<LoadReport> Loader::Impl::load(const Model& model, Sink& sink, const PipelineOptions& options) {
  const auto start = Clock::now();
  const CpuTimes cpu_start = thread_cpu();
  LoadReport report;
  report.path = model.path();
  report.requested = options.strategy;
  report.sink = std::string(sink.name());
  if (auto before = process_memory()) report.anon_rss_before_bytes = before->rss_anon_bytes;
  auto warn = [&](std::string_view w) {
    report.warnings.emplace_back(w);
    if (options.log) options.log(w);
  };

  const auto ring_bytes = static_cast<unsigned __int128>(options.slot_count) * options.slot_size;
  if (options.slot_count == 0 || options.slot_size < 65536 || options.slot_size % 65536 != 0 ||
      ring_bytes > kMaxRingBytes || options.read_size == 0 || options.read_size % 4096 != 0 ||
      options.queue_depth == 0) {
    return with_path(
        make_error(
            ErrorKind::invalid_argument,
            fmt::format("slots {} x {} bytes, reads of {} bytes, queue depth {}: need ≥ 1 slot "
                        "of a multiple of 64 KiB, reads a multiple of 4 KiB, depth ≥ 1",
                        options.slot_count, options.slot_size, options.read_size, options.queue_depth)),
        model.path());
  }
  Strategy strategy = RINGLOAD_TRY(resolve(model, options, warn));

  // O_DIRECT reads must start and end on the file system's offset alignment; so must chunks.
  UniqueFd read_fd;
  std::uint64_t alignment = 4096;
  if (strategy == Strategy::uring_direct) {
    const auto dio = direct_io_alignment(model.fd());
    if (dio) alignment = std::max<std::uint64_t>(alignment, dio->offset);
    if (options.slot_size % alignment != 0 || options.read_size % alignment != 0) {
      return with_path(
          make_error(ErrorKind::invalid_argument,
                     fmt::format("O_DIRECT needs slot and read sizes that are multiples of {}", alignment)),
          model.path());
    }
    // Reopen the model's own file (not its path, which may name a newer file by now) with O_DIRECT.
    auto opened = UniqueFd::open(fmt::format("/proc/self/fd/{}", model.fd()), O_RDONLY | O_DIRECT);
    if (!opened) {
      if (options.strategy != Strategy::automatic) {
        Error e = std::move(opened).error();
        e.kind = ErrorKind::unsupported_feature;
        e.message += "; this file system refuses O_DIRECT: use --strategy auto or uring-dontcache";
        return e;
      }
      warn("O_DIRECT open failed; auto falls back to buffered reads + FADV_DONTNEED");
      strategy = Strategy::uring;
      alignment = 4096;
    } else {
      read_fd = std::move(opened).value();
    }
  }
  if (strategy == Strategy::uring || strategy == Strategy::uring_dontcache) {
    read_fd = RINGLOAD_TRY(UniqueFd::open(fmt::format("/proc/self/fd/{}", model.fd()), O_RDONLY));
    // Sequential hint: doubles the readahead window of buffered reads.
    (void)::posix_fadvise(read_fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  }

  PlanOptions plan_options;
  plan_options.slot_size = options.slot_size;
  plan_options.alignment = alignment;
  plan_options.max_gap = options.read_size;
  plan_options.tensor_names = options.tensor_names;
  plan_options.shard_rank = options.shard_rank;
  plan_options.shard_world = options.shard_world;
  auto planned = make_plan(model, plan_options);
  if (!planned) return with_path(std::move(planned).error(), model.path());
  const Plan plan = std::move(planned).value();
  // The baselines read no staging slots (but mmap into a device sink bounces through one):
  // giving them a ring would add its size to their peak RSS.
  const bool baseline = strategy == Strategy::read || strategy == Strategy::mmap;
  if (!baseline) RINGLOAD_TRY_VOID(ensure_ring(options, sink));
  RINGLOAD_TRY_VOID(sink.prepare(plan.tensors));
  if (baseline && strategy == Strategy::mmap && !plan.tensors.empty() && sink.destination(0).on_device) {
    // A device sink learns of the staging memory before its destinations (attach, then
    // prepare); this rare path pays a second prepare.
    RINGLOAD_TRY_VOID(ensure_ring(options, sink));
    RINGLOAD_TRY_VOID(sink.prepare(plan.tensors));
  }
  if (ring && !baseline) {
    report.staging_bytes = ring->memory().size();
    report.staging_huge_pages = ring->huge_pages();
  }

  Delivery delivery(plan, sink, options, report, start);
  std::vector<TimelineSpan> spans;
  std::optional<Releaser> releaser;
  if (options.release) {
    releaser.emplace(model.is_mmap() ? model.image() : std::span<const std::byte>{}, model.fd(), model.path(),
                     warn);
  }

  Result<void> ran;
  switch (strategy) {
    case Strategy::read: ran = run_read(model, plan, sink, delivery); break;
    case Strategy::mmap: ran = run_mmap(model, plan, sink, delivery); break;
    case Strategy::mmap_pipelined: {
      MemorySourceOptions memory{.image = model.image(),
                                 .mapped = model.is_mmap(),
                                 .willneed_window = options.willneed_window,
                                 .fault = fault};
      auto source = make_memory_source(std::move(memory));
      ran = run_pipelined(model, plan, sink, *source, options, releaser ? &*releaser : nullptr, delivery,
                          spans);
      break;
    }
    case Strategy::uring:
    case Strategy::uring_direct:
    case Strategy::uring_dontcache:
    case Strategy::automatic: {
      if (!buffers_registered && uring) {
        std::vector<std::span<std::byte>> slots;
        for (std::uint32_t s = 0; s < ring->slot_count(); ++s) slots.push_back(ring->slot(s));
        auto registered = uring->register_buffers(slots);
        if (registered) {
          buffers_registered = true;
        } else {
          warn(fmt::format("{}; reading without fixed buffers", registered.error().message));
        }
      }
      auto make = [&](bool dontcache) {
        UringSourceOptions u;
        u.uring = &*uring;
        u.fd = read_fd.get();
        u.path = model.path();
        u.file_size = model.image().size();
        u.read_size = options.read_size;
        u.fixed_buffers = buffers_registered;
        u.dontcache = dontcache;
        u.direct = strategy == Strategy::uring_direct;
        u.direct_alignment = alignment;
        u.fault = fault;
        return make_uring_source(std::move(u));
      };
      auto source = make(strategy == Strategy::uring_dontcache);
      ran = run_pipelined(model, plan, sink, *source, options, releaser ? &*releaser : nullptr, delivery,
                          spans);
      break;
    }
  }
  RINGLOAD_TRY_VOID(std::move(ran));
  RINGLOAD_TRY_VOID(sink.finish());
  delivery.progress(/*force=*/true);
  if (releaser) releaser->finish(model.image().size());

  report.strategy = strategy;
  report.bytes = plan.bytes;
  report.bytes_read = strategy == Strategy::read ? model.image().size() : plan.bytes_read;
  report.tensors = static_cast<std::uint32_t>(plan.tensors.size());
  report.wall_s = seconds_since(start);
  report.gb_per_s = report.wall_s > 0 ? static_cast<double>(report.bytes) / report.wall_s / 1e9 : 0;
  const CpuTimes cpu_end = thread_cpu();
  report.cpu_user_s = cpu_end.user - cpu_start.user;
  report.cpu_system_s = cpu_end.system - cpu_start.system;
  std::vector<TimelineSpan> reads;
  for (const auto& s : spans) {
    if (s.stage == TimelineSpan::Stage::read) reads.push_back(s);
    if (s.stage == TimelineSpan::Stage::copy) report.copy_busy_s += s.end_s - s.start_s;
  }
  report.read_busy_s = busy_union(std::move(reads));
  report.release_busy_s = releaser ? releaser->busy_seconds() : 0;
  if (auto after = process_memory()) {
    report.peak_rss_bytes = after->hwm_bytes;
    report.anon_rss_after_bytes = after->rss_anon_bytes;
  }
  if (model.fd() >= 0) {
    if (auto residency = file_residency(model.fd(), model.path())) {
      report.file_resident_pages_after = residency->resident_pages;
      report.file_total_pages = residency->total_pages;
    }
  }
  if (options.record_timeline) report.timeline = std::move(spans);
  return report;
}

Loader::Loader() : impl_(std::make_unique<Impl>()) {}
Loader::Loader(Loader&&) noexcept = default;
Loader& Loader::operator=(Loader&&) noexcept = default;
Loader::~Loader() = default;

Result<LoadReport> Loader::load(const Model& model, Sink& sink, const PipelineOptions& options) {
  return impl_->load(model, sink, options);
}

Result<LoadReport> load_into(const Model& model, Sink& sink, const PipelineOptions& options) {
  auto report = [&] {
    Loader loader;
    auto r = loader.load(model, sink, options);
    // The ring dies with this Loader: a device sink must not keep it pinned.
    auto unpinned = sink.attach_staging({});
    if (r && !unpinned) return Result<LoadReport>(std::move(unpinned).error());
    return r;
  }();
  // A one-shot load frees its ring on return; what stays behind is measured after that (a
  // reused Loader keeps its ring, reported as staging_bytes).
  if (report) {
    if (auto after = process_memory()) report->anon_rss_after_bytes = after->rss_anon_bytes;
  }
  return report;
}

Result<LoadReport> load_into(const std::filesystem::path& path, Sink& sink, const PipelineOptions& options) {
  const Model model = RINGLOAD_TRY(Model::load(path));
  return load_into(model, sink, options);
}

void LoaderTestAccess::set_fault_injector(Loader& loader, FaultInjector fault) {
  loader.impl_->fault = std::move(fault);
}

}  // namespace ringload
