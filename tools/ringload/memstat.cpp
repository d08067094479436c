// `ringload memstat [--pid P] [--json] [FILE...]`: where memory is, and what a load left behind.
#include <unistd.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "base/json.hpp"
#include "commands.hpp"
#include "ringload/memstat.hpp"
#include "units.hpp"

namespace ringload::cli {
namespace {

using Json = nlohmann::ordered_json;

Json zram_json(const ZramStat& z) {
  Json j{{"present", z.present}, {"initialised", z.initialised}};
  if (z.initialised) {
    j["disksize"] = z.disksize_bytes;
    j["orig_data_size"] = z.orig_data_bytes;
    j["compr_data_size"] = z.compr_data_bytes;
    j["mem_used_total"] = z.mem_used_total_bytes;
    j["mem_limit"] = z.mem_limit_bytes;
    j["mem_used_max"] = z.mem_used_max_bytes;
    j["same_pages"] = z.same_pages;
    j["pages_compacted"] = z.pages_compacted;
    j["huge_pages"] = z.huge_pages;
  }
  return j;
}

std::string zram_text(const ZramStat& z) {
  if (!z.present) return "zram: no /sys/block/zram0 (zram module not loaded)";
  if (!z.initialised)
    return "zram: zram0 present but not initialised (disksize 0): nothing can be held in zram";
  return fmt::format("zram: disksize {}; holds {} of data compressed to {} ({} of RAM in use, peak {})",
                     format_bytes(z.disksize_bytes), format_bytes(z.orig_data_bytes),
                     format_bytes(z.compr_data_bytes), format_bytes(z.mem_used_total_bytes),
                     format_bytes(z.mem_used_max_bytes));
}

}  // namespace

std::function<int()> add_memstat(CLI::App& app) {
  struct Options {
    int pid = 0;
    bool json = false;
    std::vector<std::string> files;
  };
  auto opts = std::make_shared<Options>();
  CLI::App* sub = app.add_subcommand(
      "memstat",
      "Show a process's memory (RSS split into anonymous and file-backed, peak RSS, swap), zram's\n"
      "figures, and for each FILE how many of its bytes sit in the page cache (cachestat(2), or\n"
      "mincore where the kernel lacks it). Run it after a load to see what was left behind.\n"
      "Example: ringload memstat --pid $(pidof my-server) model.safetensors");
  sub->add_option("--pid", opts->pid, "Process to report on (default: this one)");
  sub->add_flag("--json", opts->json, "Print one JSON object");
  sub->add_option("files", opts->files, "Files whose page-cache residency to report");
  return [opts]() {
    auto mem = process_memory(opts->pid);
    if (!mem) {
      fmt::print(stderr, "ringload memstat: {}\n", mem.error().to_string());
      return kExitFailure;
    }
    auto zram = zram_stat();
    if (!zram) {
      fmt::print(stderr, "ringload memstat: {}\n", zram.error().to_string());
      return kExitFailure;
    }
    Json files = Json::array();
    std::vector<std::string> lines;
    int status = kExitOk;
    for (const auto& file : opts->files) {
      auto cache = file_cache_stat(file);
      if (!cache) {
        fmt::print(stderr, "ringload memstat: {}\n", cache.error().to_string());
        status = kExitFailure;
        continue;
      }
      const double pct = cache->total_pages == 0 ? 0.0
                                                 : 100.0 * static_cast<double>(cache->resident_pages) /
                                                       static_cast<double>(cache->total_pages);
      files.push_back(Json{{"path", file},
                           {"file_size", cache->file_bytes},
                           {"resident_bytes", cache->resident_bytes},
                           {"resident_pages", cache->resident_pages},
                           {"total_pages", cache->total_pages},
                           {"method", cache->method}});
      lines.push_back(fmt::format("  {}: {} of {} in page cache ({:.1f}%, {} of {} pages, {})", file,
                                  format_bytes(cache->resident_bytes), format_bytes(cache->file_bytes), pct,
                                  cache->resident_pages, cache->total_pages, cache->method));
    }
    if (opts->json) {
      Json out{{"pid", opts->pid == 0 ? static_cast<int>(::getpid()) : opts->pid},
               {"rss", mem->rss_bytes},
               {"rss_anon", mem->rss_anon_bytes},
               {"rss_file", mem->rss_file_bytes},
               {"rss_shmem", mem->rss_shmem_bytes},
               {"vm_hwm", mem->hwm_bytes},
               {"swap", mem->swap_bytes},
               {"zram", zram_json(*zram)},
               {"files", files}};
      fmt::print("{}\n", dump_json(out, 2));
      return status;
    }
    fmt::print("process {}: RSS {} (anonymous {}, file {}, shmem {}), peak {}, swap {}\n",
               opts->pid == 0 ? static_cast<int>(::getpid()) : opts->pid, format_bytes(mem->rss_bytes),
               format_bytes(mem->rss_anon_bytes), format_bytes(mem->rss_file_bytes),
               format_bytes(mem->rss_shmem_bytes), format_bytes(mem->hwm_bytes),
               format_bytes(mem->swap_bytes));
    fmt::print("{}\n", zram_text(*zram));
    if (!lines.empty()) fmt::print("page cache:\n");
    for (const auto& line : lines) fmt::print("{}\n", line);
    return status;
  };
}

}  // namespace ringload::cli
