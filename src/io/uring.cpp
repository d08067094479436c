#include "io/uring.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <utility>

#include <fmt/format.h>

#include "io/file.hpp"

namespace ringload {

Uring::Uring(Uring&& other) noexcept
    : ring_(std::move(other.ring_)),
      entries_(std::exchange(other.entries_, 0)),
      buffers_registered_(std::exchange(other.buffers_registered_, false)) {}

Uring& Uring::operator=(Uring&& other) noexcept {
  if (this == &other) return *this;
  if (ring_) io_uring_queue_exit(ring_.get());
  ring_ = std::move(other.ring_);
  entries_ = std::exchange(other.entries_, 0);
  buffers_registered_ = std::exchange(other.buffers_registered_, false);
  return *this;
}

Uring::~Uring() {
  if (ring_) io_uring_queue_exit(ring_.get());
}

Result<Uring> Uring::create(std::uint32_t entries) {
  auto ring = std::make_unique<io_uring>();
  io_uring_params params{};
  params.flags = IORING_SETUP_SINGLE_ISSUER | IORING_SETUP_DEFER_TASKRUN;
  int rc = io_uring_queue_init_params(entries, ring.get(), &params);
  if (rc == -EINVAL) {  // kernels before 6.1 lack the flags
    params = io_uring_params{};
    rc = io_uring_queue_init_params(entries, ring.get(), &params);
  }
  if (rc < 0) {
    Error e = sys_error(-rc, "io_uring_setup failed", {});
    if (rc == -EPERM || rc == -ENOSYS) {
      e.message +=
          "; io_uring is disabled here (a container's seccomp profile, or "
          "kernel.io_uring_disabled): use --strategy auto or pread-direct";
    }
    return e;
  }
  return Uring(std::move(ring), entries);
}

Result<void> Uring::register_buffers(std::span<const std::span<std::byte>> buffers) {
  std::vector<iovec> iovecs;
  iovecs.reserve(buffers.size());
  for (const auto& b : buffers) iovecs.push_back(iovec{b.data(), b.size()});
  const int rc = io_uring_register_buffers(ring_.get(), iovecs.data(), static_cast<unsigned>(iovecs.size()));
  if (rc < 0) {
    Error e = sys_error(-rc, "io_uring_register_buffers failed", {});
    if (rc == -ENOMEM) e.message += "; raise RLIMIT_MEMLOCK (ulimit -l) to register the staging ring";
    return e;
  }
  buffers_registered_ = true;
  return {};
}

Result<void> Uring::register_sparse_buffers(std::uint32_t count) {
  const int rc = io_uring_register_buffers_sparse(ring_.get(), count);
  if (rc < 0) return sys_error(-rc, "io_uring_register_buffers_sparse failed", {});
  buffers_registered_ = true;
  return {};
}

Result<void> Uring::update_buffer(std::uint32_t index, std::span<std::byte> buffer) {
  iovec iov{buffer.data(), buffer.size()};
  const __u64 tag = 0;
  const int rc = io_uring_register_buffers_update_tag(ring_.get(), index, &iov, &tag, 1);
  if (rc < 0) {
    Error e = sys_error(-rc, "io_uring_register_buffers_update_tag failed", {});
    if (rc == -ENOMEM) e.message += "; raise RLIMIT_MEMLOCK (ulimit -l) to register the staging ring";
    return e;
  }
  return {};
}

namespace {

// One aligned 4 KiB O_DIRECT read of the file, through a second descriptor of it: what some file
// systems (btrfs on Linux 6.18) accept without saying so in statx.
bool direct_read_works(int fd) {
  const UniqueFd direct(::open(fmt::format("/proc/self/fd/{}", fd).c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC));
  if (!direct.valid()) return false;
  alignas(kProbeAlignment) std::array<std::byte, kProbeAlignment> block{};
  return ::pread(direct.get(), block.data(), block.size(), 0) >= 0;
}

}  // namespace

std::optional<DirectIoAlignment> direct_io_alignment(int fd) {
  struct statx stx {};
  if (::statx(fd, "", AT_EMPTY_PATH, STATX_DIOALIGN, &stx) == 0 && (stx.stx_mask & STATX_DIOALIGN) != 0 &&
      stx.stx_dio_offset_align != 0) {
    return DirectIoAlignment{stx.stx_dio_mem_align, stx.stx_dio_offset_align};
  }
  // statx is silent: measured on btrfs, O_DIRECT there works and leaves nothing cached, and
  // buffered reads ran at a third of its speed; so one read decides.
  if (direct_read_works(fd)) return DirectIoAlignment{kProbeAlignment, kProbeAlignment};
  return std::nullopt;
}

}  // namespace ringload
