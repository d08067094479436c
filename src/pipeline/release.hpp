// Per-tensor release, in file order: as the delivered prefix of the file grows, its mapped pages
// get MADV_DONTNEED and then its page cache POSIX_FADV_DONTNEED (the kernel keeps cached pages
// that are still mapped, so the order matters).
//
// The page cache may hold the file in large folios (2 MiB here: FileHugePages), and FADV_DONTNEED
// cannot drop a folio a range only partly covers. Releasing the delivered prefix up to a 2 MiB
// boundary, and the rest at the end, frees every page once, with no edge left behind.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace ringload {

class Releaser {
 public:
  // `mapping`: the file's mapping when the load reads through it (else empty); `fd` < 0: no
  // page-cache advice. Failures are warnings (advice only), passed to `warn`.
  Releaser(std::span<const std::byte> mapping, int fd, std::string path,
           std::function<void(std::string_view)> warn);

  // Everything before `offset` has been delivered.
  void delivered_up_to(std::uint64_t offset);
  // The load is over: release [0, end) that is not released yet (the header included).
  void finish(std::uint64_t end);
  [[nodiscard]] double busy_seconds() const noexcept { return busy_s_; }

 private:
  void release(std::uint64_t begin, std::uint64_t end);

  std::span<const std::byte> mapping_;
  int fd_;
  std::string path_;
  std::function<void(std::string_view)> warn_;
  std::uint64_t released_to_ = 0;
  double busy_s_ = 0;
  bool warned_ = false;
};

}  // namespace ringload
