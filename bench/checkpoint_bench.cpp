// Checkpoint::open cost: O(headers). A MoE-like checkpoint of 20,000 tensors (Qwen3-30B-A3B has
// 18,867) over 8 and over 64 shards, at 64 MiB and at 1 GiB of tensor data: the same tensor count
// must open in the same time whatever the data size, warm (headers in the page cache) and cold
// (every shard evicted before each open). Model::load of the same tensors in one file is the
// reference. Inputs are generated once under $RINGLOAD_BENCH_DIR (default: bench-data in the
// working directory) and reused.
// Run: build/bench/checkpoint_bench --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <fcntl.h>
#include <unistd.h>

#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "gen/gen.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/model.hpp"

namespace {

namespace fs = std::filesystem;
using ringload::Format;

constexpr std::uint32_t kTensors = 20000;
constexpr std::uint64_t kSmall = 64ULL << 20;
constexpr std::uint64_t kLarge = 1ULL << 30;

fs::path bench_dir() {
  const char* env = std::getenv("RINGLOAD_BENCH_DIR");
  fs::path dir = env != nullptr ? fs::path(env) : fs::current_path() / "bench-data";
  fs::create_directories(dir);
  return dir;
}

// MoE-shaped names (per layer: norms and attention, then 128 experts' three projections), every
// tensor the same size so every shard holds the same number of them and the same bytes.
std::vector<ringload::gen::TensorSpec> moe_tensors(std::uint64_t total_bytes) {
  constexpr std::uint32_t kExperts = 128;
  const std::uint64_t elements = total_bytes / kTensors / 2;  // BF16
  std::vector<ringload::gen::TensorSpec> specs;
  for (std::uint32_t layer = 0; specs.size() < kTensors; ++layer) {
    for (const char* part : {"input_layernorm", "post_attention_layernorm", "self_attn.q_proj",
                             "self_attn.k_proj", "self_attn.v_proj", "self_attn.o_proj"}) {
      specs.push_back({fmt::format("model.layers.{}.{}.weight", layer, part),
                       ringload::DType::BF16,
                       {elements},
                       2 * elements});
    }
    for (std::uint32_t e = 0; e < kExperts; ++e) {
      for (const char* proj : {"gate_proj", "up_proj", "down_proj"}) {
        specs.push_back({fmt::format("model.layers.{}.mlp.experts.{}.{}.weight", layer, e, proj),
                         ringload::DType::BF16,
                         {elements},
                         2 * elements});
      }
    }
  }
  specs.resize(kTensors);
  return specs;
}

// The checkpoint (a directory; shards 0: one file) for these parameters, written on first use.
fs::path input(Format format, std::uint64_t bytes, std::uint32_t shards) {
  const char* ext = format == Format::gguf ? "gguf" : "safetensors";
  const fs::path path = bench_dir() / fmt::format("ckpt-{}-{}-{}-{}", ext, bytes, kTensors, shards);
  const fs::path target = shards == 0 ? fs::path(path.string() + "." + ext) : path;
  if (fs::exists(target)) return target;
  const ringload::gen::GenOptions options{.format = format, .shards = shards};
  const auto specs = moe_tensors(bytes);
  auto written = shards == 0 ? ringload::gen::write_model(target, options, specs)
                             : ringload::gen::write_checkpoint(target, options, specs);
  if (!written) {
    fmt::print(stderr, "cannot generate {}: {}\n", target.string(), written.error().to_string());
    std::exit(1);
  }
  return target;
}

// Evicts every file of the input (written back first: dirty pages cannot be dropped).
void evict(const fs::path& path) {
  std::vector<fs::path> files;
  if (fs::is_directory(path)) {
    for (const auto& entry : fs::directory_iterator(path)) files.push_back(entry.path());
  } else {
    files.push_back(path);
  }
  for (const auto& f : files) {
    const int fd = ::open(f.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) continue;
    static_cast<void>(::fsync(fd));
    static_cast<void>(::posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED));
    ::close(fd);
  }
}

void BM_CheckpointOpen(benchmark::State& state, Format format, std::uint64_t bytes, bool cold) {
  const auto shards = static_cast<std::uint32_t>(state.range(0));
  const fs::path path = input(format, bytes, shards);
  for (auto _ : state) {
    if (cold) {
      state.PauseTiming();
      evict(path);
      state.ResumeTiming();
    }
    auto ckpt = ringload::Checkpoint::open(path);
    if (!ckpt) {
      state.SkipWithError(ckpt.error().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(ckpt->tensors().data());
  }
  state.counters["tensors"] = kTensors;
  state.counters["shards"] = shards;
  state.counters["data_GiB"] = static_cast<double>(bytes) / (1ULL << 30);
}

// The same 20,000 tensors in one file, through Model::load: what the set's open adds.
void BM_ModelLoadOneFile(benchmark::State& state, Format format, std::uint64_t bytes) {
  const fs::path path = input(format, bytes, 0);
  for (auto _ : state) {
    auto model = ringload::Model::load(path);
    if (!model) {
      state.SkipWithError(model.error().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(model->tensors().data());
  }
  state.counters["tensors"] = kTensors;
  state.counters["data_GiB"] = static_cast<double>(bytes) / (1ULL << 30);
}

}  // namespace

BENCHMARK_CAPTURE(BM_ModelLoadOneFile, safetensors_64MiB, Format::safetensors, kSmall)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_ModelLoadOneFile, safetensors_1GiB, Format::safetensors, kLarge)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CheckpointOpen, safetensors_64MiB_warm, Format::safetensors, kSmall, false)
    ->Arg(8)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CheckpointOpen, safetensors_1GiB_warm, Format::safetensors, kLarge, false)
    ->Arg(8)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CheckpointOpen, gguf_64MiB_warm, Format::gguf, kSmall, false)
    ->Arg(8)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CheckpointOpen, gguf_1GiB_warm, Format::gguf, kLarge, false)
    ->Arg(8)
    ->Arg(64)
    ->Unit(benchmark::kMillisecond);
// Cold: each open reads every shard's header from disk (and nothing else).
BENCHMARK_CAPTURE(BM_CheckpointOpen, safetensors_64MiB_cold, Format::safetensors, kSmall, true)
    ->Arg(8)
    ->Arg(64)
    ->Iterations(20)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CheckpointOpen, safetensors_1GiB_cold, Format::safetensors, kLarge, true)
    ->Arg(8)
    ->Arg(64)
    ->Iterations(20)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CheckpointOpen, gguf_64MiB_cold, Format::gguf, kSmall, true)
    ->Arg(8)
    ->Arg(64)
    ->Iterations(20)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_CheckpointOpen, gguf_1GiB_cold, Format::gguf, kLarge, true)
    ->Arg(8)
    ->Arg(64)
    ->Iterations(20)
    ->Unit(benchmark::kMillisecond);

BENCHMARK_MAIN();
