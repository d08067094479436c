// The collective load: rounds read by a RoundWorker, status exchanged and bytes broadcast by the
// caller's thread (see collective.hpp for the protocol and round_plan.hpp for who reads what).
//
// The rule every path keeps: each rank makes the same collective calls in the same order. A rank
// that fails (its plan, a round's read, delivering what it received, the sink's finish, a cancel)
// says so at the next status exchange, where every rank learns it and ends; only a failure of the
// group's own transport, which no exchange can carry, aborts the group.
#include "collective/collective_load.hpp"

#include <fcntl.h>

#include <chrono>
#include <exception>
#include <new>
#include <optional>
#include <unordered_map>
#include <utility>

#include <fmt/format.h>

#include "base/sha256.hpp"
#include "collective/collective_report.hpp"
#include "collective/round_plan.hpp"
#include "collective/round_sink.hpp"
#include "collective/round_worker.hpp"
#include "collective/status_record.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "pipeline/load_run.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/report.hpp"
#include "pipeline/slice.hpp"
#include "ringload/memstat.hpp"

namespace ringload {
namespace {

using Clock = std::chrono::steady_clock;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// FNV-1a over what decides the collective calls: the tensors, and the size, owner and round of each
// that travels (a rank's own parts differ in size from rank to rank by design).
std::uint64_t plan_digest(const Plan& plan, const RoundPlan& rounds) {
  std::uint64_t h = 0xcbf29ce484222325ULL;
  auto mix = [&h](const void* data, std::size_t n) {
    for (std::size_t i = 0; i < n; ++i) {
      h ^= static_cast<const unsigned char*>(data)[i];
      h *= 0x100000001b3ULL;
    }
  };
  mix(&rounds.rounds, sizeof rounds.rounds);
  for (std::size_t i = 0; i < plan.tensors.size(); ++i) {
    mix(plan.tensors[i].info->name.data(), plan.tensors[i].info->name.size());
    mix(&rounds.owner[i], sizeof rounds.owner[i]);
    if (rounds.owner[i] == kEveryRank) continue;
    mix(&plan.tensors[i].size, sizeof plan.tensors[i].size);
    mix(&rounds.round[i], sizeof rounds.round[i]);
  }
  return h;
}

// The group's verdict on one exchange: the first rank that failed, named in every rank's error, or
// ranks that planned different loads.
std::optional<Error> group_failure(const std::vector<RankStatus>& statuses) {
  for (std::uint32_t r = 0; r < statuses.size(); ++r) {
    if (statuses[r].ok) continue;
    return make_error(statuses[r].kind,
                      fmt::format("rank {} of {} failed, which ends the load on every rank: {}", r,
                                  statuses.size(), statuses[r].message));
  }
  for (std::uint32_t r = 1; r < statuses.size(); ++r) {
    if (statuses[r].plan_digest == statuses[0].plan_digest) continue;
    return make_error(
        ErrorKind::invalid_argument,
        fmt::format("rank {} of {} planned a different load than rank 0: every rank must be given the "
                    "same checkpoint, tensor names, slice rules and round size",
                    r, statuses.size()));
  }
  return std::nullopt;
}

// A buffer for bytes in transit; out_of_memory as a value, so it travels through the exchange.
Result<void> allocate(std::vector<std::byte>& buffer, std::uint64_t bytes) {
  try {
    buffer.resize(bytes);
  } catch (const std::bad_alloc&) {
    return make_error(ErrorKind::out_of_memory,
                      fmt::format("cannot allocate {} bytes of host memory for a broadcast", bytes));
  }
  return {};
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
  Result<void> check_destinations();
  std::optional<Error> run_rounds();
  std::optional<Error> finish_rounds();
  void release_files();
  std::optional<Error> agree(const Result<void>& mine);
  Result<LoadReport> load_round(std::uint32_t round);
  Result<void> capture_round(std::uint32_t round);
  void release_captures(std::uint32_t round);
  Result<void> broadcast_round(std::uint32_t round);
  Result<void> deliver();
  Result<std::string> digest_of(const Received& r);
  template <class Call>
  auto timed(Call call);
  Result<LoadReport> fail(Error error);

  LoadEngine& engine_;
  const Checkpoint& checkpoint_;
  Sink& sink_;
  PipelineOptions options_;
  Collective& group_;
  CollectiveOptions collective_;

  Plan full_;
  RoundPlan rounds_;
  std::uint64_t plan_digest_ = 0;
  bool staged_ = false;  // the group cannot write the sink's destinations: bytes travel via host buffers
  std::optional<RoundSink> round_sink_;
  std::unordered_map<std::uint32_t, std::vector<std::byte>> captured_;  // own tensors being broadcast
  std::vector<Received> received_;                                      // broadcast here, not yet delivered
  CollectiveReport report_;
  Clock::time_point start_ = Clock::now();
};

template <class Call>
auto CollectiveLoad::timed(Call call) {
  const auto at = Clock::now();
  auto out = call();
  report_.figures().busy_s += seconds_since(at);
  return out;
}

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
  std::vector<Format> formats;
  for (const CheckpointFile& f : checkpoint_.files()) formats.push_back(f.format);
  // options_ carries the group's rank and world (the constructor set them) for the slice rules.
  full_ = RINGLOAD_TRY(select_tensors(checkpoint_.tensors(), checkpoint_.files().size(),
                                      selection_options(options_, formats), checkpoint_.path()));
  std::vector<bool> own_part(full_.tensors.size(), false);
  for (std::size_t i = 0; i < own_part.size(); ++i) {
    own_part[i] = matching_slice_rule(full_.tensors[i].info->name, options_.slices) != nullptr;
  }
  rounds_ = plan_rounds(full_.tensors, own_part, group_.world(), collective_.round_bytes);
  plan_digest_ = plan_digest(full_, rounds_);
  report_.figures() =
      CollectiveFigures{.rank = group_.rank(), .world = group_.world(), .rounds = rounds_.rounds};
  RINGLOAD_TRY_VOID(sink_.prepare(full_.tensors));
  RINGLOAD_TRY_VOID(check_destinations());
  round_sink_.emplace(sink_, full_.tensors);
  return {};
}

// Where broadcasts land: device destinations for a GPU group (allocated, stream-ordered, before the
// first broadcast writes them: hence the finish), host memory for MPI, else staged.
Result<void> CollectiveLoad::check_destinations() {
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
  if (group_.device_buffers()) RINGLOAD_TRY_VOID(sink_.finish());
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
  return run_round_load(engine_, checkpoint_, *round_sink_, o);
}

// Where the bytes this rank reads in `round` and broadcasts go besides the sink. Only while the
// worker is idle: the round sink's captures are read by its writes.
Result<void> CollectiveLoad::capture_round(std::uint32_t round) {
  if (!staged_) return {};
  for (std::uint32_t i : rounds_.broadcasts(round)) {
    if (rounds_.owner[i] != group_.rank()) continue;
    auto& buffer = captured_[i];
    RINGLOAD_TRY_VOID(allocate(buffer, full_.tensors[i].size));
    round_sink_->capture(i, buffer);
  }
  return {};
}

// Round `round`'s broadcasts have completed and the worker is idle: its captures can go.
void CollectiveLoad::release_captures(std::uint32_t round) {
  for (std::uint32_t i : rounds_.broadcasts(round)) {
    if (captured_.erase(i) > 0) round_sink_->capture(i, {});
  }
}

Result<void> CollectiveLoad::broadcast_round(std::uint32_t round) {
  for (std::uint32_t i : rounds_.broadcasts(round)) {
    const std::uint32_t root = rounds_.owner[i];
    const std::uint64_t size = full_.tensors[i].size;
    void* data = sink_.destination(i).data;
    Received got{.tensor = i, .staged = {}};
    if (staged_) {
      if (root == group_.rank()) {
        data = captured_[i].data();
      } else {
        RINGLOAD_TRY_VOID(allocate(got.staged, size));
        data = got.staged.data();
      }
    }
    if (auto started = group_.start_broadcast(data, size, root); !started) {
      Error e = std::move(started).error();
      e.tensor = full_.tensors[i].info->name;
      e.message += fmt::format(" (a broadcast from rank {})", root);
      return e;
    }
    if (root != group_.rank()) received_.push_back(std::move(got));
  }
  return {};
}

Result<std::string> CollectiveLoad::digest_of(const Received& r) {
  const SinkTensor& t = full_.tensors[r.tensor];
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
  return hash.finish_hex();
}

// What arrived in the last round, to the sink (staged bytes through write(), kept until the sink's
// finish), digests and ready callbacks. The worker is idle.
Result<void> CollectiveLoad::deliver() {
  bool wrote = false;
  for (Received& r : received_) {
    const SinkTensor& t = full_.tensors[r.tensor];
    if (!r.staged.empty()) {
      RINGLOAD_TRY_VOID(sink_.write(t.index, 0, r.staged, kNoSlot));
      wrote = true;
    }
  }
  if (wrote) RINGLOAD_TRY_VOID(sink_.finish());
  for (Received& r : received_) {
    const SinkTensor& t = full_.tensors[r.tensor];
    TensorDigest digest{t.info->name, t.file_offset, t.size, {}, checkpoint_.files()[t.info->file].path};
    if (options_.checksum_sha256) digest.sha256 = RINGLOAD_TRY(digest_of(r));
    report_.received(std::move(digest), t.size);
    if (options_.on_tensor_ready) options_.on_tensor_ready(*t.info, sink_.destination(t.index));
  }
  received_.clear();
  return {};
}

std::optional<Error> CollectiveLoad::agree(const Result<void>& mine) {
  RankStatus status = mine ? RankStatus{} : failed_status(mine.error());
  status.plan_digest = plan_digest_;
  auto statuses = timed([&] { return group_.exchange_status(status); });
  if (!statuses) return std::move(statuses).error();
  return group_failure(*statuses);
}

// The rounds: round m's broadcasts overlap round m + 1's reads.
std::optional<Error> CollectiveLoad::run_rounds() {
  RoundWorker worker([this](std::uint32_t round) { return load_round(round); });
  Result<void> captured = capture_round(0);
  if (captured) worker.start(0);
  for (std::uint32_t round = 0; round < rounds_.rounds; ++round) {
    Result<LoadReport> loaded = captured ? worker.wait() : Result<LoadReport>(captured.error());
    if (round > 0) release_captures(round - 1);
    Result<void> mine = loaded ? deliver() : Result<void>(loaded.error());
    if (auto failure = agree(mine)) return failure;
    report_.merge(*loaded);
    const Result<void> sent = timed([&] { return broadcast_round(round); });
    const bool next = sent && round + 1 < rounds_.rounds;
    if (next) {
      captured = capture_round(round + 1);
      if (captured) worker.start(round + 1);
    }
    // Always waited for, a failed start included: what started writes into memory a failure frees.
    const Result<void> waited = timed([&] { return group_.wait_broadcasts(); });
    if (!sent || !waited) {
      if (next && captured) (void)worker.wait();
      Error e = !sent ? sent.error() : waited.error();
      group_.abort(e);
      return e;
    }
  }
  release_captures(rounds_.rounds - 1);
  return std::nullopt;
}

// The last word: a failure after the last round (delivering its bytes, the sink's finish, a
// cancel) reaches every rank too. Before it, what the rounds left cached (the header pages of files
// a round did not read) is released: nothing stays behind.
std::optional<Error> CollectiveLoad::finish_rounds() {
  release_files();
  Result<void> mine = deliver();
  if (mine) mine = sink_.finish();
  if (mine && options_.cancel.cancelled()) mine = make_error(ErrorKind::cancelled, "the load was cancelled");
  return agree(mine);
}

// Drops every file's page cache (advice: a failure is a warning in the report, never the load's).
void CollectiveLoad::release_files() {
  if (!options_.release) return;
  for (const CheckpointFile& f : checkpoint_.files()) {
    auto fd = UniqueFd::open(f.path, O_RDONLY);
    auto dropped = fd ? drop_file_cache(fd->get(), 0, 0, f.path) : Result<void>(fd.error());
    if (!dropped) report_.warn(dropped.error().to_string());
  }
}

Result<LoadReport> CollectiveLoad::fail(Error error) {
  sink_.discard();
  if (options_.on_finished) options_.on_finished(&error);
  return error;
}

Result<LoadReport> CollectiveLoad::run() {
  const StorageReadMeter storage_read;
  const CpuTimes cpu_before = process_cpu();
  if (auto planned = plan(); !planned) {
    // The others wait in round 0's exchange: this ends it for them, with the same verdict.
    std::optional<Error> verdict = agree(planned);
    return fail(verdict ? std::move(*verdict) : std::move(planned).error());
  }
  std::optional<Error> failure = run_rounds();  // the worker has stopped: the sink is this thread's
  if (!failure) failure = finish_rounds();
  if (failure) return fail(std::move(*failure));
  LoadReport report = report_.finish(checkpoint_, full_, options_, sink_.name(), seconds_since(start_));
  report.storage_bytes_read = storage_read.bytes();
  // The whole process: the rounds' loads, hashing and the group's transfers.
  const CpuTimes cpu_after = process_cpu();
  report.cpu_user_s = cpu_after.user - cpu_before.user;
  report.cpu_system_s = cpu_after.system - cpu_before.system;
  if (options_.on_finished) options_.on_finished(nullptr);
  return report;
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
