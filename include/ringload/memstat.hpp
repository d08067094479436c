// Where a process's memory is, and how much of a file sits in the page cache or in zram:
// the figures that show whether a load left anything behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "ringload/error.hpp"

namespace ringload {

struct ProcessMemory {
  std::uint64_t rss_bytes = 0;        // VmRSS
  std::uint64_t rss_anon_bytes = 0;   // RssAnon: heap copies live here
  std::uint64_t rss_file_bytes = 0;   // RssFile: mapped file pages
  std::uint64_t rss_shmem_bytes = 0;  // RssShmem
  std::uint64_t hwm_bytes = 0;        // VmHWM: peak RSS
  std::uint64_t swap_bytes = 0;       // VmSwap: what went to swap or zram
};

// /proc/<pid>/status (pid 0: this process).
[[nodiscard]] Result<ProcessMemory> process_memory(pid_t pid = 0);

struct ZramStat {
  bool present = false;      // /sys/block/zram0 exists
  bool initialised = false;  // disksize > 0
  std::uint64_t disksize_bytes = 0;
  // mm_stat: orig_data_size compr_data_size mem_used_total mem_limit mem_used_max same_pages
  // pages_compacted huge_pages (the fields the kernel has; missing ones stay 0).
  std::uint64_t orig_data_bytes = 0;
  std::uint64_t compr_data_bytes = 0;
  std::uint64_t mem_used_total_bytes = 0;
  std::uint64_t mem_limit_bytes = 0;
  std::uint64_t mem_used_max_bytes = 0;
  std::uint64_t same_pages = 0;
  std::uint64_t pages_compacted = 0;
  std::uint64_t huge_pages = 0;
};

// zram0's figures; not present / not initialised is a normal answer, not an error.
[[nodiscard]] Result<ZramStat> zram_stat(const std::filesystem::path& device = "/sys/block/zram0");

struct FileCacheStat {
  std::uint64_t file_bytes = 0;
  std::uint64_t resident_bytes = 0;  // in the page cache
  std::uint64_t resident_pages = 0;
  std::uint64_t total_pages = 0;
  std::string method;  // "cachestat" or "mincore"
};

// Bytes of the file resident in the page cache: cachestat(2) where the kernel has it (it maps
// and faults nothing), else mincore on a fresh mapping.
[[nodiscard]] Result<FileCacheStat> file_cache_stat(const std::filesystem::path& path);

}  // namespace ringload
