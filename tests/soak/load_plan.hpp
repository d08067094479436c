// What one soak load does, drawn at random (seeded, so a failure can be replayed), and how its
// outcome is judged: loaded byte-exact, cancelled with nothing kept, refused by this kernel, or a
// failure of ringload.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"
#include "soak/soak_files.hpp"

namespace ringload::test {

struct LoadPlan {
  const SoakModel* model = nullptr;
  Strategy strategy = Strategy::automatic;
  bool cancel = false;
  // One at a time: cancel once this many tensors are at the sink (0: before the load starts).
  std::uint32_t cancel_after_tensors = 0;
  // Through an AsyncLoader: emit a terminal cancellation this long after submitting.
  std::chrono::microseconds cancel_after{0};
  bool one_shot = false;  // load_into (a ring sized to the work) instead of the kept Loader
};

class LoadPlanner {
 public:
  LoadPlanner(const std::vector<SoakModel>& models, std::uint64_t seed);
  // The first loads run each strategy once on a Loader, uncancelled: whatever a process keeps for
  // good (the Loader's io_uring, kernel state a strategy sets up once) exists before the first
  // sample. Then: a random model, strategy and way in; a cancel in one load of ten.
  LoadPlan next(std::uint64_t index);

 private:
  const std::vector<SoakModel>& models_;
  std::mt19937_64 random_;
};

// $RINGLOAD_SOAK_SEED, else 14.
std::uint64_t soak_seed();

struct Tally {
  std::uint64_t loaded = 0;
  std::uint64_t cancelled = 0;
  std::uint64_t cancel_too_late = 0;  // asked to cancel, but the load had finished first
  std::uint64_t refused = 0;          // a strategy this kernel or file system lacks
  std::uint64_t failed = 0;
  std::uint64_t bytes = 0;
  // Cancelled loads after which their model's files still held pages (one at a time only: with
  // loads in flight beside it, another load of the same file may hold them): per strategy, how
  // many and the most pages. A cancelled load should release the file's pages: printed, so the
  // cases are seen; the samples judge what stays.
  std::map<Strategy, std::pair<std::uint64_t, std::uint64_t>> cancelled_left_cached;
  bool check_cancelled_cache = false;

  // Judges one load (`error` null: it succeeded with `report`) and discards the sink. Failures
  // are test failures naming the model, strategy and error.
  void add(const LoadPlan& plan, const Error* error, const LoadReport* report, HostSink& sink);
  [[nodiscard]] std::string summary() const;
};

}  // namespace ringload::test
