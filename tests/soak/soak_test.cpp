// Soak (issue 14 item 7): one process loads a thousand times -- a random model of the fixtures and
// generated models and checkpoints, a random strategy, one load in ten cancelled at a random point
// -- one at a time, then through one AsyncLoader eight at a time. Every load is byte-exact or
// cancelled with nothing kept, and what the process holds stays flat from load 10 to the last: the
// test prints the table (fds, mappings, threads, anonymous RSS, page cache) and judges it.
// $RINGLOAD_SOAK_LOADS sets the count (CI's ASan build: 100), $RINGLOAD_SOAK_SEED the draw.
#include <gtest/gtest.h>

#include <chrono>
#include <cstdio>
#include <functional>
#include <memory>

#include <fmt/format.h>

#include <boost/asio/bind_cancellation_slot.hpp>
#include <boost/asio/cancellation_signal.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "ringload/async.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/pipeline.hpp"
#include "soak/load_plan.hpp"
#include "soak/process_sample.hpp"
#include "soak/soak_files.hpp"
#include "support/temp_dir.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define RINGLOAD_SOAK_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RINGLOAD_SOAK_ASAN 1
#endif
#endif

namespace ringload {
namespace {

namespace asio = boost::asio;
using test::LoadPlan;
using test::ProcessSample;

constexpr std::uint32_t kConcurrentLoads = 8;

// A small ring: loads of a few MiB still take many slots and turns.
constexpr std::uint32_t kSlotCount = 4;
constexpr std::uint64_t kSlotBytes = 1ULL << 20;

PipelineOptions options_for(const LoadPlan& plan) {
  PipelineOptions o;
  o.strategy = plan.strategy;
  o.slot_count = kSlotCount;
  o.slot_size = kSlotBytes;
  o.read_size = 256ULL << 10;
  o.queue_depth = 8;
  return o;
}

// Flat, with the tolerances the numbers allow:
// - fds, threads and mappings exactly as at load 10: each load opens, maps and (for the pipeline)
//   starts a fixed set, so one left behind is one more, whatever the noise.
// - anonymous RSS at most 4 MiB above load 10: malloc keeps some freed memory (its top chunk and
//   arenas move with what the last loads allocated), a few hundred KiB here; a leak of one
//   destination or one ring slot per load (the smallest thing a load allocates is a 4 KiB page)
//   would add ≥ 4 KiB × 990 loads, about 3.9 MiB, and any byte-sized leak is LeakSanitizer's to
//   find in the ASan build. Under ASan, RSS and mappings are its allocator's (quarantine, shadow,
//   per-size-class regions), so they are printed but not judged there.
// - page cache of the soak's files at most 64 pages (256 KiB) above load 10: every load leaves its
//   files uncached, and a sample between loads sees none; 64 pages allow the header pages a
//   cancelled open may leave to the kernel's own schedule, while one load's file left cached
//   (≥ 16 pages for any model here beside the smallest fixtures) several times over would not fit.
test::Flatness tolerance() {
  test::Flatness f;
  f.anon_rss_bytes = 4ULL << 20;
  f.cached_pages = 64;
#ifdef RINGLOAD_SOAK_ASAN
  f.check_mappings_and_rss = false;
#endif
  return f;
}

void print(std::string_view what, std::uint64_t seed, std::span<const ProcessSample> samples,
           const test::Tally& tally, double seconds) {
  fmt::print("[soak] {} (seed {}, {:.1f} s): {}\n{}", what, seed, seconds, tally.summary(),
             test::sample_table(samples));
  (void)std::fflush(stdout);
}

class Stopwatch {
 public:
  [[nodiscard]] double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

TEST(Soak, OneProcessLoadsOneAtATimeAndKeepsNothing) {
  test::fix_malloc_thresholds();
  test::TempDir dir;
  const auto models = test::make_soak_models(dir.path());
  ASSERT_FALSE(HasFailure()) << "could not prepare the models";
  const std::uint64_t total = test::soak_loads();
  const auto points = test::sample_points(total);
  const std::uint64_t seed = test::soak_seed();
  test::LoadPlanner planner(models, seed);
  test::Tally tally;
  tally.check_cancelled_cache = true;
  std::vector<ProcessSample> samples;
  Loader loader;  // kept across loads, as a service keeps one; half the loads are one-shot instead
  const Stopwatch took;
  for (std::uint64_t i = 0; i < total && tally.failed < 10; ++i) {
    const LoadPlan plan = planner.next(i);
    HostSink sink;
    PipelineOptions options = options_for(plan);
    std::uint32_t tensors_ready = 0;
    if (plan.cancel && plan.cancel_after_tensors == 0) options.cancel.cancel();
    if (plan.cancel && plan.cancel_after_tensors > 0) {
      options.on_tensor_ready = [&, cancel = options.cancel](const TensorInfo&, const Destination&) {
        if (++tensors_ready == plan.cancel_after_tensors) cancel.cancel();
      };
    }
    Result<LoadReport> report = make_error(ErrorKind::io, "not loaded");
    if (plan.one_shot) {
      report = load_into(plan.model->path, sink, options);
    } else if (auto checkpoint = Checkpoint::open(plan.model->path); checkpoint) {
      report = loader.load(*checkpoint, sink, options);
    } else {
      report = std::move(checkpoint).error();
    }
    tally.add(plan, report ? nullptr : &report.error(), report ? &*report : nullptr, sink);
    if (i + 1 == points[samples.size()]) samples.push_back(test::sample_process(i + 1, models));
  }
  print("one at a time", seed, samples, tally, took.seconds());
  EXPECT_EQ(samples.size(), points.size());
  EXPECT_GT(tally.cancelled, 0U) << "no load was cancelled mid-way: the draw tested nothing of it";
  EXPECT_TRUE(test::flat(samples, tolerance()));
}

// One load through the AsyncLoader, and what it needs until its completion has run.
struct AsyncJob {
  explicit AsyncJob(asio::io_context& context) : timer(context) {}
  LoadPlan plan;
  HostSink sink;
  asio::cancellation_signal cancel;
  asio::steady_timer timer;
};

class ConcurrentSoak {
 public:
  ConcurrentSoak(const std::vector<test::SoakModel>& models, std::uint64_t total)
      : models_(models),
        total_(total),
        points_(test::sample_points(total)),
        planner_(models, test::soak_seed()),
        loader_(context_.get_executor(),
                AsyncLoaderOptions{
                    .slot_count = kSlotCount, .slot_size = kSlotBytes, .quantum_bytes = 2 * kSlotBytes}) {}

