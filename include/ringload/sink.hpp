// Where loaded bytes go. A sink accepts filled byte ranges for a tensor's destination; it knows
// nothing of formats or of how the bytes were read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "ringload/error.hpp"
#include "ringload/model.hpp"

namespace ringload {

// One tensor as the pipeline delivers it: `size` bytes (after any shard slicing) that come from
// file bytes [file_offset, file_offset + size).
struct SinkTensor {
  std::uint32_t index = 0;  // position in the load's tensor list (file order)
  const TensorInfo* info = nullptr;
  std::uint64_t file_offset = 0;
  std::uint64_t size = 0;
};

// A tensor's destination as the sink holds it.
struct Destination {
  void* data = nullptr;  // host or device pointer (nullptr for sinks that keep nothing)
  std::uint64_t size = 0;
  bool on_device = false;
};

// `slot` value for bytes that do not live in the staging ring (the `read` baseline's heap copy):
// the caller keeps them valid until finish().
inline constexpr std::uint32_t kNoSlot = 0xFFFFFFFFU;

// Bytes a sink lets the pipeline place with a plain copy instead of write(). The `mmap` baseline
// copies out of a file mapping inside a SIGBUS guard, which abandons the copy with siglongjmp if
// the file shrinks: only code that takes no lock, allocates nothing and calls no library may run
// there. put() promises exactly that (a memcpy into host memory, a fold).
class PlainWriter {
 public:
  virtual void put(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes) noexcept = 0;

 protected:
  PlainWriter() = default;
  PlainWriter(const PlainWriter&) = default;
  PlainWriter& operator=(const PlainWriter&) = default;
  ~PlainWriter() = default;
};

// A stretch of one file of the load that a sink holds byte for byte: file bytes
// [file_offset, file_offset + length) of the load's file `file`, holding tensors
// [first_tensor, end_tensor) of the load's list (SinkTensor::index), each at its own file position.
// Bytes of the stretch that belong to no tensor (a header's tail, padding, a small hole the reads
// span anyway) are the readers' to overwrite.
struct FileImage {
  std::uint32_t file = 0;
  std::uint64_t file_offset = 0;  // a multiple of the load's read alignment
  std::uint64_t length = 0;       // likewise
  std::uint32_t first_tensor = 0;
  std::uint32_t end_tensor = 0;
};

// A sink capability: host memory the pipeline may read files straight into (O_DIRECT or buffered
// reads landing at the destination, no staging copy). For that the destinations must mirror the
// file: each image starts on a page boundary, so every address has its file offset's alignment
// modulo the page (what O_DIRECT asks of memory), and a tensor has the alignment its file gives it
// (as in a mapping of the file) instead of the sink's own.
class ImageTarget {
 public:
  // Instead of Sink::prepare (once per load): destinations laid out as `images`, which cover every
  // tensor of `tensors` once, in load order. invalid_argument when they do not.
  virtual Result<void> prepare_images(std::span<const SinkTensor> tensors,
                                      std::span<const FileImage> images) = 0;
  // Image `image`'s memory (FileImage::length bytes), writable until discard().
  [[nodiscard]] virtual std::span<std::byte> image(std::uint32_t image) noexcept = 0;

 protected:
  ImageTarget() = default;
  ImageTarget(const ImageTarget&) = default;
  ImageTarget& operator=(const ImageTarget&) = default;
  ~ImageTarget() = default;
};

// Owner: the pipeline's io thread calls every method; a sink need not be thread-safe.
class Sink {
 public:
  Sink() = default;
  Sink(const Sink&) = delete;
  Sink& operator=(const Sink&) = delete;
  virtual ~Sink() = default;

  [[nodiscard]] virtual std::string_view name() const = 0;

  // The CUDA device this sink copies staging memory to: the staging ring first-touches its pages
  // on that device's NUMA node and page-locks itself for it (sinks never pin; the ring owns its
  // registrations). nullopt for host-side sinks.
  [[nodiscard]] virtual std::optional<int> staging_device() const { return std::nullopt; }
  // The sink's plain-copy path (see PlainWriter), or nullptr: bytes only through write().
  [[nodiscard]] virtual PlainWriter* plain_writer() noexcept { return nullptr; }
  // The sink's file-image layout (see ImageTarget), or nullptr: destinations only through prepare().
  [[nodiscard]] virtual ImageTarget* image_target() noexcept { return nullptr; }
  // Allocates destinations for the tensors of one load. Called once per load.
  virtual Result<void> prepare(std::span<const SinkTensor> tensors) = 0;
  // Copies bytes into tensor `index` at `offset`. The bytes live in staging slot `slot` and stay
  // valid until slot_idle(slot) returns true.
  virtual Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                             std::uint32_t slot) = 0;
  // Every piece of one chunk from `slot` has been passed to write(): an asynchronous sink issues
  // what it batched and marks the slot (one event per chunk, not per piece).
  virtual Result<void> slot_written(std::uint32_t slot) {
    (void)slot;
    return {};
  }
  // True once every write from `slot` has finished reading it (always, for synchronous sinks).
  virtual Result<bool> slot_idle(std::uint32_t slot) {
    (void)slot;
    return true;
  }
  // Blocks (without spinning) until slot_idle(slot) would be true.
  virtual Result<void> wait_slot_idle(std::uint32_t slot) {
    (void)slot;
    return {};
  }
  // Blocks until every write has landed; after it, destinations hold the bytes.
  virtual Result<void> finish() = 0;
  [[nodiscard]] virtual Destination destination(std::uint32_t index) const = 0;
  // Frees every destination: the load failed or was cancelled (the loader calls it after waiting
  // out the sink's copies), or a service unloads the model.
  virtual void discard() noexcept {}
};

