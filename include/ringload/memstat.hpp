// Where a process's memory is, and how much of a file sits in the page cache or in zram:
// the figures that show whether a load left anything behind.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

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

// read_bytes of /proc/<pid>/io (pid 0: this process, every thread and io_uring worker included):
// bytes the process caused to be read from storage, O_DIRECT and page-cache misses alike, cache
// hits not. not_found where the kernel keeps no per-task I/O accounting.
[[nodiscard]] Result<std::uint64_t> storage_read_bytes(pid_t pid = 0);

// What this process read from storage since the meter was made: storage_read_bytes' difference,
// 0 where the kernel keeps no I/O accounting (LoadReport::storage_bytes_read).
class StorageReadMeter {
 public:
  StorageReadMeter();
  [[nodiscard]] std::uint64_t bytes() const;

 private:
  std::optional<std::uint64_t> start_;
};

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

enum class CgroupVersion : std::uint8_t { v1, v2 };

// A process's memory cgroup: which hierarchy, and its directory there.
struct MemoryCgroupPath {
  CgroupVersion version = CgroupVersion::v2;
  std::filesystem::path dir;  // e.g. /sys/fs/cgroup/memory/system.slice/x.service
  std::string name;           // as /proc/<pid>/cgroup gives it: /system.slice/x.service
};

// The memory cgroup of `pid` (0: this process). cgroup v2 only where `memory` is listed in the
// v2 root's cgroup.controllers; otherwise the v1 memory hierarchy (where both are mounted, as on
// hybrid systemd machines, memory is on v1). nullopt: no memory controller is mounted, or the
// process's cgroup is outside what this mount namespace shows.
[[nodiscard]] Result<std::optional<MemoryCgroupPath>> find_memory_cgroup(pid_t pid = 0);

// The same decision on given texts (/proc/<pid>/mountinfo, /proc/<pid>/cgroup), with
// `v2_controllers(dir)` returning the cgroup.controllers file of the v2 mount at dir: testable
// without a machine that has each layout.
[[nodiscard]] std::optional<MemoryCgroupPath> locate_memory_cgroup(
    std::string_view mountinfo, std::string_view proc_cgroup,
    const std::function<std::string(const std::filesystem::path&)>& v2_controllers);

struct MemoryCgroupStat {
  std::optional<std::uint64_t> limit_bytes;  // nullopt: unlimited ("max")
  std::uint64_t current_bytes = 0;           // v2 memory.current, v1 memory.usage_in_bytes
  std::uint64_t peak_bytes = 0;  // v2 memory.peak (Linux >= 5.19, else 0), v1 memory.max_usage_in_bytes
  std::uint64_t anon_bytes = 0;  // memory.stat: v2 anon, v1 total_rss
  std::uint64_t file_bytes = 0;  // page cache charged here: v2 file, v1 total_cache
  std::uint64_t swap_bytes = 0;  // v2 memory.swap.current, v1 total_swap (0 without swap accounting)
  std::uint64_t oom_kills = 0;   // v2 memory.events oom_kill, v1 memory.oom_control oom_kill
};

// The figures of one memory cgroup directory (all of them hierarchical: children included).
[[nodiscard]] Result<MemoryCgroupStat> memory_cgroup_stat(const MemoryCgroupPath& cgroup);

}  // namespace ringload
