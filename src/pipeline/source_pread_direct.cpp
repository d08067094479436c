// pread-direct: O_DIRECT preads from a few threads into the slots, for where io_uring cannot be had
// (Docker's default seccomp profile makes io_uring_setup fail with EPERM, as does
// kernel.io_uring_disabled). Like uring-direct it leaves no page cache at all, and chunks start
// and end on the file system's O_DIRECT offset alignment (statx STATX_DIOALIGN), never a guess.
#include <fcntl.h>

#include <algorithm>

#include <fmt/format.h>

#include "io/uring.hpp"
#include "pipeline/engine.hpp"
#include "pipeline/pread_reader.hpp"
#include "pipeline/uring_reader.hpp"

namespace ringload {
namespace {

// Reads in flight at once. A 1 MiB O_DIRECT read is split by the block layer into several
// requests, so each thread keeps several on the device. Measured cold on 1 GiB against
// uring-direct at queue depth 64 (bench/results/2026-12-03-cpp-2vcpu/pread-direct.txt): four
// threads 1.08x its GB/s, two 0.86x, eight 0.97x (a loaded 2-vCPU machine: more threads only
// cost stacks and wake-ups).
constexpr std::uint32_t kThreads = 4;

}  // namespace

std::uint32_t pread_direct_threads() noexcept { return kThreads; }

Result<std::unique_ptr<ChunkSource>> open_pread_direct_source(const SourceContext& context) {
  const PipelineOptions& options = context.options;
  // statx says nothing on some file systems: 4 KiB, the usual block size, is then tried.
  const auto dio = direct_io_alignment(context.model.fd());
  const std::uint64_t alignment = std::max<std::uint64_t>(4096, dio ? dio->offset : 0);
  if (options.slot_size % alignment != 0 || options.read_size % alignment != 0) {
    Error e =
        make_error(ErrorKind::invalid_argument,
                   fmt::format("O_DIRECT needs slot and read sizes that are multiples of {}", alignment));
    e.path = context.model.path();
    return e;
  }
  auto fd = reopen_model_file(context.model, O_RDONLY | O_DIRECT);
  if (!fd) {
    Error e = std::move(fd).error();
    e.kind = ErrorKind::unsupported_feature;
    e.message += "; this file system refuses O_DIRECT: use --strategy auto or mmap-pipelined";
    return e;
  }
  return std::unique_ptr<ChunkSource>(
      std::make_unique<PreadReader>(context.pread_pool(), PreadReaderOptions{.fd = std::move(fd).value(),
                                                                             .path = context.model.path(),
                                                                             .alignment = alignment,
                                                                             .direct = true,
                                                                             .read_size = options.read_size,
                                                                             .fault = context.engine.fault}));
}

}  // namespace ringload
