// `ringload load --hold SECONDS` (what `ringload bench --hold` runs in each child): after the load
// the process stays alive keeping exactly what a service using that strategy keeps, then measures
// what that costs the machine: its swap, its anonymous RSS, the file's page cache, zram.
#pragma once

#include <cstdint>
#include <filesystem>
#include <span>
#include <string>

#include <nlohmann/json.hpp>

#include "ringload/memstat.hpp"
#include "ringload/model.hpp"
#include "ringload/pipeline.hpp"

namespace ringload::cli {

// What a service keeps after loading with a strategy.
enum class Kept : std::uint8_t {
  heap_copy,     // read: the whole file on the heap, as the model object it built from it
  mapping,       // mmap: the model's mapping (its pages released as usual)
  destinations,  // the pipelined strategies: only the sink's destinations (the null sink: none)
};
[[nodiscard]] Kept kept_by(Strategy ran);
[[nodiscard]] const char* kept_name(Kept kept);

// The `read` strategy as a service using it runs: the whole file read onto the heap (std::fs::read
// or Python's read(): page after page, no zero-filled copy first), a Model over those bytes
// (from_bytes), the file's page cache dropped as ringload's release step does for every strategy.
struct HeapModel {
  Model model;
  double wall_s = 0;  // reading the file
  double cpu_s = 0;
};
[[nodiscard]] Result<HeapModel> read_onto_heap(const std::filesystem::path& path);

struct HoldFigures {
  double held_s = 0;
  std::string kept;                       // kept_name(Kept)
  std::uint64_t swap_bytes = 0;           // VmSwap: what of this process went to swap (zram)
  std::uint64_t anon_rss_bytes = 0;       // RssAnon: what it still holds in RAM
  std::uint64_t file_resident_pages = 0;  // the model file's pages in the page cache
  std::uint64_t file_total_pages = 0;
  std::string zram_device;  // the sysfs directory measured
  ZramStat zram;            // its mm_stat, absolute: the bench subtracts its own reading from before
};

// Sleeps `seconds` (whatever the caller still holds stays held), then measures, still alive. The
// page-cache figures are summed over `files` (one model file, or every file of a checkpoint).
[[nodiscard]] Result<HoldFigures> hold_then_measure(double seconds, Kept kept,
                                                    std::span<const std::filesystem::path> files,
                                                    const std::filesystem::path& zram_device);

// The load report's "hold" object: {"held_s", "kept", "swap_bytes", "anon_rss_bytes",
// "file_resident_pages", "file_total_pages", "zram_device", "zram_initialised", "zram_orig_data_size",
// "zram_compr_data_size", "zram_mem_used_total"}.
[[nodiscard]] nlohmann::ordered_json hold_json(const HoldFigures& hold);

}  // namespace ringload::cli
