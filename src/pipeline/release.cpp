#include "pipeline/release.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include <fmt/format.h>

#include "base/checked.hpp"
#include "io/page_cache.hpp"

namespace ringload {
namespace {
constexpr std::uint64_t kFolio = 2ULL << 20;
// Releasing in 64 MiB steps: few calls (each may drain every CPU's LRU caches), at most 64 MiB
// cached behind the copy at any time. With large folios a 4 GiB load spends ~15 ms releasing.
constexpr std::uint64_t kStep = 64ULL << 20;
constexpr std::uint64_t kPage = 4096;
}  // namespace

Releaser::Releaser(std::span<const std::byte> mapping, int fd, std::string path,
                   std::function<void(std::string_view)> warn)
    : mapping_(mapping), fd_(fd), path_(std::move(path)), warn_(std::move(warn)) {}

void Releaser::delivered_up_to(std::uint64_t offset) {
  const std::uint64_t end = align_down(offset, kFolio);
  if (end >= released_to_ + kStep) release(released_to_, end);
}

void Releaser::finish(std::uint64_t end) { release(0, std::max(end, released_to_)); }

void Releaser::release(std::uint64_t begin, std::uint64_t end) {
  const auto start = std::chrono::steady_clock::now();
  if (!mapping_.empty()) {
    const std::uint64_t map_end = std::min<std::uint64_t>(align_up(end, kPage).value_or(end),
                                                          align_up(mapping_.size(), kPage).value_or(end));
    const std::uint64_t map_begin = align_down(begin, kPage);
    if (map_end > map_begin &&
        ::madvise(const_cast<std::byte*>(mapping_.data()) + map_begin, map_end - map_begin, MADV_DONTNEED) !=
            0 &&
        warn_ && !warned_) {
      warned_ = true;
      warn_(fmt::format("{}: madvise(MADV_DONTNEED) failed: {}; pages stay mapped until the model closes",
                        path_, std::strerror(errno)));
    }
  }
  if (fd_ >= 0 && end > begin) {
    auto dropped = drop_file_cache(fd_, begin, end - begin, path_);
    if (!dropped && warn_ && !warned_) {
      warned_ = true;
      warn_(fmt::format("{}; the file stays in the page cache", dropped.error().to_string()));
    }
  }
  released_to_ = std::max(released_to_, end);
  busy_s_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace ringload
