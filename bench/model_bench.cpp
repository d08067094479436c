// Model::load (open + map + parse) cost: O(header), independent of file size.
// Generates its inputs once under $RINGLOAD_BENCH_DIR (default: bench-data beside the binary's
// working directory) and reuses them. Run: build/bench/model_bench --benchmark_repetitions=9
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>

#include <fmt/format.h>

#include "gen/gen.hpp"
#include "ringload/model.hpp"

namespace {

namespace fs = std::filesystem;
using ringload::Format;

fs::path bench_dir() {
  const char* env = std::getenv("RINGLOAD_BENCH_DIR");
  fs::path dir = env != nullptr ? fs::path(env) : fs::current_path() / "bench-data";
  fs::create_directories(dir);
  return dir;
}

// The generated file for (format, bytes, tensors), written on first use.
const fs::path& model_file(Format format, std::uint64_t bytes, std::uint32_t tensors) {
  static std::map<std::string, fs::path> cache;
  const std::string key = fmt::format("{}-{}-{}", ringload::to_string(format), bytes, tensors);
  auto it = cache.find(key);
  if (it != cache.end()) return it->second;
  const char* ext = format == Format::apr ? "apr" : format == Format::gguf ? "gguf" : "safetensors";
  fs::path path = bench_dir() / fmt::format("{}.{}", key, ext);
  if (!fs::exists(path)) {
    ringload::gen::GenOptions options;
    options.format = format;
    options.target_bytes = bytes;
    options.tensor_count = tensors;
    options.dtype = ringload::DType::BF16;
    auto report = ringload::gen::generate(path, options);
    if (!report) {
      fmt::print(stderr, "cannot generate {}: {}\n", path.string(), report.error().to_string());
      std::exit(1);
    }
  }
  return cache.emplace(key, path).first->second;
}

void BM_ModelLoad(benchmark::State& state, Format format, std::uint64_t bytes) {
  const auto tensors = static_cast<std::uint32_t>(state.range(0));
  const fs::path& path = model_file(format, bytes, tensors);
  for (auto _ : state) {
    auto model = ringload::Model::load(path);
    if (!model) {
      state.SkipWithError(model.error().to_string().c_str());
      break;
    }
    benchmark::DoNotOptimize(model->tensors().data());
  }
  state.counters["tensors"] = static_cast<double>(tensors);
  state.counters["file_GiB"] = static_cast<double>(fs::file_size(path)) / (1ULL << 30);
}

constexpr std::uint64_t kSmall = 64ULL << 20;
constexpr std::uint64_t kLarge = 4ULL << 30;

}  // namespace

// The figure: a 4 GiB file with 1,000 tensors; the 64 MiB twin shows size independence.
BENCHMARK_CAPTURE(BM_ModelLoad, safetensors_4GiB, Format::safetensors, kLarge)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ModelLoad, safetensors_64MiB, Format::safetensors, kSmall)
    ->Arg(1000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ModelLoad, gguf_4GiB, Format::gguf, kLarge)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ModelLoad, apr_4GiB, Format::apr, kLarge)->Arg(1000)->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ModelLoad, safetensors_64MiB_tensors, Format::safetensors, kSmall)
    ->Arg(10)
    ->Arg(20000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ModelLoad, gguf_64MiB_tensors, Format::gguf, kSmall)
    ->Arg(10)
    ->Arg(20000)
    ->Unit(benchmark::kMicrosecond);
BENCHMARK_CAPTURE(BM_ModelLoad, apr_64MiB_tensors, Format::apr, kSmall)
    ->Arg(10)
    ->Arg(20000)
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