// Destinations in host memory: what CPU-only machines load into, and what tests compare. One
// load's tensors share one 2 MiB-aligned anonymous mapping with MADV_HUGEPAGE (laid out by
// prepare(), each tensor at a 64-byte boundary): filling fresh 4 KiB pages costs a fault each, which on a VM
// measured 3x slower than the disk and stalled other threads of the process. When the pipeline reads files
// straight into it (ImageTarget), tensors sit at their file positions inside page-aligned images instead.
class HostSink final : public Sink, private PlainWriter, private ImageTarget {
 public:
  HostSink();
  ~HostSink() override;

  [[nodiscard]] std::string_view name() const override { return "host"; }
  [[nodiscard]] PlainWriter* plain_writer() noexcept override { return this; }
  [[nodiscard]] ImageTarget* image_target() noexcept override { return this; }
  Result<void> prepare(std::span<const SinkTensor> tensors) override;
  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override;
  Result<void> finish() override { return {}; }
  [[nodiscard]] Destination destination(std::uint32_t index) const override;

  // The loaded bytes of tensor `index` (empty span for an unknown index).
  [[nodiscard]] std::span<const std::byte> bytes(std::uint32_t index) const;
  [[nodiscard]] std::size_t tensor_count() const noexcept;
  // Bytes the destinations take (tensor bytes plus alignment; with images, the images), 0 after
  // discard().
  [[nodiscard]] std::uint64_t allocated_bytes() const noexcept;
  // The one allocation every destination lies in (empty after discard()).
  [[nodiscard]] std::span<const std::byte> allocation() const noexcept;
  void discard() noexcept override;

 private:
  void put(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes) noexcept override;
  Result<void> prepare_images(std::span<const SinkTensor> tensors,
                              std::span<const FileImage> images) override;
  [[nodiscard]] std::span<std::byte> image(std::uint32_t image) noexcept override;

  struct Arena;  // the mapping and where each tensor sits in it (src/sink/host_sink.cpp)
  std::unique_ptr<Arena> arena_;
};

// Keeps nothing but reads every byte it is handed (a cheap fold), so a lazy strategy cannot skip
// the work: it stands for a device that takes bytes at memory speed.
class NullSink final : public Sink, private PlainWriter {
 public:
  [[nodiscard]] std::string_view name() const override { return "null"; }
  [[nodiscard]] PlainWriter* plain_writer() noexcept override { return this; }
  Result<void> prepare(std::span<const SinkTensor> tensors) override;
  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override;
  Result<void> finish() override { return {}; }
  [[nodiscard]] Destination destination(std::uint32_t index) const override;
  void discard() noexcept override { sizes_.clear(); }
  [[nodiscard]] std::uint64_t fold() const noexcept { return fold_; }
  [[nodiscard]] std::uint64_t bytes_seen() const noexcept { return bytes_; }

 private:
  void put(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes) noexcept override;

  std::vector<std::uint64_t> sizes_;
  std::uint64_t fold_ = 0;
  std::uint64_t bytes_ = 0;
};

// GPU destinations: one stream-ordered device allocation per load (cudaMallocAsync), tensors in
// file order inside it, copies on K streams round-robin by staging slot, one event per chunk.
// Freed with cudaFreeAsync, so unloading never synchronises the whole device. Every call leaves
// the calling thread's current device as it found it. Without a CUDA build or without a device,
// make_cuda_sink returns ErrorKind::no_device — never a crash.
struct CudaSinkOptions {
  int device = 0;
  std::uint32_t streams = 2;
};
[[nodiscard]] Result<std::unique_ptr<Sink>> make_cuda_sink(const CudaSinkOptions& options = {});
// Copies a device destination back to host memory (for round-trip checks); no_device elsewhere.
[[nodiscard]] Result<std::vector<std::byte>> copy_to_host(const Sink& sink, std::uint32_t index);
// True when this build has the CUDA sink compiled in.
[[nodiscard]] bool cuda_sink_compiled() noexcept;

}  // namespace ringload
