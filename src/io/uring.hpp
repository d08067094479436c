// A move-only io_uring with registered buffers.
// Owner: the io thread. Not thread-safe; other threads hand work in through the staging ring.
#pragma once

#include <liburing.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <vector>

#include "ringload/error.hpp"

namespace ringload {

class Uring {
 public:
  Uring(Uring&& other) noexcept;
  Uring& operator=(Uring&& other) noexcept;
  Uring(const Uring&) = delete;
  Uring& operator=(const Uring&) = delete;
  ~Uring();

  // SINGLE_ISSUER | DEFER_TASKRUN where the kernel has them (completions run when we reap, on
  // this thread, instead of interrupting it). Docker's default seccomp profile blocks io_uring:
  // the error says so.
  static Result<Uring> create(std::uint32_t entries);

  // Registers one fixed buffer per span (io_uring_prep_read_fixed's buf_index). Registered
  // buffers count against RLIMIT_MEMLOCK on some kernels: a failure is returned for the caller to
  // fall back to plain reads.
  Result<void> register_buffers(std::span<const std::span<std::byte>> buffers);
  // A table of `count` empty fixed-buffer entries, each filled later by update_buffer: a buffer
  // is then pinned (and its pages faulted in) only when first used. Kernels before 5.13 refuse
  // (the caller falls back to register_buffers).
  Result<void> register_sparse_buffers(std::uint32_t count);
  Result<void> update_buffer(std::uint32_t index, std::span<std::byte> buffer);
  [[nodiscard]] bool buffers_registered() const noexcept { return buffers_registered_; }

  [[nodiscard]] io_uring* get() noexcept { return ring_.get(); }
  [[nodiscard]] std::uint32_t entries() const noexcept { return entries_; }

 private:
  explicit Uring(std::unique_ptr<io_uring> ring, std::uint32_t entries) noexcept
      : ring_(std::move(ring)), entries_(entries) {}

  std::unique_ptr<io_uring> ring_;  // set only once io_uring_queue_init succeeded
  std::uint32_t entries_ = 0;
  bool buffers_registered_ = false;
};

// O_DIRECT alignment of a file from statx(STATX_DIOALIGN); when statx does not say, one aligned
// 4 KiB O_DIRECT read of the file decides (4 KiB then); nullopt: no O_DIRECT, read buffered.
inline constexpr std::uint32_t kProbeAlignment = 4096;
struct DirectIoAlignment {
  std::uint32_t memory = 0;
  std::uint32_t offset = 0;
};
[[nodiscard]] std::optional<DirectIoAlignment> direct_io_alignment(int fd);

}  // namespace ringload
