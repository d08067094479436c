// The collective load: rounds read by a RoundWorker, status exchanged and bytes broadcast by the
// caller's thread (see collective.hpp for the protocol and round_plan.hpp for who reads what).
#include "collective/collective_load.hpp"

#include <sys/resource.h>

#include <chrono>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "base/sha256.hpp"
#include "collective/round_plan.hpp"
#include "collective/round_sink.hpp"
#include "collective/round_worker.hpp"
#include "collective/status_record.hpp"
#include "pipeline/load_run.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/slice.hpp"
#include "ringload/memstat.hpp"

namespace ringload {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// User and system CPU seconds of the whole process.
std::pair<double, double> process_cpu_s() {
  rusage usage{};
  if (::getrusage(RUSAGE_SELF, &usage) != 0) return {0, 0};
  auto s = [](const timeval& t) {
    return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_usec) / 1e6;
  };
  return {s(usage.ru_utime), s(usage.ru_stime)};
}

// The group's verdict on one round: the first rank that failed, named in every rank's error.
std::optional<Error> group_failure(const std::vector<RankStatus>& statuses) {
  for (std::uint32_t r = 0; r < statuses.size(); ++r) {
    if (statuses[r].ok) continue;
    return make_error(statuses[r].kind,
                      fmt::format("rank {} of {} failed, which ends the load on every rank: {}", r,
                                  statuses.size(), statuses[r].message));
  }
  return std::nullopt;
}

// A received tensor waiting for the round worker to be idle: the real sink is not thread-safe, so
// staged bytes go through write() (and digests, ready callbacks) only between rounds.
struct Received {
  std::uint32_t tensor = 0;
  std::vector<std::byte> staged;  // empty when the group wrote the destination itself
};

class CollectiveLoad {
 public:
  CollectiveLoad(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink, const PipelineOptions& options,
                 Collective& group, const CollectiveOptions& collective)
      : engine_(engine),
        checkpoint_(checkpoint),
        sink_(sink),
        options_(options),
        group_(group),
        collective_(collective) {
    options_.rank = group.rank();
    options_.world = group.world();
  }

  Result<LoadReport> run();

 private:
  Result<void> plan();
  Result<LoadReport> load_round(std::uint32_t round);
  Result<void> broadcast_round(std::uint32_t round, std::vector<Received>& received);
  void capture_round(std::uint32_t round);
  Result<void> deliver(std::vector<Received>& received);
  void release_captures(std::uint32_t round);
  void merge(const LoadReport& round);
  LoadReport finish();
  Result<LoadReport> fail(Error error);

  LoadEngine& engine_;
  const Checkpoint& checkpoint_;
  Sink& sink_;
  PipelineOptions options_;
  Collective& group_;
  CollectiveOptions collective_;

  Plan full_;
  RoundPlan rounds_;
  bool staged_ = false;  // the group cannot write the sink's destinations: bytes travel via host buffers
  std::optional<RoundSink> round_sink_;
  std::unordered_map<std::uint32_t, std::vector<std::byte>> captured_;  // own tensors being broadcast
  std::unordered_map<std::string, TensorDigest> digests_;
  LoadReport report_;
  CollectiveFigures figures_;
  Clock::time_point start_ = Clock::now();
  bool first_round_ = true;
};

Result<void> CollectiveLoad::plan() {
  if (group_.world() == 0 || group_.rank() >= group_.world()) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("rank {} of a group of {} does not exist", group_.rank(), group_.world()));
  }
  if (options_.shard_world > 1) {
    return make_error(ErrorKind::invalid_argument,
                      "a shard (shard_world > 1) cuts every tensor for a load of its own; a group load "
                      "delivers whole tensors: give per-rank parts as slice rules instead");
  }
  PlanOptions selection;
  selection.tensor_names = options_.tensor_names;
  selection.slices = options_.slices;
  selection.slice_rank = group_.rank();
  selection.slice_world = group_.world();
  std::vector<Format> formats;
  for (const CheckpointFile& f : checkpoint_.files()) formats.push_back(f.format);
  selection.file_formats = formats;
  full_ = RINGLOAD_TRY(
      select_tensors(checkpoint_.tensors(), checkpoint_.files().size(), selection, checkpoint_.path()));
  std::vector<bool> own_part(full_.tensors.size(), false);
  for (std::size_t i = 0; i < own_part.size(); ++i) {
    own_part[i] = matching_slice_rule(full_.tensors[i].info->name, options_.slices) != nullptr;
  }
  rounds_ = plan_rounds(full_.tensors, own_part, group_.world(), collective_.round_bytes);
  figures_ = CollectiveFigures{.rank = group_.rank(), .world = group_.world(), .rounds = rounds_.rounds};
  RINGLOAD_TRY_VOID(sink_.prepare(full_.tensors));
  for (std::uint32_t i = 0; i < full_.tensors.size(); ++i) {
    if (rounds_.owner[i] == kEveryRank) continue;
    const Destination d = sink_.destination(i);
    if (group_.device_buffers() && !d.on_device) {
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("the group broadcasts between GPUs, but the '{}' sink keeps tensors in "
                                    "host memory: load into a CUDA sink",
                                    sink_.name()),
                        std::nullopt, full_.tensors[i].info->name);
    }
    if (!group_.device_buffers() && (d.on_device || d.data == nullptr)) staged_ = true;
  }
  round_sink_.emplace(sink_, full_.tensors);
  return {};
}

