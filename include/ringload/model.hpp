// One format-neutral view of a model file: its tensor table, metadata and bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringload/dtype.hpp"
#include "ringload/error.hpp"
#include "ringload/metadata.hpp"

namespace ringload {

enum class Format : std::uint8_t { apr, safetensors, gguf };

[[nodiscard]] std::string_view to_string(Format format) noexcept;
std::ostream& operator<<(std::ostream& out, Format format);

struct TensorInfo {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;  // the file's own order (GGUF: ne[0] first)
  std::uint64_t offset = 0;          // absolute offset of the first byte in the file (in the
                                     // decompressed image for compressed APR)
  std::uint64_t size = 0;            // bytes
  std::uint32_t file = 0;            // a Checkpoint's index of the file that holds it (0 for a Model)
};

struct ModelOptions {
  // APR: check the footer CRC-32. It costs a read of the whole file, so it is off by default.
  bool verify_checksum = false;
};

// Move-only. Uncompressed files are mapped PROT_READ + MAP_SHARED (never a private writable
// mapping: written or pinned private pages turn into anonymous memory only swap or zram can take);
// compressed APR is decompressed onto the heap. Opening is O(header): no tensor byte is touched.
class Model {
 public:
  static Result<Model> load(const std::filesystem::path& path, const ModelOptions& options = {});
  static Result<Model> from_bytes(std::vector<std::byte> bytes, std::string origin = "<memory>",
                                  const ModelOptions& options = {});

  Model(Model&& other) noexcept;
  Model& operator=(Model&& other) noexcept;
  Model(const Model&) = delete;
  Model& operator=(const Model&) = delete;
  ~Model();

  [[nodiscard]] const std::string& path() const noexcept;  // file path or from_bytes origin
  [[nodiscard]] Format format() const noexcept;
  [[nodiscard]] bool is_mmap() const noexcept;
  [[nodiscard]] std::uint64_t file_size() const noexcept;           // bytes on disk (compressed size)
  [[nodiscard]] std::span<const std::byte> image() const noexcept;  // whole (decompressed) file
  [[nodiscard]] std::uint64_t data_offset() const noexcept;         // first byte of the data section
  [[nodiscard]] std::uint64_t alignment() const noexcept;           // tensor alignment the format promises

  [[nodiscard]] std::span<const TensorInfo> tensors() const noexcept;  // sorted by offset
  [[nodiscard]] std::vector<std::string> tensor_names() const;         // in file order
  [[nodiscard]] Result<TensorInfo> tensor(std::string_view name) const;
  [[nodiscard]] Result<std::span<const std::byte>> tensor_bytes(std::string_view name) const;
  // An object: GGUF's key/values, safetensors' "__metadata__" strings, APR's JSON metadata.
  [[nodiscard]] const MetadataValue& metadata() const noexcept;

  // Drops the mapping's pages (MADV_DONTNEED) and then the file's page cache
  // (POSIX_FADV_DONTNEED), in that order: the kernel keeps cached pages that are still mapped.
  // Success and no effect on heap data.
  Result<void> release_cpu_pages() const;
  // The same for one tensor's whole pages (its edge pages are shared with its neighbours).
  Result<void> release_tensor_pages(std::string_view name) const;

  // The open file descriptor behind a mapped model (-1 for heap data); the pipeline reads
  // through it.
  [[nodiscard]] int fd() const noexcept;

 private:
  struct Impl;
  explicit Model(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace ringload
