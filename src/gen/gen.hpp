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

// Which model a GGUF file describes. `llama`: llama.cpp's llama architecture, loadable by
// llama.cpp itself (hyperparameters matching the shapes, a vocabulary of our own, only the
// tensors its loader knows). `none`: the plain transformer-shaped tensor mix (any exact tensor
// count, extra bias tensors) with metadata that describes it loosely. `automatic`: llama for GGUF
// without an exact tensor count when the dtype is one llama.cpp takes (llama_dtype), else none.
enum class Arch : std::uint8_t { automatic, none, llama };

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
  Arch arch = Arch::automatic;                  // GGUF only (llama is refused elsewhere)
  std::uint64_t seed = 0;
  // Called now and then with (bytes written, bytes to write).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct GenReport {
  std::uint64_t file_bytes = 0;
  std::uint64_t tensor_bytes = 0;
  std::uint32_t tensor_count = 0;
  Arch arch = Arch::none;  // what was written (never automatic)
};

// The per-tensor key every byte of that tensor derives from.
[[nodiscard]] std::uint64_t tensor_key(std::uint64_t seed, std::string_view name) noexcept;

// Bytes [position, position + out.size()) of the tensor with `key`. Byte p is byte (p % 8) of
// splitmix64(key + p / 8), so any window can be produced without the bytes before it.
void fill_tensor_bytes(std::uint64_t key, std::uint64_t position, std::span<std::byte> out) noexcept;

// The bytes `gen` writes at [position, position + out.size()) of a tensor of `dtype`:
// fill_tensor_bytes with one bit cleared in every float field (elements, and the scales of
// quantized blocks), so every value decodes finite (|x| < 2; no Inf/NaN) and a loader that checks
// its tensors accepts them. Any window is still computable on its own.
void fill_tensor_values(std::uint64_t key, DType dtype, std::uint64_t position,
                        std::span<std::byte> out) noexcept;

// The masking step of fill_tensor_values on bytes that sit at `position` of a `dtype` tensor.
void keep_values_finite(DType dtype, std::uint64_t position, std::span<std::byte> out) noexcept;

// Whether llama.cpp takes `dtype` as the weight type of a llama model (it has a general.file_type).
[[nodiscard]] bool llama_dtype(DType dtype) noexcept;

// The architecture `options` resolve to (automatic made concrete; see Arch).
[[nodiscard]] Arch resolve_arch(const GenOptions& options) noexcept;

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
