#include "io/huge_page_memory.hpp"

#include <sys/mman.h>

#include <cerrno>
#include <utility>

#include <fmt/format.h>

#include "base/checked.hpp"

namespace ringload {
namespace {
constexpr std::uint64_t kHugePage = 2ULL << 20;
}

HugePageMemory::HugePageMemory(HugePageMemory&& other) noexcept
    : base_(std::exchange(other.base_, nullptr)),
      mapping_(std::exchange(other.mapping_, nullptr)),
      mapping_size_(std::exchange(other.mapping_size_, 0)),
      size_(std::exchange(other.size_, 0)),
      huge_pages_(std::exchange(other.huge_pages_, false)) {}

HugePageMemory& HugePageMemory::operator=(HugePageMemory&& other) noexcept {
  if (this != &other) {
    if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
    base_ = std::exchange(other.base_, nullptr);
    mapping_ = std::exchange(other.mapping_, nullptr);
    mapping_size_ = std::exchange(other.mapping_size_, 0);
    size_ = std::exchange(other.size_, 0);
    huge_pages_ = std::exchange(other.huge_pages_, false);
  }
  return *this;
}

HugePageMemory::~HugePageMemory() {
  if (mapping_ != nullptr) ::munmap(mapping_, mapping_size_);
}

Result<HugePageMemory> HugePageMemory::allocate(std::uint64_t bytes, const char* what) {
  HugePageMemory memory;
  if (bytes == 0) return memory;
  const auto failed = [&] { return fmt::format("cannot allocate {} bytes for {}", bytes, what); };
  // Over-allocate by one huge page so the memory can start on a 2 MiB boundary.
  const auto mapping_size = checked_add(bytes, kHugePage);
  if (!mapping_size || *mapping_size > (1ULL << 47)) return make_error(ErrorKind::out_of_memory, failed());
  void* mapping = ::mmap(nullptr, *mapping_size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (mapping == MAP_FAILED) return sys_error(errno, failed(), {});
  memory.mapping_ = static_cast<std::byte*>(mapping);
  memory.mapping_size_ = *mapping_size;
  const auto addr = reinterpret_cast<std::uintptr_t>(mapping);
  memory.base_ = memory.mapping_ + (align_up(addr, kHugePage).value_or(addr) - addr);
  memory.size_ = bytes;
  memory.huge_pages_ = ::madvise(memory.base_, bytes, MADV_HUGEPAGE) == 0;
  return memory;
}

}  // namespace ringload
