#include "io/mapping.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cerrno>
#include <utility>

#include "base/checked.hpp"

namespace ringload {

std::uint64_t page_size() noexcept {
  static const std::uint64_t size = static_cast<std::uint64_t>(::sysconf(_SC_PAGESIZE));
  return size;
}

Mapping::Mapping(Mapping&& other) noexcept
    : addr_(std::exchange(other.addr_, nullptr)), size_(std::exchange(other.size_, 0)) {}

Mapping& Mapping::operator=(Mapping&& other) noexcept {
  if (this != &other) {
    if (addr_ != nullptr) ::munmap(addr_, size_);
    addr_ = std::exchange(other.addr_, nullptr);
    size_ = std::exchange(other.size_, 0);
  }
  return *this;
}

Mapping::~Mapping() {
  if (addr_ != nullptr) ::munmap(addr_, size_);
}

Result<Mapping> Mapping::map(int fd, std::uint64_t size, const std::string& path) {
  Mapping m;
  if (size == 0) return m;
  void* addr = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
  if (addr == MAP_FAILED) {
    const int err = errno;
    Error e = sys_error(err, "mmap failed", path);
    if (err == ENOMEM) {
      e.message +=
          "; if this process maps many files, raise vm.max_map_count "
          "(sysctl -w vm.max_map_count=1048576)";
    }
    return e;
  }
  m.addr_ = addr;
  m.size_ = size;
  return m;
}

Result<void> Mapping::advise(std::uint64_t offset, std::uint64_t length, int advice, bool outward) const {
  if (addr_ == nullptr || length == 0 || offset >= size_) return {};
  const std::uint64_t page = page_size();
  const std::uint64_t end = std::min<std::uint64_t>(size_, offset + length);
  std::uint64_t first = outward ? align_down(offset, page) : align_up(offset, page).value_or(size_);
  std::uint64_t last = outward ? std::min<std::uint64_t>(align_up(end, page).value_or(size_),
                                                         align_up(size_, page).value_or(size_))
                               : align_down(end, page);
  // A range ending at the mapping's end may release the final partial page too.
  if (!outward && end == size_) last = align_up(size_, page).value_or(size_);
  if (first >= last) return {};
  if (::madvise(static_cast<std::byte*>(addr_) + first, last - first, advice) != 0) {
    return sys_error(errno, "madvise failed", {}, offset);
  }
  return {};
}

}  // namespace ringload
