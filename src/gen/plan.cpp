// What `ringload gen` writes: a transformer-shaped tensor list sized to a byte target, and the
// entry points that hand it to the per-format writers.
#include <algorithm>
#include <cmath>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "gen/gen.hpp"
#include "gen/llama_arch.hpp"
#include "gen/output_file.hpp"

namespace ringload::gen {

bool format_supports_dtype(Format format, DType dtype) noexcept {
  switch (format) {
    case Format::apr:
      switch (dtype) {
        case DType::F32:
        case DType::F16:
        case DType::BF16:
        case DType::F64:
        case DType::I32:
        case DType::I64:
        case DType::I8:
        case DType::U8:
        case DType::APR_Q4:
        case DType::APR_Q8:
        case DType::Q4_K:
        case DType::Q6_K: return true;
        default: return false;
      }
    case Format::safetensors:
      // The element types come first in DType, up to F4; everything after is a block type.
      return static_cast<int>(dtype) <= static_cast<int>(DType::F4);
    case Format::gguf:
      switch (dtype) {
        case DType::F32:
        case DType::F16:
        case DType::BF16:
        case DType::F64:
        case DType::I8:
        case DType::I16:
        case DType::I32:
        case DType::I64: return true;
        default:
          return static_cast<int>(dtype) >= static_cast<int>(DType::Q4_0) &&
                 static_cast<int>(dtype) <= static_cast<int>(DType::Q2_0);
      }
  }
  return false;
}

namespace {

// Hidden and FFN sizes step by 256 so every row is whole K-quant super-blocks (and whole blocks
// of every other type: all block lengths divide 256).
constexpr std::uint64_t kDimStep = 256;
constexpr std::uint64_t kMaxHidden = 65536;
constexpr std::uint64_t kMaxTargetBytes = std::uint64_t{1} << 40;
constexpr std::uint32_t kMaxTensorCount = 1'000'000;
constexpr std::uint32_t kMaxLayers = 128;
constexpr std::uint64_t kLlamaMaxLayers = 512;
constexpr std::uint64_t kLayerStepBytes = std::uint64_t{64} << 20;  // one layer up to this size
constexpr std::uint64_t kExtraBiasElems = 32;
constexpr std::uint64_t kMinVocabPerHidden = 4;  // the embedding keeps at least 4·d rows
constexpr std::uint64_t kHeadDim = 128;

// Per-layer bias kinds, in the order they are added (q/k/v first, as Qwen-style models have).
enum class Bias : std::uint8_t { q, k, v, o, gate, up, down };
constexpr std::uint32_t kBiasKinds = 7;

// Which tensors exist; sizes come from Dims.
struct Structure {
  std::uint32_t layers = 0;
  bool has_output = true;          // the LM head
  bool has_output_norm = true;     // the final norm
  std::uint64_t layer_biases = 0;  // spread kind-major: every layer's q bias, then k, ...
  std::uint64_t extra_biases = 0;  // small F32 tensors beyond the 7 per layer
};

struct Dims {
  std::uint64_t hidden = kDimStep;
  std::uint64_t ffn = 3 * kDimStep;
  std::uint64_t vocab = 1;
};

struct Plan {
  Arch arch = Arch::none;
  Structure structure;
  Dims dims;
  std::vector<TensorSpec> tensors;
};

// Sizes of the tensors of one dtype/format pair. Products stay far below 2^64: the target is
// capped at 1 TiB, dims at 65536 and layers at 128.
class Sizer {
 public:
  Sizer(Format format, DType dtype) : dtype_(dtype), rounding_(block_rounding(format)) {}

  [[nodiscard]] std::uint64_t matrix(std::uint64_t rows, std::uint64_t cols) const {
    return dtype_byte_size(dtype_, rows * cols, rounding_).value_or(0);
  }
  [[nodiscard]] static std::uint64_t f32(std::uint64_t elements) { return 4 * elements; }

