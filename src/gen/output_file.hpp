// The output side of `ringload gen`: a temporary file beside the target, filled through a buffer
// and renamed over the target only when complete (no reader ever sees a half-written model, and
// a model someone has mapped is never truncated under them), plus the plumbing the per-format
// writers share: byte sinks, chunked tensor streaming and progress.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "gen/gen.hpp"
#include "io/file.hpp"
#include "ringload/error.hpp"

namespace ringload::gen {

// Where a writer's bytes go: the file itself, or a stage in front of it (CRC, compressor).
class ByteSink {
 public:
  ByteSink() = default;
  ByteSink(const ByteSink&) = delete;
  ByteSink& operator=(const ByteSink&) = delete;
  virtual ~ByteSink() = default;

  virtual Result<void> write(std::span<const std::byte> bytes) = 0;
  Result<void> write_zeros(std::uint64_t count);

 protected:
  ByteSink(ByteSink&&) = default;
  ByteSink& operator=(ByteSink&&) = default;
};

// Owner: one writer thread. Move-only; the temporary file is unlinked unless commit() succeeded.
// No fsync: a generated file is a test input that can be regenerated, and fsync of multi-GiB
// files would make generation run at writeback speed instead of page-cache speed.
class OutputFile final : public ByteSink {
 public:
  static constexpr std::size_t kDefaultBufferBytes = std::size_t{4} << 20;

  // Creates `.<name>.XXXXXX` in the target's directory (same file system, so rename is atomic).
  static Result<OutputFile> create(const std::filesystem::path& target,
                                   std::size_t buffer_bytes = kDefaultBufferBytes);

  OutputFile(OutputFile&& other) noexcept;
  OutputFile& operator=(OutputFile&& other) noexcept;
  ~OutputFile() override;

  Result<void> write(std::span<const std::byte> bytes) override;

  // Flushes, closes and renames the temporary file over the target.
  Result<void> commit();

  [[nodiscard]] std::uint64_t bytes_written() const noexcept { return bytes_written_; }
  [[nodiscard]] const std::filesystem::path& target() const noexcept { return target_; }

 private:
  OutputFile(UniqueFd fd, std::filesystem::path temp, std::filesystem::path target, std::size_t buffer_bytes);
  Result<void> flush();
  void discard() noexcept;

  UniqueFd fd_;
  std::filesystem::path temp_;  // empty once committed or discarded
  std::filesystem::path target_;
  std::vector<std::byte> buffer_;    // capacity fixed at creation; size = bytes pending
  std::uint64_t bytes_written_ = 0;  // accepted by write(), flushed or not
};

// Calls GenOptions::progress now and then (every kStepBytes, and once at the end).
class ProgressMeter {
 public:
  static constexpr std::uint64_t kStepBytes = std::uint64_t{16} << 20;

  ProgressMeter(const std::function<void(std::uint64_t, std::uint64_t)>& callback, std::uint64_t total_bytes)
      : callback_(callback), total_bytes_(total_bytes) {}

  void add(std::uint64_t bytes);
  void finish();

 private:
  const std::function<void(std::uint64_t, std::uint64_t)>& callback_;
  std::uint64_t total_bytes_;
  std::uint64_t done_bytes_ = 0;
  std::uint64_t next_report_ = kStepBytes;
};

// Streams one tensor's bytes (fill_tensor_values in chunks of scratch.size()) into `sink`.
Result<void> write_tensor_data(ByteSink& sink, std::uint64_t key, DType dtype, std::uint64_t size,
                               std::span<std::byte> scratch, ProgressMeter& progress);

// The chunk tensor bytes are produced in: large enough that write(2) and the generator run at
// full speed, small enough to stay in L2/L3.
inline constexpr std::size_t kChunkBytes = std::size_t{4} << 20;

// Checks what every format needs of write_model's input: supported dtype, size = dtype × shape
// under the format's rounding, non-empty unique UTF-8 names. invalid_argument naming the tensor.
[[nodiscard]] Result<void> check_tensor_specs(Format format, std::span<const TensorSpec> tensors);

// The per-format writers behind write_model (which validated the specs and options).
[[nodiscard]] Result<GenReport> write_safetensors(const std::filesystem::path& out, const GenOptions& options,
                                                  std::span<const TensorSpec> tensors,
                                                  const nlohmann::ordered_json& metadata);
// One file of a llama.cpp split set: the keys gguf-split writes into every split, typed as it
// writes them. A split other than the first holds these keys only (no general.*, no model keys).
struct GgufSplit {
  std::uint16_t number = 0;       // split.no, 0-based
  std::uint16_t count = 0;        // split.count
  std::int32_t tensor_count = 0;  // split.tensors.count: tensors in the whole set
};
[[nodiscard]] Result<GenReport> write_gguf(const std::filesystem::path& out, const GenOptions& options,
                                           std::span<const TensorSpec> tensors,
                                           const nlohmann::ordered_json& metadata,
                                           const std::optional<GgufSplit>& split = std::nullopt);
[[nodiscard]] Result<GenReport> write_apr(const std::filesystem::path& out, const GenOptions& options,
                                          std::span<const TensorSpec> tensors,
                                          const nlohmann::ordered_json& metadata);

// How a format sizes a partial final block (APR zero-pads it; the others forbid it).
[[nodiscard]] constexpr BlockRounding block_rounding(Format format) noexcept {
  return format == Format::apr ? BlockRounding::pad_last_block : BlockRounding::exact;
}

}  // namespace ringload::gen
