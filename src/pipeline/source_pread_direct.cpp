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
  DirectFile file = RINGLOAD_TRY(open_direct_file(
      context.model, options, "; this file system refuses O_DIRECT: use --strategy auto or mmap-pipelined"));
  return std::unique_ptr<ChunkSource>(
      std::make_unique<PreadReader>(context.pread_pool(), PreadReaderOptions{.fd = std::move(file.fd),
                                                                             .path = context.model.path(),
                                                                             .alignment = file.alignment,
                                                                             .direct = true,
                                                                             .read_size = options.read_size,
                                                                             .fault = context.engine.fault}));
}

}  // namespace ringload