  void run() {
    fill();
    context_.run();
  }
  [[nodiscard]] const test::Tally& tally() const { return tally_; }
  [[nodiscard]] const std::vector<ProcessSample>& samples() const { return samples_; }

 private:
  // Keeps kConcurrentLoads in flight, never past the next sample point: a sample is taken with
  // none in flight.
  void fill() {
    while (in_flight_ < kConcurrentLoads && launched_ < points_[samples_.size()] && tally_.failed < 10)
      launch();
  }

  void launch() {
    auto job = std::make_shared<AsyncJob>(context_);
    job->plan = planner_.next(launched_++);
    ++in_flight_;
    async_load(loader_, job->plan.model->path, job->sink, options_for(job->plan),
               asio::bind_cancellation_slot(
                   job->cancel.slot(), [this, job](boost::system::error_code ec, LoadReport report) {
                     job->timer.cancel();
                     tally_.add(job->plan, ec ? &*report.error : nullptr, ec ? nullptr : &report, job->sink);
                     --in_flight_;
                     if (++completed_ == points_[samples_.size()]) {
                       sample_then_fill();
                     } else {
                       fill();
                     }
                   }));
    if (job->plan.cancel) {
      job->timer.expires_after(job->plan.cancel_after);
      job->timer.async_wait([job](boost::system::error_code ec) {
        if (!ec) job->cancel.emit(asio::cancellation_type::terminal);
      });
    }
  }

  // The io thread destroys a finished load's state (its checkpoint, its run) after posting the
  // completion; a discard it serves comes after that, so its completion is a point where nothing
  // of any load is left.
  void sample_then_fill() {
    async_discard(loader_, barrier_sink_, [this](boost::system::error_code ec) {
      EXPECT_FALSE(ec) << ec.message();
      samples_.push_back(test::sample_process(completed_, models_));
      if (completed_ < total_) fill();
    });
  }

  const std::vector<test::SoakModel>& models_;
  std::uint64_t total_;
  std::vector<std::uint64_t> points_;
  test::LoadPlanner planner_;
  asio::io_context context_;
  HostSink barrier_sink_;
  AsyncLoader loader_;  // after the context and the sink: destroyed before them
  test::Tally tally_;
  std::vector<ProcessSample> samples_;
  std::uint64_t launched_ = 0;
  std::uint64_t completed_ = 0;
  std::uint32_t in_flight_ = 0;
};

TEST(Soak, EightConcurrentAsyncLoadsKeepNothing) {
  test::fix_malloc_thresholds();
  test::TempDir dir;
  const auto models = test::make_soak_models(dir.path());
  ASSERT_FALSE(HasFailure()) << "could not prepare the models";
  const std::uint64_t total = test::soak_loads();
  const Stopwatch took;
  ConcurrentSoak soak(models, total);
  soak.run();
  print(fmt::format("{} at a time through one AsyncLoader", kConcurrentLoads), test::soak_seed(),
        soak.samples(), soak.tally(), took.seconds());
  EXPECT_EQ(soak.samples().size(), test::sample_points(total).size());
  EXPECT_GT(soak.tally().cancelled, 0U) << "no load was cancelled mid-way: the draw tested nothing of it";
  EXPECT_TRUE(test::flat(soak.samples(), tolerance()));
}

}  // namespace
}  // namespace ringload
