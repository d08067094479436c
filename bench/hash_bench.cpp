// Throughput of the two digests the loader computes on bytes in flight: SHA-256 (per-tensor
// digests with --checksum, OpenSSL EVP underneath) and CRC-32 (APR v2's header and footer
// checks). 4 KiB shows the per-call overhead, 1 MiB a slot-sized update, 64 MiB the streaming
// rate once the buffer no longer fits in cache. Run: build/bench/hash_bench (see README.md).
#include <benchmark/benchmark.h>

#include <cstddef>
#include <cstdint>
#include <vector>

#include "base/crc32.hpp"
#include "base/sha256.hpp"
#include "gen/gen.hpp"

namespace {

constexpr int kRepetitions = 9;
constexpr double kMinTimeS = 0.1;

// Deterministic, incompressible-looking bytes (gen's tensor content), written once before timing
// so that first-touch page faults stay out of the measurement.
std::vector<std::byte> buffer_of(std::int64_t bytes) {
  std::vector<std::byte> buffer(static_cast<std::size_t>(bytes));
  ringload::gen::fill_tensor_bytes(ringload::gen::tensor_key(0, "hash_bench"), 0, buffer);
  return buffer;
}

// A whole digest per iteration: create, one update over the buffer, finish.
void BM_Sha256(benchmark::State& state) {
  const std::vector<std::byte> buffer = buffer_of(state.range(0));
  for (auto _ : state) {
    auto sha = ringload::Sha256::create();
    if (!sha) {
      state.SkipWithError(sha.error().to_string().c_str());
      return;
    }
    sha->update(buffer);
    benchmark::DoNotOptimize(sha->finish_hex());
  }
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void BM_Crc32(benchmark::State& state) {
  const std::vector<std::byte> buffer = buffer_of(state.range(0));
  for (auto _ : state) benchmark::DoNotOptimize(ringload::crc32(buffer));
  state.SetBytesProcessed(state.iterations() * state.range(0));
}

void common(benchmark::internal::Benchmark* b) {
  b->Arg(4 << 10)->Arg(1 << 20)->Arg(64 << 20);
  b->Repetitions(kRepetitions)->ReportAggregatesOnly(true)->MinTime(kMinTimeS);
  b->Unit(benchmark::kMicrosecond);
}

}  // namespace

BENCHMARK(BM_Sha256)->Apply(common);
BENCHMARK(BM_Crc32)->Apply(common);

BENCHMARK_MAIN();