Result<LoadReport> CollectiveLoad::load_round(std::uint32_t round) {
  std::vector<std::string> names;
  for (std::uint32_t i : rounds_.reads(group_.rank(), round)) names.push_back(full_.tensors[i].info->name);
  if (names.empty()) {
    // Nothing to read this round; a cancel must still reach the group.
    if (options_.cancel.cancelled()) return make_error(ErrorKind::cancelled, "the load was cancelled");
    return LoadReport{};
  }
  PipelineOptions o = options_;
  o.tensor_names = std::move(names);
  o.on_progress = nullptr;
  o.on_finished = nullptr;  // fired once, for the whole load
  return run_load(engine_, checkpoint_, *round_sink_, o);
}

// Where the bytes this rank reads in `round` and broadcasts go besides the sink.
void CollectiveLoad::capture_round(std::uint32_t round) {
  if (!staged_) return;
  for (std::uint32_t i : rounds_.broadcasts(round)) {
    if (rounds_.owner[i] != group_.rank()) continue;
    auto& buffer = captured_[i];
    buffer.resize(full_.tensors[i].size);
    round_sink_->capture(i, buffer);
  }
}

Result<void> CollectiveLoad::broadcast_round(std::uint32_t round, std::vector<Received>& received) {
  for (std::uint32_t i : rounds_.broadcasts(round)) {
    const std::uint32_t root = rounds_.owner[i];
    const std::uint64_t size = full_.tensors[i].size;
    void* data = sink_.destination(i).data;
    Received got{.tensor = i, .staged = {}};
    if (staged_) {
      if (root == group_.rank()) {
        data = captured_[i].data();
      } else {
        got.staged.resize(size);
        data = got.staged.data();
      }
    }
    RINGLOAD_TRY_VOID(group_.start_broadcast(data, size, root));
    if (root != group_.rank()) received.push_back(std::move(got));
  }
  return {};
}

Result<void> CollectiveLoad::deliver(std::vector<Received>& received) {
  for (Received& r : received) {
    const SinkTensor& t = full_.tensors[r.tensor];
    if (!r.staged.empty()) RINGLOAD_TRY_VOID(sink_.write(t.index, 0, r.staged, kNoSlot));
    figures_.bytes_received += t.size;
    TensorDigest digest{t.info->name, t.file_offset, t.size, {}, checkpoint_.files()[t.info->file].path};
    if (options_.checksum_sha256) {
      std::vector<std::byte> copied;
      std::span<const std::byte> bytes = r.staged;
      if (r.staged.empty()) {
        const Destination d = sink_.destination(t.index);
        if (d.on_device) {
          copied = RINGLOAD_TRY(copy_to_host(sink_, t.index));
          bytes = copied;
        } else {
          bytes = {static_cast<const std::byte*>(d.data), t.size};
        }
      }
      Sha256 hash = RINGLOAD_TRY(Sha256::create());
      hash.update(bytes);
      digest.sha256 = hash.finish_hex();
    }
    digests_[digest.name] = std::move(digest);
    if (options_.on_tensor_ready) options_.on_tensor_ready(*t.info, sink_.destination(t.index));
  }
  received.clear();
  return {};
}

// Round `round`'s broadcasts have completed: its captured bytes are no longer needed.
void CollectiveLoad::release_captures(std::uint32_t round) {
  for (std::uint32_t i : rounds_.broadcasts(round)) {
    if (captured_.erase(i) > 0) round_sink_->capture(i, {});
  }
}

void CollectiveLoad::merge(const LoadReport& round) {
  if (round.tensors == 0 && round.files.empty()) return;  // a round with nothing to read here
  if (first_round_) {
    report_.strategy = round.strategy;
    report_.io_engine = round.io_engine;
    report_.io_engine_reason = round.io_engine_reason;
    report_.time_to_first_tensor_s = round.time_to_first_tensor_s;
    report_.anon_rss_before_bytes = round.anon_rss_before_bytes;
    first_round_ = false;
  }
  report_.bytes_read += round.bytes_read;
  report_.read_busy_s += round.read_busy_s;
  report_.copy_busy_s += round.copy_busy_s;
  report_.release_busy_s += round.release_busy_s;
  report_.staging_bytes = std::max(report_.staging_bytes, round.staging_bytes);
  report_.staging_huge_pages = report_.staging_huge_pages || round.staging_huge_pages;
  report_.staging_registered = report_.staging_registered || round.staging_registered;
  report_.staging_pinned = report_.staging_pinned || round.staging_pinned;
  report_.warnings.insert(report_.warnings.end(), round.warnings.begin(), round.warnings.end());
  for (const TensorDigest& d : round.digests) digests_[d.name] = d;
  for (const FileReport& f : round.files) {
    auto same = std::find_if(report_.files.begin(), report_.files.end(),
                             [&](const FileReport& mine) { return mine.path == f.path; });
    if (same == report_.files.end()) {
      report_.files.push_back(f);
    } else {
      same->bytes += f.bytes;
      same->wall_s += f.wall_s;
    }
  }
}