 private:
  DType dtype_;
  BlockRounding rounding_;
};

std::uint64_t ffn_for(std::uint64_t hidden) {
  // 2.75·d (llama's 8/3·d rounded up), to the nearest multiple of 256.
  const std::uint64_t quarter_steps = (hidden * 11 / 4 + kDimStep / 2) / kDimStep;
  return std::max<std::uint64_t>(1, quarter_steps) * kDimStep;
}

std::uint64_t bias_elems(Bias kind, const Dims& dims) {
  return (kind == Bias::gate || kind == Bias::up) ? dims.ffn : dims.hidden;
}

// How many layers carry a bias of `kind` when `count` biases are spread kind-major.
std::uint64_t biases_of_kind(std::uint64_t count, std::uint32_t layers, std::uint32_t kind) {
  const std::uint64_t before = std::uint64_t{kind} * layers;
  return count <= before ? 0 : std::min<std::uint64_t>(count - before, layers);
}

bool has_bias(const Structure& s, std::uint32_t layer, Bias kind) {
  return std::uint64_t{static_cast<std::uint32_t>(kind)} * s.layers + layer < s.layer_biases;
}

// Bytes of everything except the embedding and LM head (whose row count absorbs the rest).
std::uint64_t fixed_bytes(const Structure& s, const Dims& dims, const Sizer& size) {
  const std::uint64_t d = dims.hidden;
  const std::uint64_t ff = dims.ffn;
  const std::uint64_t per_layer =
      4 * size.matrix(d, d) + 2 * size.matrix(ff, d) + size.matrix(d, ff) + 2 * Sizer::f32(d);
  std::uint64_t total = s.layers * per_layer + (s.has_output_norm ? Sizer::f32(d) : 0);
  for (std::uint32_t k = 0; k < kBiasKinds; ++k) {
    total += biases_of_kind(s.layer_biases, s.layers, k) * Sizer::f32(bias_elems(static_cast<Bias>(k), dims));
  }
  return total + s.extra_biases * Sizer::f32(kExtraBiasElems);
}

std::uint64_t embedding_copies(const Structure& s) { return s.has_output ? 2 : 1; }

// Real models deepen as they grow: 1 layer up to 64 MiB, ~32 at 14 GiB (llama-7B in BF16).
std::uint32_t default_layers(std::uint64_t target_bytes) {
  if (target_bytes <= kLayerStepBytes) return 1;
  const double ratio = static_cast<double>(target_bytes) / static_cast<double>(kLayerStepBytes);
  const auto layers = static_cast<std::uint32_t>(std::lround(std::pow(ratio, 0.64)));
  return std::clamp<std::uint32_t>(layers, 1, kMaxLayers);
}

Structure structure_for(std::uint32_t tensor_count, std::uint32_t layers) {
  Structure s;
  if (tensor_count == 0) {
    s.layers = layers;
    return s;
  }
  if (tensor_count <= 2) {
    s.layers = 0;
    s.has_output_norm = false;
    s.has_output = tensor_count == 2;
    return s;
  }
  s.layers = std::min<std::uint32_t>(layers, (tensor_count - 3) / 9);
  const std::uint64_t rest = tensor_count - 3 - 9 * std::uint64_t{s.layers};
  s.layer_biases = std::min<std::uint64_t>(rest, std::uint64_t{kBiasKinds} * s.layers);
  s.extra_biases = rest - s.layer_biases;
  return s;
}

// The fewest and most layers a llama model of `tensor_count` tensors can have: 3 + 9 per layer,
// plus up to 7 optional biases per layer (llama.cpp's llama loader knows no other tensor).
std::pair<std::uint64_t, std::uint64_t> llama_layer_range(std::uint32_t tensor_count) {
  if (tensor_count < 3 + 9) return {1, 0};
  const std::uint64_t body = tensor_count - 3;
  return {(body + 9 + kBiasKinds - 1) / (9 + kBiasKinds), body / 9};
}

Result<Structure> llama_structure_for(std::uint32_t tensor_count, std::uint32_t layers) {
  if (tensor_count == 0) return structure_for(0, std::max<std::uint32_t>(layers, 1));
  const auto [fewest, most] = llama_layer_range(tensor_count);
  if (fewest > kLlamaMaxLayers) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("a llama model has at most {} layers (llama.cpp's LLAMA_MAX_LAYERS), so at "
                                  "most {} tensors, not {}; use --arch none",
                                  kLlamaMaxLayers, 3 + (9 + kBiasKinds) * kLlamaMaxLayers, tensor_count));
  }
  if (fewest > most) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("a llama model has 3 tensors plus 9 to 16 per layer, so not {}: ask for "
                                  "12-19 or 21 or more tensors, or --arch none",
                                  tensor_count));
  }
  const auto chosen = static_cast<std::uint32_t>(std::clamp<std::uint64_t>(layers, fewest, most));
  Structure s = structure_for(tensor_count, chosen);
  // structure_for capped the layers at most and spread the rest as biases: with chosen >= fewest
  // they all fit in the 7 kinds per layer.
  return s;
}

