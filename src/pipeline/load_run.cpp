// LoadRun: resolves the strategy, plans the chunks, drives source → ring → sink → release a
// quantum at a time, and builds the LoadReport.
#include "pipeline/load_run.hpp"

#include <fcntl.h>
#include <sys/resource.h>

#include <algorithm>
#include <deque>
#include <limits>

#include <fmt/format.h>

#include "base/sha256.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "io/safe_copy.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/release.hpp"
#include "ringload/memstat.hpp"

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

Error cancelled_error(const std::string& path) {
  Error e = make_error(ErrorKind::cancelled, "the load was cancelled");
  e.path = path;
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

// The staging ring is pinned memory in CUDA builds: bounded, so a typo cannot pin the machine.
constexpr std::uint64_t kMaxRingBytes = 256ULL << 20;

// What one load delivers to, what it reports, in order.
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
  void fire_next() {
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

// Where the pipelined strategies stand between steps.
struct Cursor {
  struct Draining {  // a delivered chunk whose slot an async sink may still be copying from
    std::uint32_t slot;
    std::uint32_t chunk;
  };
  std::vector<std::int64_t> slot_of;
  std::vector<bool> ready;
  std::vector<std::size_t> read_span;
  std::deque<std::uint32_t> free_slots;
  std::deque<Draining> draining;
  std::vector<std::uint32_t> completed;
  std::uint32_t next_start = 0;
  std::uint32_t next_deliver = 0;
};

}  // namespace

Result<void> Loader::Impl::ensure_ring(std::uint32_t slot_count, std::uint64_t slot_size, Sink& sink) {
  if (!ring || ring->slot_count() != slot_count || ring->slot_size() != slot_size) {
    // Memory a device sink pinned must be unpinned before it is unmapped.
    if (ring) RINGLOAD_TRY_VOID(sink.attach_staging({}));
    if (uring && buffers_registered) io_uring_unregister_buffers(uring->get());
    buffers_registered = false;
    ring.reset();
    ring = RINGLOAD_TRY(StagingRing::create(slot_count, slot_size));
    ++rings_created;
  }
  return sink.attach_staging(ring->memory());
}

Uring* Loader::Impl::ensure_uring(std::uint32_t queue_depth) {
  // The ring is SINGLE_ISSUER: only the thread that created it may submit. A Loader moved to
  // another thread (an Asio pool runs handlers anywhere) builds a new one there.
  if (uring && uring_thread != std::this_thread::get_id()) {
    uring.reset();
    buffers_registered = false;
  }
  if (uring) return &*uring;
  if (uring_unavailable) return nullptr;
  auto created = Uring::create(std::max<std::uint32_t>(8, queue_depth));
  if (!created) {
    uring_unavailable = std::move(created).error();
    return nullptr;
  }
  uring = std::move(created).value();
  uring_thread = std::this_thread::get_id();
  return &*uring;
}

void Loader::Impl::register_ring(const std::function<void(std::string_view)>& warn) {
  if (buffers_registered || !uring || !ring) return;
  std::vector<std::span<std::byte>> slots;
  for (std::uint32_t s = 0; s < ring->slot_count(); ++s) slots.push_back(ring->slot(s));
  auto registered = uring->register_buffers(slots);
  if (registered) {
    buffers_registered = true;
  } else {
    warn(fmt::format("{}; reading without fixed buffers", registered.error().message));
  }
}

struct LoadRun::State {
  State(Loader::Impl& loader_, const Model& model_, Sink& sink_)
      : loader(loader_), model(model_), sink(sink_) {}

  Loader::Impl& loader;
  const Model& model;
  Sink& sink;
  Clock::time_point start = Clock::now();
  CpuTimes cpu;  // summed over begin, steps and finish: other loads' turns excluded
  LoadReport report;
  Strategy strategy = Strategy::automatic;
  std::uint64_t alignment = 4096;
  UniqueFd read_fd;  // declared before the source that reads it: destroyed after it
  std::optional<Plan> plan;
  std::optional<Delivery> delivery;
  std::optional<Releaser> releaser;
  std::unique_ptr<ChunkSource> source;
  std::vector<TimelineSpan> spans;
  Cursor cursor;
  bool baseline_done = false;
  bool finished = false;  // on_finished has fired

  void warn(std::string_view w, const PipelineOptions& options) {
    report.warnings.emplace_back(w);
    if (options.log) options.log(w);
  }
};

namespace {

// Adds the calling thread's CPU time between construction and destruction to `total`.
class CpuMeter {
 public:
  explicit CpuMeter(CpuTimes& total) : total_(total), start_(thread_cpu()) {}
  CpuMeter(const CpuMeter&) = delete;
  CpuMeter& operator=(const CpuMeter&) = delete;
  ~CpuMeter() {
    const CpuTimes end = thread_cpu();
    total_.user += end.user - start_.user;
    total_.system += end.system - start_.system;
  }

 private:
  CpuTimes& total_;
  CpuTimes start_;
};

Result<Strategy> resolve(Loader::Impl& loader, const Model& model, const PipelineOptions& options,
                         const std::function<void(std::string_view)>& warn) {
  const Strategy s = options.strategy;
  if (s == Strategy::read || s == Strategy::mmap || s == Strategy::mmap_pipelined) return s;
  if (!model.is_mmap()) {
    warn(fmt::format(
        "{}: the model is in memory (compressed APR or from_bytes): copying from memory instead of {}",
        model.path(), to_string(s)));
    return Strategy::mmap_pipelined;
  }
  if (loader.ensure_uring(options.queue_depth) == nullptr) {
    if (s != Strategy::automatic) return *loader.uring_unavailable;
    warn(fmt::format("io_uring unavailable ({}); auto uses mmap-pipelined",
                     loader.uring_unavailable->message));
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

}  // namespace

LoadRun::LoadRun(Loader::Impl& loader, const Model& model, Sink& sink, PipelineOptions options)
    : state_(std::make_unique<State>(loader, model, sink)), options_(std::move(options)) {}

LoadRun::~LoadRun() = default;

Result<void> LoadRun::begin() {
  State& st = *state_;
  const CpuMeter meter(st.cpu);
  const Model& model = st.model;
  auto warn = [&](std::string_view w) { st.warn(w, options_); };
  st.report.path = model.path();
  st.report.requested = options_.strategy;
  st.report.sink = std::string(st.sink.name());
  if (auto before = process_memory()) st.report.anon_rss_before_bytes = before->rss_anon_bytes;

  if (auto ok = check_geometry(options_); !ok) return with_path(std::move(ok).error(), model.path());
  st.strategy = RINGLOAD_TRY(resolve(st.loader, model, options_, warn));

  // O_DIRECT reads must start and end on the file system's offset alignment; so must chunks.
  if (st.strategy == Strategy::uring_direct) {
    const auto dio = direct_io_alignment(model.fd());
    if (dio) st.alignment = std::max<std::uint64_t>(st.alignment, dio->offset);
    if (options_.slot_size % st.alignment != 0 || options_.read_size % st.alignment != 0) {
      return with_path(make_error(ErrorKind::invalid_argument,
                                  fmt::format("O_DIRECT needs slot and read sizes that are multiples of {}",
                                              st.alignment)),
                       model.path());
    }
    // Reopen the model's own file (not its path, which may name a newer file by now) with O_DIRECT.
    auto opened = UniqueFd::open(fmt::format("/proc/self/fd/{}", model.fd()), O_RDONLY | O_DIRECT);
    if (!opened) {
      if (options_.strategy != Strategy::automatic) {
        Error e = std::move(opened).error();
        e.kind = ErrorKind::unsupported_feature;
        e.message += "; this file system refuses O_DIRECT: use --strategy auto or uring-dontcache";
        return e;
      }
      warn("O_DIRECT open failed; auto falls back to buffered reads + FADV_DONTNEED");
      st.strategy = Strategy::uring;
      st.alignment = 4096;
    } else {
      st.read_fd = std::move(opened).value();
    }
  }
  if (st.strategy == Strategy::uring || st.strategy == Strategy::uring_dontcache) {
    st.read_fd = RINGLOAD_TRY(UniqueFd::open(fmt::format("/proc/self/fd/{}", model.fd()), O_RDONLY));
    // Sequential hint: doubles the readahead window of buffered reads.
    (void)::posix_fadvise(st.read_fd.get(), 0, 0, POSIX_FADV_SEQUENTIAL);
  }

  PlanOptions plan_options;
  plan_options.slot_size = options_.slot_size;
  plan_options.alignment = st.alignment;
  plan_options.max_gap = options_.read_size;
  plan_options.tensor_names = options_.tensor_names;
  plan_options.shard_rank = options_.shard_rank;
  plan_options.shard_world = options_.shard_world;
  auto planned = make_plan(model, plan_options);
  if (!planned) return with_path(std::move(planned).error(), model.path());
  st.plan = std::move(planned).value();
  const Plan& plan = *st.plan;

  // The baselines read no staging slots (but mmap into a device sink bounces through one):
  // giving them a ring would add its size to their peak RSS.
  const bool baseline = st.strategy == Strategy::read || st.strategy == Strategy::mmap;
  if (!baseline) RINGLOAD_TRY_VOID(st.loader.ensure_ring(options_.slot_count, options_.slot_size, st.sink));
  RINGLOAD_TRY_VOID(st.sink.prepare(plan.tensors));
  if (baseline && st.strategy == Strategy::mmap && !plan.tensors.empty() &&
      st.sink.destination(0).on_device) {
    // A device sink learns of the staging memory before its destinations (attach, then
    // prepare); this rare path pays a second prepare.
    RINGLOAD_TRY_VOID(st.loader.ensure_ring(options_.slot_count, options_.slot_size, st.sink));
    RINGLOAD_TRY_VOID(st.sink.prepare(plan.tensors));
  }
  if (st.loader.ring && !baseline) {
    st.report.staging_bytes = st.loader.ring->memory().size();
    st.report.staging_huge_pages = st.loader.ring->huge_pages();
  }

  st.delivery.emplace(plan, st.sink, options_, st.report, st.start);
  if (options_.release) {
    st.releaser.emplace(model.is_mmap() ? model.image() : std::span<const std::byte>{}, model.fd(),
                        model.path(), warn);
  }
  if (st.strategy == Strategy::mmap_pipelined) {
    st.source = make_memory_source(MemorySourceOptions{.image = model.image(),
                                                       .mapped = model.is_mmap(),
                                                       .willneed_window = options_.willneed_window,
                                                       .fault = st.loader.fault});
  } else if (!baseline) {
    st.loader.register_ring(warn);
    UringSourceOptions u;
    u.uring = &*st.loader.uring;
    u.fd = st.read_fd.get();
    u.path = model.path();
    u.file_size = model.image().size();
    u.read_size = options_.read_size;
    u.fixed_buffers = st.loader.buffers_registered;
    u.dontcache = st.strategy == Strategy::uring_dontcache;
    u.direct = st.strategy == Strategy::uring_direct;
    u.direct_alignment = st.alignment;
    u.fault = st.loader.fault;
    st.source = make_uring_source(std::move(u));
  }
  if (st.source) {
    Cursor& c = st.cursor;
    const std::size_t n = plan.chunks.size();
    c.slot_of.assign(n, -1);
    c.ready.assign(n, false);
    c.read_span.assign(n, 0);
    for (std::uint32_t s = 0; s < st.loader.ring->slot_count(); ++s) c.free_slots.push_back(s);
    st.delivery->tensors_ready_through(-1);  // zero-byte tensors before the first chunk
  }
  return {};
}

namespace {

Result<void> run_read(const Model& model, const Plan& plan, Sink& sink, Delivery& delivery) {
  // The seed's "before": the whole file onto the heap (uninitialised, as fs::read or
  // Python's read() would have it), then copy out of it.
  std::unique_ptr<std::byte[]> heap;
  std::span<const std::byte> image = model.image();
  if (model.is_mmap()) {
    // Through the model's own descriptor: the file it opened, even if the path was replaced since.
    const std::uint64_t size = model.image().size();
    heap = std::make_unique_for_overwrite<std::byte[]>(size);
    constexpr std::uint64_t kPiece = 16ULL << 20;  // a cancel is seen between pieces
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

Result<void> run_mmap(const Model& model, const Plan& plan, Sink& sink, const StagingRing* ring,
                      Delivery& delivery) {
  // The seed's "after": copy tensor by tensor straight out of the mapping. Device sinks get the
  // bytes through a staging slot: a SIGBUS must never unwind out of a driver call.
  const auto image = model.image();
  const bool bounce = !plan.tensors.empty() && sink.destination(0).on_device && ring != nullptr;
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

// Moves slots the sink has finished with back to the free list (all of them, waiting, with
// `wait`), firing on_tensor_ready for the tensors that completes.
Result<void> recycle(Cursor& c, Sink& sink, Delivery& delivery, bool wait) {
  while (!c.draining.empty()) {
    if (wait) {
      RINGLOAD_TRY_VOID(sink.wait_slot_idle(c.draining.front().slot));
    } else {
      const bool idle = RINGLOAD_TRY(sink.slot_idle(c.draining.front().slot));
      if (!idle) break;
    }
    c.free_slots.push_back(c.draining.front().slot);
    delivery.tensors_ready_through(c.draining.front().chunk);
    c.draining.pop_front();
  }
  return {};
}

}  // namespace

Result<bool> LoadRun::step(std::uint64_t quantum_bytes, const YieldCheck& yield) {
  State& st = *state_;
  const CpuMeter meter(st.cpu);
  const Model& model = st.model;
  const Plan& plan = *st.plan;
  Delivery& delivery = *st.delivery;
  if (!st.source) {  // the baselines run in one step
    if (!st.baseline_done) {
      if (st.strategy == Strategy::read) {
        RINGLOAD_TRY_VOID(run_read(model, plan, st.sink, delivery));
      } else {
        RINGLOAD_TRY_VOID(
            run_mmap(model, plan, st.sink, st.loader.ring ? &*st.loader.ring : nullptr, delivery));
      }
      st.baseline_done = true;
    }
    return true;
  }

  ChunkSource& source = *st.source;
  const StagingRing& ring = *st.loader.ring;
  Releaser* releaser = st.releaser ? &*st.releaser : nullptr;
  Cursor& c = st.cursor;
  auto& spans = st.spans;
  const auto n = static_cast<std::uint32_t>(plan.chunks.size());
  std::uint64_t started_bytes = 0;
  bool yielding = false;

  auto on_completed = [&] {
    for (std::uint32_t chunk : c.completed) {
      c.ready[chunk] = true;
      spans[c.read_span[chunk]].end_s = delivery.now();
    }
    c.completed.clear();
  };

  while (c.next_deliver < n) {
    if (delivery.cancelled()) return cancelled_error(model.path());
    RINGLOAD_TRY_VOID(recycle(c, st.sink, delivery, /*wait=*/false));
    if (!yielding && yield) {
      const bool used = started_bytes >= quantum_bytes;
      if (yield(used)) {
        yielding = true;
      } else if (used) {
        started_bytes = 0;  // nobody else wants the ring: another quantum, no drain
      }
    }
    while (!yielding && started_bytes < quantum_bytes && c.next_start < n && !c.free_slots.empty() &&
           source.in_flight() < options_.queue_depth) {
      const std::uint32_t slot = c.free_slots.front();
      c.free_slots.pop_front();
      c.slot_of[c.next_start] = slot;
      c.read_span[c.next_start] = spans.size();
      const Chunk& chunk = plan.chunks[c.next_start];
      spans.push_back(
          TimelineSpan{TimelineSpan::Stage::read, slot, chunk.file_offset, chunk.valid, delivery.now(), 0});
      auto started = source.start(ChunkRequest{c.next_start, slot, &chunk, ring.slot(slot)});
      if (!started) return with_path(std::move(started).error(), model.path());
      started_bytes += chunk.valid;
      ++c.next_start;
    }
    if (yielding && c.next_deliver == c.next_start && source.in_flight() == 0) {
      // Our turn is over: hand back every slot, so the next load starts with the whole ring.
      RINGLOAD_TRY_VOID(recycle(c, st.sink, delivery, /*wait=*/true));
      return false;
    }
    if (!c.ready[c.next_deliver]) {
      if (c.next_start == c.next_deliver && source.in_flight() == 0) {
        // Nothing in flight and no slot free: wait for the sink to hand one back.
        if (c.draining.empty())
          return make_error(ErrorKind::io, "pipeline stalled: no slot in flight or draining");
        RINGLOAD_TRY_VOID(st.sink.wait_slot_idle(c.draining.front().slot));
        continue;
      }
      auto reaped = source.reap(/*wait=*/true, c.completed);
      if (!reaped) return with_path(std::move(reaped).error(), model.path());
    } else {
      auto reaped = source.reap(/*wait=*/false, c.completed);
      if (!reaped) return with_path(std::move(reaped).error(), model.path());
    }
    on_completed();

    while (c.next_deliver < n && c.ready[c.next_deliver]) {
      const Chunk& chunk = plan.chunks[c.next_deliver];
      const auto slot = static_cast<std::uint32_t>(c.slot_of[c.next_deliver]);
      const auto bytes = ring.slot(slot);
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
        const std::uint64_t done_to = c.next_deliver + 1 < n ? plan.chunks[c.next_deliver + 1].file_offset
                                                             : chunk.file_offset + chunk.valid;
        releaser->delivered_up_to(done_to);
        spans.push_back(TimelineSpan{TimelineSpan::Stage::release, slot, chunk.file_offset, chunk.valid,
                                     release_start, delivery.now()});
      }
      c.draining.push_back(Cursor::Draining{slot, c.next_deliver});
      ++c.next_deliver;
    }
  }
  // Every chunk is delivered; the last tensors are ready once the sink has finished with them.
  RINGLOAD_TRY_VOID(st.sink.finish());
  RINGLOAD_TRY_VOID(recycle(c, st.sink, delivery, /*wait=*/true));
  delivery.tensors_ready_through(static_cast<std::int64_t>(n));
  return true;
}

Result<LoadReport> LoadRun::finish() {
  State& st = *state_;
  const Model& model = st.model;
  const Plan& plan = *st.plan;
  {
    const CpuMeter meter(st.cpu);
    RINGLOAD_TRY_VOID(st.sink.finish());
    st.delivery->progress(/*force=*/true);
    if (st.releaser) st.releaser->finish(model.image().size());
  }
  LoadReport& report = st.report;
  report.strategy = st.strategy;
  report.bytes = plan.bytes;
  report.bytes_read = st.strategy == Strategy::read ? model.image().size() : plan.bytes_read;
  report.tensors = static_cast<std::uint32_t>(plan.tensors.size());
  report.wall_s = seconds_since(st.start);
  report.gb_per_s = report.wall_s > 0 ? static_cast<double>(report.bytes) / report.wall_s / 1e9 : 0;
  report.cpu_user_s = st.cpu.user;
  report.cpu_system_s = st.cpu.system;
  std::vector<TimelineSpan> reads;
  for (const auto& s : st.spans) {
    if (s.stage == TimelineSpan::Stage::read) reads.push_back(s);
    if (s.stage == TimelineSpan::Stage::copy) report.copy_busy_s += s.end_s - s.start_s;
  }
  report.read_busy_s = busy_union(std::move(reads));
  report.release_busy_s = st.releaser ? st.releaser->busy_seconds() : 0;
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
  if (options_.record_timeline) report.timeline = std::move(st.spans);
  st.finished = true;
  if (options_.on_finished) options_.on_finished(nullptr);
  return std::move(report);
}

void LoadRun::abandon(const Error& error) noexcept {
  State& st = *state_;
  if (st.finished) return;
  st.finished = true;
  // The kernel may still write into slots, the sink still read them: both must stop before the
  // slots go to another load and before the destinations are freed.
  if (st.source) st.source->drain();
  (void)st.sink.finish();
  st.sink.discard();
  st.cursor = Cursor{};
  if (st.releaser) st.releaser->finish(st.model.image().size());
  if (options_.on_finished) options_.on_finished(&error);
}

}  // namespace ringload