Result<LoadReport> CollectiveLoad::fail(Error error) {
  sink_.discard();
  if (options_.on_finished) options_.on_finished(&error);
  return error;
}

LoadReport CollectiveLoad::finish() {
  report_.path = checkpoint_.path();
  report_.requested = options_.strategy;
  report_.sink = std::string(sink_.name());
  report_.bytes = full_.bytes;
  report_.tensors = static_cast<std::uint32_t>(full_.tensors.size());
  report_.wall_s = seconds_since(start_);
  report_.gb_per_s = report_.wall_s > 0 ? static_cast<double>(report_.bytes) / report_.wall_s / 1e9 : 0;
  for (const SinkTensor& t : full_.tensors) {
    if (auto it = digests_.find(t.info->name); it != digests_.end()) report_.digests.push_back(it->second);
  }
  for (const CheckpointFile& f : checkpoint_.files()) {
    if (auto cached = file_cache_stat(f.path)) {
      report_.file_resident_pages_after += cached->resident_pages;
      report_.file_total_pages += cached->total_pages;
    }
  }
  if (auto after = process_memory()) {
    report_.peak_rss_bytes = after->hwm_bytes;
    report_.anon_rss_after_bytes = after->rss_anon_bytes;
  }
  report_.collective = figures_;
  if (options_.on_finished) options_.on_finished(nullptr);
  return std::move(report_);
}

Result<LoadReport> CollectiveLoad::run() {
  const auto storage_before = storage_read_bytes();
  const auto cpu_before = process_cpu_s();
  if (auto planned = plan(); !planned) {
    // The others wait in round 0's exchange: tell them, so they end too.
    (void)group_.exchange_status(failed_status(planned.error()));
    return fail(std::move(planned).error());
  }
  auto timed = [this](auto&& call) {
    const auto at = Clock::now();
    auto out = call();
    figures_.busy_s += seconds_since(at);
    return out;
  };
  std::vector<Received> received;
  std::optional<Error> failure;
  {
    RoundWorker worker([this](std::uint32_t round) { return load_round(round); });
    capture_round(0);
    worker.start(0);
    for (std::uint32_t round = 0; round < rounds_.rounds && !failure; ++round) {
      Result<LoadReport> loaded = worker.wait();
      if (auto delivered = deliver(received); !delivered) loaded = std::move(delivered).error();
      RankStatus mine;
      if (!loaded) mine = failed_status(loaded.error());
      auto statuses = timed([&] { return group_.exchange_status(mine); });
      if (!statuses) {
        failure = std::move(statuses).error();
        break;
      }
      if (auto bad = group_failure(*statuses)) {
        failure = std::move(*bad);
        break;
      }
      merge(*loaded);
      if (auto sent = timed([&] { return broadcast_round(round, received); }); !sent) {
        failure = std::move(sent).error();
        break;
      }
      if (round + 1 < rounds_.rounds) {
        capture_round(round + 1);
        worker.start(round + 1);
      }
      if (auto waited = timed([&] { return group_.wait_broadcasts(); }); !waited) {
        failure = std::move(waited).error();
        if (round + 1 < rounds_.rounds) (void)worker.wait();
        break;
      }
      release_captures(round);
    }
  }  // the worker has stopped: the sink is this thread's alone
  if (!failure) {
    if (auto delivered = deliver(received); !delivered) failure = std::move(delivered).error();
  }
  if (!failure) {
    if (auto finished = sink_.finish(); !finished) failure = std::move(finished).error();
  }
  if (failure) return fail(std::move(*failure));
  if (auto after = storage_read_bytes(); after && storage_before && *after >= *storage_before) {
    report_.storage_bytes_read = *after - *storage_before;
  }
  // The whole process: the rounds' loads, hashing and the group's transfers.
  const auto [user_s, system_s] = process_cpu_s();
  report_.cpu_user_s = user_s - cpu_before.first;
  report_.cpu_system_s = system_s - cpu_before.second;
  return finish();
}

}  // namespace

Result<LoadReport> load_collective(LoadEngine& engine, const Checkpoint& checkpoint, Sink& sink,
                                   const PipelineOptions& options, Collective& group,
                                   const CollectiveOptions& collective) {
  CollectiveLoad load(engine, checkpoint, sink, options, group, collective);
  return load.run();
}

Result<LoadReport> load_into(const Checkpoint& checkpoint, Sink& sink, const PipelineOptions& options,
                             Collective& group, const CollectiveOptions& collective) {
  LoadEngine engine;
  return load_collective(engine, checkpoint, sink, options, group, collective);
}

}  // namespace ringload