Dims dims_with_hidden(std::uint64_t hidden) {
  return Dims{.hidden = hidden, .ffn = ffn_for(hidden), .vocab = 1};
}

// The structure fits at `hidden` when its layers plus an embedding of 4·d rows stay in budget.
bool fits(const Structure& s, std::uint64_t hidden, std::uint64_t target_bytes, const Sizer& size) {
  const Dims dims = dims_with_hidden(hidden);
  const std::uint64_t embed = embedding_copies(s) * size.matrix(kMinVocabPerHidden * hidden, hidden);
  return fixed_bytes(s, dims, size) + embed <= target_bytes;
}

// Layers by size, the widest hidden size that fits them, then the vocabulary to land on target.
// A llama model keeps at least one layer (llama.cpp asserts block_count > 0) and a vocabulary
// that holds its fixed tokens, even past a tiny target.
Result<std::pair<Structure, Dims>> choose_shape(const GenOptions& options, Arch arch, const Sizer& size) {
  const bool llama = arch == Arch::llama;
  const auto structure = [&](std::uint32_t layers) -> Result<Structure> {
    if (llama) return llama_structure_for(options.tensor_count, layers);
    return structure_for(options.tensor_count, layers);
  };
  Structure s = RINGLOAD_TRY(structure(default_layers(options.target_bytes)));
  const std::uint64_t fewest_layers =
      !llama ? 0 : (options.tensor_count == 0 ? 1 : llama_layer_range(options.tensor_count).first);
  // A target too small for even one 256-wide layer gets fewer layers (0: embedding and head only).
  while (s.layers > fewest_layers && !fits(s, kDimStep, options.target_bytes, size)) {
    s = RINGLOAD_TRY(structure(s.layers - 1));
  }
  std::uint64_t hidden = kDimStep;
  while (hidden + kDimStep <= kMaxHidden && fits(s, hidden + kDimStep, options.target_bytes, size)) {
    hidden += kDimStep;
  }
  Dims dims = dims_with_hidden(hidden);
  const std::uint64_t fixed = fixed_bytes(s, dims, size);
  const std::uint64_t left = options.target_bytes > fixed ? options.target_bytes - fixed : 0;
  const std::uint64_t row_bytes = size.matrix(1, hidden);
  dims.vocab = std::max<std::uint64_t>(llama ? kLlamaMinVocab : 1, left / (embedding_copies(s) * row_bytes));
  return std::pair{s, dims};
}

// Tensor names in the format's own convention: llama.cpp's for GGUF, Hugging Face's otherwise.
struct Names {
  bool gguf;

  [[nodiscard]] std::string embedding() const {
    return gguf ? "token_embd.weight" : "model.embed_tokens.weight";
  }
  [[nodiscard]] std::string output_norm() const { return gguf ? "output_norm.weight" : "model.norm.weight"; }
  [[nodiscard]] std::string output() const { return gguf ? "output.weight" : "lm_head.weight"; }
  [[nodiscard]] std::string layer(std::uint32_t l, std::string_view gguf_part,
                                  std::string_view hf_part) const {
    return gguf ? fmt::format("blk.{}.{}", l, gguf_part) : fmt::format("model.layers.{}.{}", l, hf_part);
  }
  [[nodiscard]] static std::string extra_bias(std::uint64_t k) { return fmt::format("extra.{}.bias", k); }
};

struct LayerTensor {
  std::string_view gguf;  // without the ".weight"/".bias" suffix
  std::string_view hf;
  std::optional<Bias> bias;  // which bias kind this matrix can carry
};

class SpecBuilder {
 public:
  SpecBuilder(const GenOptions& options, const Dims& dims)
      : options_(options),
        dims_(dims),
        size_(options.format, options.dtype),
        names_{options.format == Format::gguf} {}

  // Row-major [rows, cols]; GGUF lists ne[0] (the row length) first.
  void matrix(std::string name, std::uint64_t rows, std::uint64_t cols) {
    std::vector<std::uint64_t> shape = names_.gguf ? std::vector{cols, rows} : std::vector{rows, cols};
    out_.push_back(TensorSpec{std::move(name), options_.dtype, std::move(shape), size_.matrix(rows, cols)});
  }
  void vector(std::string name, std::uint64_t elements) {
    out_.push_back(TensorSpec{std::move(name), DType::F32, {elements}, Sizer::f32(elements)});
  }

