// What the pipeline tests share: a small ring so generated files span many slots, skipping a
// strategy the kernel cannot run here, and byte-exact checks of a host sink against the model.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <string>

#include "ringload/model.hpp"
#include "ringload/pipeline.hpp"

namespace ringload::test {

inline constexpr std::uint32_t kSlots = 4;
inline constexpr std::uint64_t kSlotBytes = 64 * 1024;
inline constexpr std::uint64_t kRingBytes = kSlots * kSlotBytes;

// kSlots × kSlotBytes, 64 KiB reads, queue depth 8.
PipelineOptions small_ring(Strategy strategy);

bool needs_uring(Strategy s);
bool is_baseline(Strategy s);  // read and mmap: no staging ring, no chunk reader

// A load failed for want of a kernel feature rather than a ringload bug: io_uring blocked (a
// container's seccomp profile), RWF_DONTCACHE missing (Linux < 6.14).
bool environment_refuses(Strategy s, const Error& e);

std::string strategy_label(Strategy s);  // "mmap_pipelined": usable in a test name

Model load_model(const std::filesystem::path& path);

// Every tensor of `model` in `sink`, byte-exact, in file order.
::testing::AssertionResult holds_model(const HostSink& sink, const Model& model);

}  // namespace ringload::test

#define ASSERT_LOADED_OR_SKIP(report, strategy)                                                    \
  do {                                                                                             \
    if (!(report) && ::ringload::test::environment_refuses((strategy), (report).error())) {        \
      GTEST_SKIP() << to_string(strategy) << " cannot run here: " << (report).error().to_string(); \
    }                                                                                              \
    ASSERT_TRUE(report) << (report).error().to_string();                                           \
  } while (false)
