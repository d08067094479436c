// A chunk source moves the bytes of planned chunks to where the pipeline can hand them on: into a
// staging slot (io_uring reads, copies out of a mapping), or in place (the `read` baseline's heap
// copy, the `mmap` baseline's bounce buffer), or, for the `mmap` baseline into a plain-memory
// sink, straight to the destination. In-place sources run one chunk at a time. Every
// strategy is one source, made by its factory in the strategy table (strategy_table.hpp). A source
// knows nothing of formats; it learns of the sink only through Sink::plain_writer().
// Owner: the io thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string_view>
#include <vector>

#include "pipeline/plan.hpp"
#include "ringload/error.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

class LoadEngine;
class StagingRing;

struct ChunkRequest {
  std::uint32_t chunk = 0;  // global: the load's chunk index
  // kNoSlot: an in-place source (SourceNeeds::slots false), or a buffer outside the ring
  // (SourceNeeds::reads_anywhere)
  std::uint32_t slot = kNoSlot;
  const Chunk* info = nullptr;
  std::span<std::byte> buffer;  // the slot or the chunk's place at the sink; empty for in-place sources
};

struct ChunkDone {
  std::uint32_t chunk = 0;
  // The chunk's bytes from its file_offset: the slot, or memory the source keeps valid until it
  // is destroyed. Empty when `delivered`.
  std::span<const std::byte> bytes;
  bool delivered = false;  // the source put every piece at its destination itself
};

// What a source asks of the plan and the scheduler.
struct SourceNeeds {
  bool slots = true;                 // fills staging slots (else hands bytes out in place)
  std::uint64_t alignment = 1;       // chunk boundaries: O_DIRECT's offset alignment
  bool per_tensor = false;           // one tensor per chunk (the baselines' tensor-by-tensor copy)
  std::uint64_t max_chunk = 0;       // largest chunk; 0: one staging slot
  bool release_as_delivered = true;  // per-tensor release (else all at the end, as `mmap` does)
  // start() reads into whatever page-aligned memory the request names, with slot kNoSlot (not
  // only into the ring): chunks may land straight at their destination (file_images.hpp).
  bool reads_anywhere = false;
};

// Test hook, set through src/pipeline/testing.hpp: for a read of [offset, offset + length), a
// negative errno fails it (-EAGAIN and -EINTR are retried, as real ones are), a positive n makes
// it return only n bytes (a short read), 0 leaves it alone.
using FaultInjector = std::function<std::int64_t(std::uint64_t offset, std::uint64_t length)>;

class ChunkSource {
 public:
  ChunkSource() = default;
  ChunkSource(const ChunkSource&) = delete;
  ChunkSource& operator=(const ChunkSource&) = delete;
  virtual ~ChunkSource() = default;

  [[nodiscard]] virtual SourceNeeds needs() const = 0;
  // Before the first start, when needs().slots: the ring the requests' buffers live in.
  virtual void attach(StagingRing& ring) { (void)ring; }
  virtual Result<void> start(const ChunkRequest& request) = 0;
  // Appends the chunks that completed; with `wait`, blocks until at least one has (if any is in
  // flight).
  virtual Result<void> reap(bool wait, std::vector<ChunkDone>& done) = 0;
  [[nodiscard]] virtual std::uint32_t in_flight() const = 0;
  // Waits out every started read, ignoring results: slots must not be reused or freed while the
  // kernel may still write into them (the cancel and error paths).
  virtual void drain() noexcept = 0;
  // File bytes read so far (aligned supersets included).
  [[nodiscard]] virtual std::uint64_t bytes_read() const = 0;
  // io_uring fixed buffers in use (LoadReport::staging_registered).
  [[nodiscard]] virtual bool fixed_buffers() const { return false; }
  // Sources that share one reaper (the files of a load read through its one UringReader) return
  // the same value: the scheduler reaps and counts in-flight reads once per group.
  [[nodiscard]] virtual const void* reap_group() const { return this; }
};

class UringReader;
class PreadPool;

// What a factory gets. Everything outlives the source.
struct SourceContext {
  const Model& model;  // the file to read
  const PipelineOptions& options;
  LoadEngine& engine;
  Sink& sink;
  std::function<void(std::string_view)> warn;
  // The load's one io_uring reader, made on first use; nullptr where io_uring is unavailable
  // (LoadEngine::uring_unavailable says why).
  std::function<UringReader*()> uring_reader;
  // The load's pread threads (pread-direct), made on first use.
  std::function<PreadPool&()> pread_pool;
};

using SourceFactory = Result<std::unique_ptr<ChunkSource>> (*)(const SourceContext&);

// One factory per strategy (one file each).
Result<std::unique_ptr<ChunkSource>> open_read_source(const SourceContext& context);  // source_read.cpp
Result<std::unique_ptr<ChunkSource>> open_mmap_source(const SourceContext& context);  // source_mmap.cpp
Result<std::unique_ptr<ChunkSource>> open_mmap_pipelined_source(
    const SourceContext& context);                                                     // source_mapping.cpp
Result<std::unique_ptr<ChunkSource>> open_uring_source(const SourceContext& context);  // source_uring*.cpp
Result<std::unique_ptr<ChunkSource>> open_uring_direct_source(const SourceContext& context);
Result<std::unique_ptr<ChunkSource>> open_uring_dontcache_source(const SourceContext& context);
Result<std::unique_ptr<ChunkSource>> open_pread_direct_source(
    const SourceContext& context);  // source_pread_direct.cpp
// How many threads pread-direct reads with (the engine's PreadPool; auto's reason says it).
[[nodiscard]] std::uint32_t pread_direct_threads() noexcept;

}  // namespace ringload