  void layer(const Structure& s, std::uint32_t l) {
    const std::uint64_t d = dims_.hidden;
    const std::uint64_t ff = dims_.ffn;
    vector(names_.layer(l, "attn_norm.weight", "input_layernorm.weight"), d);
    attention_or_mlp(s, l, {"attn_q", "self_attn.q_proj", Bias::q}, d, d);
    attention_or_mlp(s, l, {"attn_k", "self_attn.k_proj", Bias::k}, d, d);
    attention_or_mlp(s, l, {"attn_v", "self_attn.v_proj", Bias::v}, d, d);
    attention_or_mlp(s, l, {"attn_output", "self_attn.o_proj", Bias::o}, d, d);
    vector(names_.layer(l, "ffn_norm.weight", "post_attention_layernorm.weight"), d);
    attention_or_mlp(s, l, {"ffn_gate", "mlp.gate_proj", Bias::gate}, ff, d);
    attention_or_mlp(s, l, {"ffn_up", "mlp.up_proj", Bias::up}, ff, d);
    attention_or_mlp(s, l, {"ffn_down", "mlp.down_proj", Bias::down}, d, ff);
  }

  [[nodiscard]] const Names& names() const { return names_; }
  std::vector<TensorSpec> take() { return std::move(out_); }

 private:
  void attention_or_mlp(const Structure& s, std::uint32_t l, const LayerTensor& t, std::uint64_t rows,
                        std::uint64_t cols) {
    matrix(names_.layer(l, fmt::format("{}.weight", t.gguf), fmt::format("{}.weight", t.hf)), rows, cols);
    if (t.bias && has_bias(s, l, *t.bias)) {
      vector(names_.layer(l, fmt::format("{}.bias", t.gguf), fmt::format("{}.bias", t.hf)), rows);
    }
  }

  const GenOptions& options_;
  Dims dims_;
  Sizer size_;
  Names names_;
  std::vector<TensorSpec> out_;
};

Result<void> check_options(const GenOptions& options) {
  if (!format_supports_dtype(options.format, options.dtype)) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("dtype {} cannot be stored in {}; pick one the format defines",
                                  dtype_name(options.dtype), to_string(options.format)));
  }
  if (options.compression != Compression::none && options.format != Format::apr) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("compression is an APR feature; {} files are written uncompressed",
                                  to_string(options.format)));
  }
  if (options.target_bytes == 0 || options.target_bytes > kMaxTargetBytes) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("target size {} bytes is outside 1 byte .. 1 TiB", options.target_bytes));
  }
  if (options.tensor_count > kMaxTensorCount) {
    return make_error(ErrorKind::invalid_argument, fmt::format("tensor count {} is above the limit of {}",
                                                               options.tensor_count, kMaxTensorCount));
  }
  if (options.arch == Arch::llama && options.format != Format::gguf) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("--arch llama describes a GGUF model; {} files take --arch none",
                                  to_string(options.format)));
  }
  if (options.arch == Arch::llama && !llama_dtype(options.dtype)) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("llama.cpp takes no {} weights; pick F16, BF16, F32, Q8_0, Q4_K, ... or "
                                  "--arch none",
                                  dtype_name(options.dtype)));
  }
  return {};
}

Result<Plan> make_plan(const GenOptions& options) {
  RINGLOAD_TRY_VOID(check_options(options));
  const Sizer size(options.format, options.dtype);
  const Arch arch = resolve_arch(options);
  auto [structure, dims] = RINGLOAD_TRY(choose_shape(options, arch, size));

  SpecBuilder build(options, dims);
  build.matrix(build.names().embedding(), dims.vocab, dims.hidden);
  for (std::uint32_t l = 0; l < structure.layers; ++l) build.layer(structure, l);
  if (structure.has_output_norm) build.vector(build.names().output_norm(), dims.hidden);
  if (structure.has_output) build.matrix(build.names().output(), dims.vocab, dims.hidden);
  for (std::uint64_t k = 0; k < structure.extra_biases; ++k)
    build.vector(Names::extra_bias(k), kExtraBiasElems);
  return Plan{arch, structure, dims, build.take()};
}

