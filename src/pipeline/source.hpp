// A chunk source fills staging slots with the bytes of planned chunks. It knows nothing of
// formats or sinks. Owner: the io thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "pipeline/plan.hpp"
#include "ringload/error.hpp"

namespace ringload {

class Uring;

struct ChunkRequest {
  std::uint32_t chunk = 0;
  std::uint32_t slot = 0;
  const Chunk* info = nullptr;
  std::span<std::byte> buffer;  // the slot
};

// Test hook: return a negative errno to make the read of [offset, offset + length) fail with it.
using FaultInjector = std::function<int(std::uint64_t offset, std::uint64_t length)>;

class ChunkSource {
 public:
  ChunkSource() = default;
  ChunkSource(const ChunkSource&) = delete;
  ChunkSource& operator=(const ChunkSource&) = delete;
  virtual ~ChunkSource() = default;

  virtual Result<void> start(const ChunkRequest& request) = 0;
  // Appends the chunks that completed; with `wait`, blocks until at least one has (if any is in
  // flight).
  virtual Result<void> reap(bool wait, std::vector<std::uint32_t>& completed) = 0;
  [[nodiscard]] virtual std::uint32_t in_flight() const = 0;
  // Waits out every started read, ignoring results: slots must not be reused or freed while the
  // kernel may still write into them (the cancel and error paths).
  virtual void drain() noexcept = 0;
};

// Copies from bytes already addressable: a file mapping (mmap-pipelined: MADV_WILLNEED a window
// ahead so kernel readahead overlaps our copy; SIGBUS-safe) or a heap image.
struct MemorySourceOptions {
  std::span<const std::byte> image;
  bool mapped = true;
  std::uint64_t willneed_window = 0;  // 0: rely on fault-path readahead (see PipelineOptions)
  FaultInjector fault;
};
[[nodiscard]] std::unique_ptr<ChunkSource> make_memory_source(MemorySourceOptions options);

// io_uring reads (fixed buffers when registered) of read_size pieces, requeueing short reads.
struct UringSourceOptions {
  Uring* uring = nullptr;
  int fd = -1;
  std::string path;
  std::uint64_t file_size = 0;  // as planned; a read ending early below it means truncation
  std::uint64_t read_size = 1ULL << 20;
  bool fixed_buffers = false;  // slot index = registered buffer index
  bool dontcache = false;      // RWF_DONTCACHE
  bool direct = false;         // fd was opened O_DIRECT
  std::uint64_t direct_alignment = 4096;
  FaultInjector fault;
};
[[nodiscard]] std::unique_ptr<ChunkSource> make_uring_source(UringSourceOptions options);

}  // namespace ringload
