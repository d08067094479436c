// The pipeline's fixed costs, with no disk in the way: chunk planning (make_plan), one ring cycle
// (a staging slot filled from memory and drained into a sink) and the staging ring's allocation.
// Inputs are generated once under $RINGLOAD_BENCH_DIR (default: ./bench-data), named as
// model_bench names them, so the two share files. Run: build/bench/pipeline_bench (see README.md).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gen/gen.hpp"
#include "pipeline/plan.hpp"
#include "pipeline/staging_ring.hpp"
#include "ringload/model.hpp"
#include "ringload/pipeline.hpp"
#include "ringload/sink.hpp"

namespace {

namespace fs = std::filesystem;
using ringload::Format;

constexpr std::uint64_t kMiB = 1ULL << 20;
constexpr std::uint64_t kModelBytes = 64 * kMiB;
// The tensor count of the ring-cycle model: a realistic mix of a few large and many small tensors.
constexpr std::uint32_t kRingTensors = 1000;
// 9 repetitions of ≥ 0.1 s each: about 1 s a case, and a median that survives a noisy neighbour.
constexpr int kRepetitions = 9;
constexpr double kMinTimeS = 0.1;

fs::path bench_dir() {
  const char* env = std::getenv("RINGLOAD_BENCH_DIR");
  fs::path dir = env != nullptr ? fs::path(env) : fs::current_path() / "bench-data";
  fs::create_directories(dir);
  return dir;
}

[[noreturn]] void die(const std::string& what, const ringload::Error& error) {
  fmt::print(stderr, "{}: {}\n", what, error.to_string());
  std::exit(1);
}

// A generated safetensors file of kModelBytes with `tensors` tensors, written on first use.
fs::path model_file(std::uint32_t tensors) {
  const std::string key = fmt::format("safetensors-{}-{}", kModelBytes, tensors);
  fs::path path = bench_dir() / fmt::format("{}.safetensors", key);
  if (!fs::exists(path)) {
    ringload::gen::GenOptions options;
    options.format = Format::safetensors;
    options.target_bytes = kModelBytes;
    options.tensor_count = tensors;
    options.dtype = ringload::DType::BF16;
    auto report = ringload::gen::generate(path, options);
    if (!report) die(fmt::format("cannot generate {}", path.string()), report.error());
  }
  return path;
}

// Opened models, one per tensor count, kept for the whole run so that every case sharing one
// opens it once (benchmarks run one at a time on the main thread: the cache needs no lock).
const ringload::Model& mapped_model(std::uint32_t tensors) {
  static std::map<std::uint32_t, ringload::Model> models;
  auto it = models.find(tensors);
  if (it != models.end()) return it->second;
  auto model = ringload::Model::load(model_file(tensors));
  if (!model) die("cannot open the benchmark model", model.error());
  return models.emplace(tensors, std::move(model).value()).first->second;
}

// The same file as a heap image (Model::from_bytes): copies from it touch no page cache, so a
// ring cycle is measured without the kernel's readahead or faults in it.
const ringload::Model& memory_model(std::uint32_t tensors) {
  static std::map<std::uint32_t, ringload::Model> models;
  auto it = models.find(tensors);
  if (it != models.end()) return it->second;
  const fs::path path = model_file(tensors);
  std::vector<std::byte> bytes(fs::file_size(path));
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  if (!in) {
    fmt::print(stderr, "cannot read {}\n", path.string());
    std::exit(1);
  }
  auto model = ringload::Model::from_bytes(std::move(bytes), path.string());
  if (!model) die("cannot parse the benchmark model", model.error());
  return models.emplace(tensors, std::move(model).value()).first->second;
}

std::uint64_t minor_faults() {
  rusage usage{};
  ::getrusage(RUSAGE_SELF, &usage);
  return static_cast<std::uint64_t>(usage.ru_minflt);
}

// ---- chunk planning -------------------------------------------------------------------------

// args: tensors, slot MiB, shard world (the plan is rank 0's).
void BM_MakePlan(benchmark::State& state) {
  const auto tensors = static_cast<std::uint32_t>(state.range(0));
  const ringload::Model& model = mapped_model(tensors);
  ringload::PlanOptions options;
  options.slot_size = static_cast<std::uint64_t>(state.range(1)) * kMiB;
  options.shard_world = static_cast<std::uint32_t>(state.range(2));
  std::size_t chunks = 0;
  std::uint64_t bytes_read = 0;
  const std::uint64_t faults_before = minor_faults();
  for (auto _ : state) {
    auto plan = ringload::make_plan(model, options);
    if (!plan) {
      state.SkipWithError(plan.error().to_string().c_str());
      return;
    }
    chunks = plan->chunks.size();
    bytes_read = plan->bytes_read;
    benchmark::DoNotOptimize(plan->chunks.data());
  }
  using benchmark::Counter;
  state.counters["chunks"] = static_cast<double>(chunks);
  // What the plan makes the readers fetch: a shard's should be about 1/shards of the file.
  state.counters["read_MiB"] = static_cast<double>(bytes_read) / kMiB;
  state.counters["faults"] =
      Counter(static_cast<double>(minor_faults() - faults_before), Counter::kAvgIterations);
  state.counters["chunks/s"] = Counter(static_cast<double>(chunks), Counter::kIsIterationInvariantRate);
  state.counters["tensors/s"] = Counter(static_cast<double>(tensors), Counter::kIsIterationInvariantRate);
}

// ---- one ring cycle -------------------------------------------------------------------------

// Loads the in-memory model into `sink` once per iteration with mmap-pipelined (a copy from the
// heap image into each slot, then the sink's write from the slot) and reports the time per slot.
void ring_cycle(benchmark::State& state, ringload::Sink& sink) {
  const ringload::Model& model = memory_model(kRingTensors);
  ringload::PipelineOptions options;
  options.strategy = ringload::Strategy::mmap_pipelined;
  options.slot_size = static_cast<std::uint64_t>(state.range(0)) * kMiB;
  // Heap data has no pages to drop; leaving release on would only time the releaser's no-ops.
  options.release = false;

  // The chunk count the loader will cycle through (its plan uses these same options).
  ringload::PlanOptions plan_options;
  plan_options.slot_size = options.slot_size;
  auto plan = ringload::make_plan(model, plan_options);
  if (!plan) {
    state.SkipWithError(plan.error().to_string().c_str());
    return;
  }
  const auto chunks = static_cast<double>(plan->chunks.size());

  // One Loader for every iteration, warmed by a first load: its staging ring is allocated once,
  // as a long-lived loader's is (BM_StagingRingCreate times the allocation on its own).
  ringload::Loader loader;
  if (auto warm = loader.load(model, sink, options); !warm) {
    state.SkipWithError(warm.error().to_string().c_str());
    return;
  }
  std::uint64_t bytes = 0;
  const std::uint64_t faults_before = minor_faults();
  const auto started = std::chrono::steady_clock::now();
  for (auto _ : state) {
    auto report = loader.load(model, sink, options);
    if (!report) {
      state.SkipWithError(report.error().to_string().c_str());
      return;
    }
    bytes = report->bytes;
  }
  const std::chrono::duration<double> wall = std::chrono::steady_clock::now() - started;
  const auto iterations = static_cast<double>(state.iterations());
  using benchmark::Counter;
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * bytes));
  state.counters["chunks"] = chunks;
  // Time per slot moved through fill → sink → recycle. Rate counters divide by CPU time, which a
  // shared machine's neighbours do not inflate; the wall figure is kept beside it.
  state.counters["cpu_s/slot"] = Counter(chunks, Counter::kIsIterationInvariantRate | Counter::kInvert);
  state.counters["wall_us/slot"] = wall.count() * 1e6 / (iterations * chunks);
  state.counters["faults/load"] = static_cast<double>(minor_faults() - faults_before) / iterations;
}

