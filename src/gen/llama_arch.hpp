// What makes a generated GGUF a model llama.cpp loads: the llama architecture's hyperparameter
// keys, general.file_type, and a SentencePiece ("llama") vocabulary of our own making.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ringload/dtype.hpp"

namespace ringload::gen {

// The shape the tensor plan settled on; the keys below must agree with it (llama.cpp checks
// every tensor's shape against them).
struct LlamaShape {
  std::uint64_t hidden = 0;  // llama.embedding_length
  std::uint64_t ffn = 0;     // llama.feed_forward_length
  std::uint64_t vocab = 0;   // rows of token_embd.weight and output.weight = tokens in the vocabulary
  std::uint32_t layers = 0;  // llama.block_count
  DType dtype = DType::F16;  // of the matrices
};

// 128, as in every llama release: heads = hidden / 128 (hidden is a multiple of 256).
inline constexpr std::uint64_t kLlamaHeadDim = 128;
// <unk>, <s>, </s>, then one byte-fallback token per byte value.
inline constexpr std::uint64_t kLlamaFixedTokens = 3 + 256;
// The smallest vocabulary gen writes: the fixed tokens, "▁", and every printable ASCII character
// with and without "▁", so any text round-trips through llama.cpp's tokenizer (a lone "▁" that
// only byte fallback could spell would come back as its three bytes, not as a space).
inline constexpr std::uint64_t kLlamaMinVocab = kLlamaFixedTokens + 1 + 2 * 94;

// llama.cpp's LLAMA_FTYPE for a model whose matrices are `dtype` (its llama.h enum); nullopt for
// types llama.cpp has no file type for (I8..I64, F64, Q8_1, Q8_K, MXFP4 outside MoE).
[[nodiscard]] std::optional<std::uint32_t> llama_file_type(DType dtype) noexcept;

// A byte-fallback SentencePiece vocabulary of `size` >= kLlamaFixedTokens tokens: <unk> (0), <s>
// (1), </s> (2), <0x00>..<0xFF>, then generated pieces ("▁", printable ASCII characters with and
// without "▁", then "aa", "▁aa", "ab", ...), all distinct (llama.cpp aborts on a duplicate),
// with descending scores.
struct Vocabulary {
  std::vector<std::string> tokens;
  std::vector<float> scores;
  std::vector<std::int32_t>
      token_types;  // llama.cpp's LLAMA_TOKEN_TYPE_*: 1 normal, 2 unknown, 3 control, 6 byte
};
[[nodiscard]] Vocabulary make_vocabulary(std::uint64_t size);

// Adds general.architecture, general.file_type, the llama.* hyperparameters and the tokenizer.*
// keys to `meta`, typed as llama.cpp reads them (u32 counts and ids, f32 epsilon, i32 token types).
void add_llama_metadata(nlohmann::ordered_json& meta, const LlamaShape& shape);

}  // namespace ringload::gen
