#include "io/page_cache.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <vector>

#include "io/file.hpp"
#include "io/mapping.hpp"

namespace ringload {
namespace {

// cachestat(2) arrived in Linux 6.5; bookworm's headers predate it, so we spell it out.
constexpr long kSysCachestat = 451;
struct CachestatRange {
  std::uint64_t off;
  std::uint64_t len;
};
struct Cachestat {
  std::uint64_t nr_cache;
  std::uint64_t nr_dirty;
  std::uint64_t nr_writeback;
  std::uint64_t nr_evicted;
  std::uint64_t nr_recently_evicted;
};

}  // namespace

Result<Residency> file_residency(int fd, const std::string& path, std::uint64_t offset,
                                 std::uint64_t length) {
  const std::uint64_t size = RINGLOAD_TRY(file_size(fd, path));
  const std::uint64_t page = page_size();
  const std::uint64_t begin = std::min(offset, size);
  const std::uint64_t end = length == 0 ? size : std::min(size, begin + length);
  const std::uint64_t first_page = begin / page;
  const std::uint64_t end_page = (end + page - 1) / page;
  Residency r;
  r.total_pages = end_page > first_page ? end_page - first_page : 0;
  if (r.total_pages == 0) {
    r.method = "empty";
    return r;
  }

  CachestatRange range{first_page * page, (end_page - first_page) * page};
  Cachestat cs{};
  if (::syscall(kSysCachestat, fd, &range, &cs, 0) == 0) {
    r.resident_pages = cs.nr_cache;
    r.method = "cachestat";
    return r;
  }

  // mincore needs a mapping; map the whole file (cheap: nothing is faulted) and look at the range.
  auto mapping = RINGLOAD_TRY(Mapping::map(fd, size, path));
  std::vector<unsigned char> vec(r.total_pages);
  auto* start = const_cast<std::byte*>(mapping.bytes().data()) + first_page * page;
  if (::mincore(start, end - first_page * page, vec.data()) != 0) {
    return sys_error(errno, "mincore failed", path);
  }
  for (unsigned char v : vec) r.resident_pages += v & 1U;
  r.method = "mincore";
  return r;
}

Result<Residency> file_residency(const std::filesystem::path& path) {
  auto fd = RINGLOAD_TRY(UniqueFd::open(path, O_RDONLY));
  return file_residency(fd.get(), path.string());
}

Result<void> drop_file_cache(int fd, std::uint64_t offset, std::uint64_t length, const std::string& path) {
  const int rc =
      ::posix_fadvise(fd, static_cast<off_t>(offset), static_cast<off_t>(length), POSIX_FADV_DONTNEED);
  if (rc != 0) return sys_error(rc, "posix_fadvise(DONTNEED) failed", path, offset);
  return {};
}

}  // namespace ringload
