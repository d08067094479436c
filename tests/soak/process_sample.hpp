// What the soak watches between loads: the process's descriptors, mappings, threads, anonymous
// memory and the page cache its models hold, sampled at a few load counts, printed as a table and
// judged flat from the first sample on.
#pragma once

#include <gtest/gtest.h>

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "soak/soak_files.hpp"

namespace ringload::test {

struct ProcessSample {
  std::uint64_t loads = 0;  // loads completed when it was taken (failed and cancelled ones count)
  std::size_t fds = 0;
  std::size_t mappings = 0;
  std::size_t threads = 0;  // io_uring's kernel workers not counted (process_counts.hpp)
  std::uint64_t anon_rss_bytes = 0;
  std::uint64_t cached_pages = 0;          // of the soak's model files but compressed APR
  std::uint64_t cached_pages_decoded = 0;  // of its compressed APR (SoakModel::decoded_at_open): printed only
};

// Anonymous RSS should count what is allocated, not the free memory glibc keeps. Left to itself,
// once the read baseline frees a 15 MiB heap buffer glibc raises its mmap threshold to 15 MiB and
// later buffers of that size land in the heaps of malloc's arenas, whose free tops it keeps
// (malloc_trim trims only the main arena's top): measured here, a thread arena went from 22 to 40
// MiB and back to 0.6 between samples, with two more mappings. With the thresholds fixed, large
// blocks are mapped and unmapped, and RSS is what is live. Call before the first load.
void fix_malloc_thresholds();

// After malloc_trim(0) (free memory inside the heaps is given back too).
ProcessSample sample_process(std::uint64_t loads, const std::vector<SoakModel>& models);

// $RINGLOAD_SOAK_LOADS, else 1,000 (CI's ASan build sets 100).
std::uint64_t soak_loads();

// When to sample: after 10 loads (the first ones warm up what a process keeps for good: a
// Loader's ring, malloc's arenas), then total/10, total/2 and total; 10, 100, 500, 1000 by default.
std::vector<std::uint64_t> sample_points(std::uint64_t total);

// How far a later sample may be from the first one and still count as flat.
struct Flatness {
  std::uint64_t anon_rss_bytes = 0;
  std::uint64_t cached_pages = 0;
  bool check_mappings_and_rss = true;  // false under ASan (its allocator's own; LeakSanitizer instead)
};

// The table (loads, fds, mappings, threads, anonymous RSS, page cache), one row per sample.
std::string sample_table(std::span<const ProcessSample> samples);

// Descriptors, threads (and mappings) exactly as at the first sample; anonymous RSS and cached
// pages at most the tolerance above it.
::testing::AssertionResult flat(std::span<const ProcessSample> samples, const Flatness& tolerance);

}  // namespace ringload::test
