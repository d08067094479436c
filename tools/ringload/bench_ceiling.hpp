// What a load is measured against, taken by our own plain readers in the same bench run, and the
// page-cache control between runs (evict before a cold run, pre-read before a warm one).
#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "ringload/error.hpp"

namespace ringload::cli::bench {

// Called now and then with the bytes done so far (progress bars).
using ByteProgress = std::function<void(std::uint64_t)>;

// The whole file read with O_DIRECT through io_uring, 32 reads of 4 MiB in flight into 2 MiB-aligned
// MADV_HUGEPAGE buffers (the staging ring's memory): what the device gives a reader that does
// nothing else. nullopt where the file system refuses O_DIRECT (tmpfs, some FUSE/network mounts)
// or io_uring cannot be set up (EPERM, ENOSYS).
// GB/s = file bytes / seconds / 1e9.
[[nodiscard]] Result<std::optional<double>> odirect_qd32_gb_per_s(const std::filesystem::path& file,
                                                                  const ByteProgress& progress = {});

// One byte per page touched in order through a fresh read-only mapping: the kernel's own readahead.
[[nodiscard]] Result<double> mmap_touch_gb_per_s(const std::filesystem::path& file,
                                                 const ByteProgress& progress = {});

// Single-thread memcpy between two pre-faulted buffers, the best of `tries`.
[[nodiscard]] Result<double> memcpy_gb_per_s(std::uint64_t buffer_bytes = 256ULL << 20, int tries = 5);

// memcpy of the whole file from a warm mapping into fresh memory of its size (2 MiB-aligned,
// MADV_HUGEPAGE, as the host sink allocates): what a warm load into host memory can reach, faults
// and zeroing of the destination included. The best of `tries`, after one that warms the file.
[[nodiscard]] Result<double> fresh_memcpy_gb_per_s(const std::filesystem::path& file, int tries = 3);

// CPU-s per GB to first-touch fresh memory of `bytes` (allocated as the host sink allocates, one
// write per 4 KiB page): the kernel's faults and zeroing, which every load into new host memory
// pays whatever reads it, so a host sink's CPU can never come below the null sink's plus this.
// The least of `tries` (a first touch may also compact memory to find huge pages).
[[nodiscard]] Result<double> fresh_fault_cpu_s_per_gb(std::uint64_t bytes, int tries = 3);

// cudaMemcpy from pinned host memory to `device`, the best of 5 (256 MiB): the one pinned
// host-to-device ceiling the bench and the GPU check use. nullopt without a CUDA build or without
// that device.
[[nodiscard]] std::optional<double> pinned_h2d_gb_per_s(int device);

enum class EvictMethod : std::uint8_t {
  automatic,    // drop_caches where this process may write it, else POSIX_FADV_DONTNEED
  drop_caches,  // echo 1 > /proc/sys/vm/drop_caches (root): the whole machine's clean page cache
  fadvise,      // POSIX_FADV_DONTNEED on this file only
};

struct Eviction {
  std::string method;                // "drop_caches" or "fadvise"
  std::uint64_t resident_pages = 0;  // the file's pages still cached afterwards (should be 0)
  std::uint64_t total_pages = 0;
  std::string why_fadvise;  // automatic fell back: why drop_caches could not be used
};

// Writes the file's dirty pages back (only clean pages can be dropped), evicts it, and counts what
// stayed. Pages another process has mapped stay cached: resident_pages says so, it is not an error.
[[nodiscard]] Result<Eviction> evict_file(const std::filesystem::path& file, EvictMethod method);

// Reads the whole file once (plain read(2)) so a warm run finds it in the page cache. Returns the
// pages resident afterwards.
[[nodiscard]] Result<std::uint64_t> preread_file(const std::filesystem::path& file,
                                                 const ByteProgress& progress = {});

}  // namespace ringload::cli::bench