// What the generator records about itself, in each format's metadata idiom: safetensors keeps
// strings only, GGUF gets typed llama.* keys, APR aprender's typed dimension keys.
nlohmann::ordered_json metadata_for(const GenOptions& options, const Plan& plan) {
  const Dims& dims = plan.dims;
  const std::uint64_t heads = std::max<std::uint64_t>(1, dims.hidden / kHeadDim);
  nlohmann::ordered_json meta = nlohmann::ordered_json::object();
  switch (options.format) {
    case Format::safetensors: meta["format"] = "pt"; break;
    case Format::gguf:
      if (plan.arch == Arch::llama) {
        add_llama_metadata(meta, LlamaShape{.hidden = dims.hidden,
                                            .ffn = dims.ffn,
                                            .vocab = dims.vocab,
                                            .layers = plan.structure.layers,
                                            .dtype = options.dtype});
        meta["general.tags"] = nlohmann::ordered_json::array({"synthetic", "ringload"});
        break;
      }
      meta["general.name"] = "ringload-gen";
      meta["llama.context_length"] = 4096U;
      meta["llama.embedding_length"] = dims.hidden;
      meta["llama.block_count"] = plan.structure.layers;
      meta["llama.feed_forward_length"] = dims.ffn;
      meta["llama.attention.head_count"] = heads;
      meta["llama.attention.layer_norm_rms_epsilon"] = 1e-5;
      meta["llama.vocab_size"] = dims.vocab;
      meta["general.tags"] = nlohmann::ordered_json::array({"synthetic", "ringload"});
      break;
    case Format::apr:
      meta["model_type"] = "llama";
      meta["name"] = "ringload-gen";
      meta["architecture"] = "llama";
      meta["hidden_size"] = dims.hidden;
      meta["num_layers"] = plan.structure.layers;
      meta["num_heads"] = heads;
      meta["vocab_size"] = dims.vocab;
      meta["intermediate_size"] = dims.ffn;
      meta["rms_norm_eps"] = 1e-5;
      break;
  }
  meta["generator"] = "ringload gen";
  meta["seed"] = std::to_string(options.seed);
  meta["dtype"] = std::string(dtype_name(options.dtype));
  meta["content"] =
      "splitmix64(tensor_key(seed, name) + byte / 8), the top exponent bit of every float cleared";
  return meta;
}

}  // namespace

Arch resolve_arch(const GenOptions& options) noexcept {
  if (options.arch != Arch::automatic) return options.arch;
  const bool llama =
      options.format == Format::gguf && options.tensor_count == 0 && llama_dtype(options.dtype);
  return llama ? Arch::llama : Arch::none;
}

Result<std::vector<TensorSpec>> plan_tensors(const GenOptions& options) {
  auto plan = RINGLOAD_TRY(make_plan(options));
  return std::move(plan.tensors);
}

Result<GenReport> write_model(const std::filesystem::path& out, const GenOptions& options,
                              std::span<const TensorSpec> tensors, const nlohmann::ordered_json& metadata) {
  if (options.compression != Compression::none && options.format != Format::apr) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("compression is an APR feature; {} files are written uncompressed",
                                  to_string(options.format)));
  }
  if (!metadata.is_object()) return make_error(ErrorKind::invalid_argument, "metadata must be a JSON object");
  RINGLOAD_TRY_VOID(check_tensor_specs(options.format, tensors));
  auto report = [&]() -> Result<GenReport> {
    switch (options.format) {
      case Format::safetensors: return write_safetensors(out, options, tensors, metadata);
      case Format::gguf: return write_gguf(out, options, tensors, metadata);
      case Format::apr: return write_apr(out, options, tensors, metadata);
    }
    return make_error(ErrorKind::invalid_argument, "unknown format");
  }();
  if (report) report->files = {out};
  return report;
}

Result<GenReport> generate(const std::filesystem::path& out, const GenOptions& options) {
  const Plan plan = RINGLOAD_TRY(make_plan(options));
  const nlohmann::ordered_json metadata = metadata_for(options, plan);
  auto written = options.shards == 0 ? write_model(out, options, plan.tensors, metadata)
                                     : write_checkpoint(out, options, plan.tensors, metadata);
  GenReport report = RINGLOAD_TRY(std::move(written));
  report.arch = plan.arch;
  return report;
}

}  // namespace ringload::gen
