// Move-only file descriptor and the few whole-file operations the formats need.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <span>
#include <string>
#include <vector>

#include "ringload/error.hpp"

namespace ringload {

// Owner: whoever holds it; closes on destruction.
class UniqueFd {
 public:
  UniqueFd() noexcept = default;
  explicit UniqueFd(int fd) noexcept : fd_(fd) {}
  UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
  UniqueFd& operator=(UniqueFd&& other) noexcept;
  UniqueFd(const UniqueFd&) = delete;
  UniqueFd& operator=(const UniqueFd&) = delete;
  ~UniqueFd();

  // open(2) with O_CLOEXEC added; the error names the path.
  static Result<UniqueFd> open(const std::filesystem::path& path, int flags, int mode = 0644);

  [[nodiscard]] int get() const noexcept { return fd_; }
  [[nodiscard]] bool valid() const noexcept { return fd_ >= 0; }

 private:
  int fd_ = -1;
};

// st_size of an open file, or an io error naming the path.
[[nodiscard]] Result<std::uint64_t> file_size(int fd, const std::string& path);

// pread until `out` is full; a short file is `truncated` at the offset where bytes ran out.
[[nodiscard]] Result<void> pread_exact(int fd, std::span<std::byte> out, std::uint64_t offset,
                                       const std::string& path);

// The whole file on the heap (the `read` baseline, and compressed APR).
[[nodiscard]] Result<std::vector<std::byte>> read_file(const std::filesystem::path& path);

// write(2) until done; EINTR and short writes are retried.
[[nodiscard]] Result<void> write_all(int fd, std::span<const std::byte> bytes, const std::string& path);

}  // namespace ringload
