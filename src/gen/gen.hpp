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
  // 0: one file at the output path. N >= 1: the output path is a directory holding a checkpoint
  // of N shards (see write_checkpoint); safetensors and GGUF only.
  std::uint32_t shards = 0;
  // Called now and then with (bytes written, bytes to write).
  std::function<void(std::uint64_t, std::uint64_t)> progress;
};

struct GenReport {
  std::uint64_t file_bytes = 0;  // of every file written
  std::uint64_t tensor_bytes = 0;
  std::uint32_t tensor_count = 0;
  Arch arch = Arch::none;                    // what was written (never automatic)
  std::vector<std::filesystem::path> files;  // written, in checkpoint order (an index last)
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

// The most shards a checkpoint may have: split.count is a u16 in GGUF.
inline constexpr std::uint32_t kMaxShards = 65535;
// The index of an HF sharded safetensors checkpoint, beside its shards.
inline constexpr std::string_view kIndexFileName = "model.safetensors.index.json";

// Shard `number` (1-based) of `count`: model-0000k-of-0000N.safetensors or .gguf, the names
// Hugging Face and llama.cpp's gguf-split give them.
[[nodiscard]] std::string shard_file_name(Format format, std::uint32_t number, std::uint32_t count);

// How a checkpoint's tensors spread over `shards` files: contiguous runs of `tensors` (a layer's
// tensors stay together and load in plan order, as in real checkpoints), each run's bytes as close
// as whole tensors allow to an equal share of what is left, at least one tensor per shard.
// Returns each shard's first tensor index (shards entries, the first 0); invalid_argument when
// there are fewer tensors than shards.
[[nodiscard]] Result<std::vector<std::size_t>> shard_starts(std::span<const TensorSpec> tensors,
                                                            std::uint32_t shards);

// Writes `tensors` as a checkpoint of options.shards files into directory `dir` (created if
// missing): safetensors shards plus model.safetensors.index.json (metadata.total_size, weight_map
// sorted by name), or a llama.cpp GGUF split set (split.no u16 0-based, split.count u16,
// split.tensors.count i32 in every split; `metadata` in the first split only). Each tensor's bytes
// are the ones a single-file write gives it (they depend on seed, name and position in the tensor
// only). Each file goes through a temporary name; the index is written last. invalid_argument
// when `dir` holds model files of another set (they would make the directory ambiguous).
[[nodiscard]] Result<GenReport> write_checkpoint(
    const std::filesystem::path& dir, const GenOptions& options, std::span<const TensorSpec> tensors,
    const nlohmann::ordered_json& metadata = nlohmann::ordered_json::object());

// plan_tensors + write_model (or write_checkpoint, with options.shards) with metadata describing
// the generator.
[[nodiscard]] Result<GenReport> generate(const std::filesystem::path& out, const GenOptions& options);

}  // namespace ringload::gen
