// A read-only shared file mapping (PROT_READ + MAP_SHARED). Never a writable private mapping:
// written or pinned private pages become anonymous memory that only swap or zram can take.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

#include "ringload/error.hpp"

namespace ringload {

class Mapping {
 public:
  Mapping() noexcept = default;
  Mapping(Mapping&& other) noexcept;
  Mapping& operator=(Mapping&& other) noexcept;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping();

  // Maps [0, size) of fd. size 0 gives an empty mapping (mmap rejects length 0).
  // ENOMEM names vm.max_map_count, the usual cause when a process maps many shards.
  static Result<Mapping> map(int fd, std::uint64_t size, const std::string& path);

  [[nodiscard]] std::span<const std::byte> bytes() const noexcept {
    return {static_cast<const std::byte*>(addr_), size_};
  }
  [[nodiscard]] std::uint64_t size() const noexcept { return size_; }

  // madvise on the whole pages inside [offset, offset + length) — or, with `outward`, on every
  // page the range touches. Failures are returned, not fatal: callers treat them as warnings.
  Result<void> advise(std::uint64_t offset, std::uint64_t length, int advice, bool outward) const;

 private:
  void* addr_ = nullptr;
  std::size_t size_ = 0;
};

[[nodiscard]] std::uint64_t page_size() noexcept;

}  // namespace ringload
