// Page-cache residency and eviction of a file's pages.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "ringload/error.hpp"

namespace ringload {

struct Residency {
  std::uint64_t resident_pages = 0;
  std::uint64_t total_pages = 0;
  const char* method = "";  // "cachestat" or "mincore"
};

// Pages of [offset, offset + length) (length 0: to the end of the file) resident in the page
// cache: cachestat(2) where the kernel has it (Linux ≥ 6.5; it maps and faults nothing), else
// mincore on a fresh mapping. Pages are counted whole: a range's partial edge pages count.
[[nodiscard]] Result<Residency> file_residency(int fd, const std::string& path, std::uint64_t offset = 0,
                                               std::uint64_t length = 0);
[[nodiscard]] Result<Residency> file_residency(const std::filesystem::path& path);

// POSIX_FADV_DONTNEED over [offset, offset + length) (length 0: to the end). Pages still mapped
// by anyone stay cached, so unmap or MADV_DONTNEED first.
Result<void> drop_file_cache(int fd, std::uint64_t offset, std::uint64_t length, const std::string& path);

}  // namespace ringload