void BM_RingCycleNull(benchmark::State& state) {
  ringload::NullSink sink;
  ring_cycle(state, sink);
}

// args: slot MiB. HostSink maps its destinations anew in every prepare() (2 MiB-aligned,
// MADV_HUGEPAGE), so each load pays the first-touch faults a real host load pays: one per 2 MiB
// where the kernel grants huge pages, one per 4 KiB where it does not.
void BM_RingCycleHost(benchmark::State& state) {
  ringload::HostSink sink;
  ring_cycle(state, sink);
}

// ---- staging ring allocation ----------------------------------------------------------------

// args: slot count, slot MiB. Each iteration maps, pre-faults and unmaps the ring: what a
// one-shot load_into pays before its first byte.
void BM_StagingRingCreate(benchmark::State& state) {
  const auto slots = static_cast<std::uint32_t>(state.range(0));
  const std::uint64_t slot_size = static_cast<std::uint64_t>(state.range(1)) * kMiB;
  bool huge_pages = false;
  for (auto _ : state) {
    auto ring = ringload::StagingRing::create(slots, slot_size);
    if (!ring) {
      state.SkipWithError(ring.error().to_string().c_str());
      return;
    }
    huge_pages = (*ring)->huge_pages();
    benchmark::DoNotOptimize((*ring)->memory().data());
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * slots * slot_size));
  state.counters["huge_pages"] = huge_pages ? 1 : 0;
}

void common(benchmark::internal::Benchmark* b) {
  b->Repetitions(kRepetitions)->ReportAggregatesOnly(true)->MinTime(kMinTimeS);
}

}  // namespace

BENCHMARK(BM_MakePlan)
    ->ArgNames({"tensors", "slot_MiB", "shards"})
    ->ArgsProduct({{10, 1000, 20000}, {1, 8}, {1}})
    ->ArgsProduct({{10, 1000, 20000}, {8}, {4}})
    ->Apply(common)
    ->Unit(benchmark::kMicrosecond);

BENCHMARK(BM_RingCycleNull)
    ->ArgName("slot_MiB")
    ->Arg(1)
    ->Arg(8)
    ->Apply(common)
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_RingCycleHost)
    ->ArgName("slot_MiB")
    ->Arg(1)
    ->Arg(8)
    ->Apply(common)
    ->Unit(benchmark::kMillisecond);

BENCHMARK(BM_StagingRingCreate)
    ->ArgNames({"slots", "slot_MiB"})
    ->Args({16, 8})
    ->Args({16, 1})
    ->Apply(common)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
