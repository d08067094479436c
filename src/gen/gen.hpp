// `ringload gen`: valid model files whose tensor bytes are a deterministic function of
// (seed, tensor name, byte position), so a misplaced or corrupted byte is always detectable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringload/dtype.hpp"
#include "ringload/error.hpp"
#include "ringload/model.hpp"

namespace ringload::gen {

enum class Compression : std::uint8_t { none, lz4, zstd };

struct TensorSpec {
  std::string name;
  DType dtype = DType::F32;
  std::vector<std::uint64_t> shape;  // file order (GGUF: ne[0] first)
  std::uint64_t size = 0;            // bytes, as the format's size rule gives them
};

struct GenOptions {
  Format format = Format::safetensors;
  std::uint64_t target_bytes = 64ULL << 20;     // approximate total of tensor bytes
  std::uint32_t tensor_count = 0;               // 0: chosen from target_bytes like a real model
  DType dtype = DType::BF16;                    // of the weight matrices; norms stay F32
  Compression compression = Compression::none;  // APR only
  std::uint64_t seed = 0;
  // Called now and then with (bytes written, bytes to write).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct GenReport {
  std::uint64_t file_bytes = 0;
  std::uint64_t tensor_bytes = 0;
  std::uint32_t tensor_count = 0;
};

// The per-tensor key every byte of that tensor derives from.
[[nodiscard]] std::uint64_t tensor_key(std::uint64_t seed, std::string_view name) noexcept;

// Bytes [position, position + out.size()) of the tensor with `key`. Byte p is byte (p % 8) of
// splitmix64(key + p / 8), so any window can be produced without the bytes before it.
void fill_tensor_bytes(std::uint64_t key, std::uint64_t position, std::span<std::byte> out) noexcept;

// A realistic mix for the options: per layer attention and MLP matrices plus F32 norms, and the
// token embedding and output head — a few large tensors and many small ones. Deterministic.
[[nodiscard]] Result<std::vector<TensorSpec>> plan_tensors(const GenOptions& options);

// Which dtypes `gen` can write for a format (APR: 0,1,30,3–7,128,129,12,14 codes).
[[nodiscard]] bool format_supports_dtype(Format format, DType dtype) noexcept;

// Writes `tensors` to `out` through a temporary file renamed into place at the end (a reader
// never sees a half-written file; a mapped old file is never truncated under its reader).
// Streams: memory stays O(buffer) except for LZ4 (block format: the whole payload, < 2 GiB).
[[nodiscard]] Result<GenReport> write_model(
    const std::filesystem::path& out, const GenOptions& options, std::span<const TensorSpec> tensors,
    const nlohmann::ordered_json& metadata = nlohmann::ordered_json::object());

// plan_tensors + write_model with metadata describing the generator.
[[nodiscard]] Result<GenReport> generate(const std::filesystem::path& out, const GenOptions& options);

}  // namespace ringload::gen
