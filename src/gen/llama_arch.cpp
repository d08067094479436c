// The llama architecture's metadata for generated GGUF files (see llama_arch.hpp).
#include "gen/llama_arch.hpp"

#include <fmt/format.h>

namespace ringload::gen {
namespace {

// llama.cpp's LLAMA_TOKEN_TYPE_* values (llama.h).
constexpr std::int32_t kTokenNormal = 1;
constexpr std::int32_t kTokenUnknown = 2;
constexpr std::int32_t kTokenControl = 3;
constexpr std::int32_t kTokenByte = 6;

constexpr std::uint64_t kContextLength = 4096;
constexpr double kRmsEpsilon = 1e-5;
constexpr double kRopeFreqBase = 10000.0;

// SentencePiece's word-start marker, U+2581 LOWER ONE EIGHTH BLOCK.
constexpr std::string_view kWordStart = "\xE2\x96\x81";

// The n-th word in bijective base 26: a..z, aa..az, ba.. — distinct for distinct n.
std::string letters(std::uint64_t n) {
  std::string reversed;
  for (std::uint64_t left = n + 1; left > 0; left = (left - 1) / 26) {
    reversed.push_back(static_cast<char>('a' + (left - 1) % 26));
  }
  return {reversed.rbegin(), reversed.rend()};
}

}  // namespace

std::optional<std::uint32_t> llama_file_type(DType dtype) noexcept {
  switch (dtype) {
    case DType::F32: return 0;    // ALL_F32
    case DType::F16: return 1;    // MOSTLY_F16
    case DType::Q4_0: return 2;   // MOSTLY_Q4_0
    case DType::Q4_1: return 3;   // MOSTLY_Q4_1
    case DType::Q8_0: return 7;   // MOSTLY_Q8_0
    case DType::Q5_0: return 8;   // MOSTLY_Q5_0
    case DType::Q5_1: return 9;   // MOSTLY_Q5_1
    case DType::Q2_K: return 10;  // MOSTLY_Q2_K
    case DType::Q3_K: return 11;  // MOSTLY_Q3_K_S: every matrix Q3_K
    case DType::Q4_K: return 14;  // MOSTLY_Q4_K_S
    case DType::Q5_K: return 16;  // MOSTLY_Q5_K_S
    case DType::Q6_K: return 18;  // MOSTLY_Q6_K
    case DType::IQ2_XXS: return 19;
    case DType::IQ2_XS: return 20;
    case DType::IQ3_XXS: return 23;
    case DType::IQ1_S: return 24;
    case DType::IQ4_NL: return 25;
    case DType::IQ3_S: return 26;
    case DType::IQ2_S: return 28;
    case DType::IQ4_XS: return 30;
    case DType::IQ1_M: return 31;
    case DType::BF16: return 32;  // MOSTLY_BF16
    case DType::TQ1_0: return 36;
    case DType::TQ2_0: return 37;
    case DType::NVFP4: return 39;
    case DType::Q1_0: return 40;
    case DType::Q2_0: return 41;
    default: return std::nullopt;
  }
}

bool llama_dtype(DType dtype) noexcept { return llama_file_type(dtype).has_value(); }

Vocabulary make_vocabulary(std::uint64_t size) {
  Vocabulary v;
  v.tokens.reserve(size);
  v.scores.reserve(size);
  v.token_types.reserve(size);
  const auto add = [&v](std::string token, float score, std::int32_t type) {
    v.tokens.push_back(std::move(token));
    v.scores.push_back(score);
    v.token_types.push_back(type);
  };
  add("<unk>", 0.0F, kTokenUnknown);
  add("<s>", 0.0F, kTokenControl);
  add("</s>", 0.0F, kTokenControl);
  // Byte fallback: any text tokenizes, and llama.cpp finds its newline token (<0x0A>).
  for (unsigned byte = 0; byte < 256; ++byte) add(fmt::format("<0x{:02X}>", byte), 0.0F, kTokenByte);
  // Then pieces, likeliest first: the word-start marker alone, each printable ASCII character
  // alone and after the marker (so any ASCII text tokenizes without byte fallback), then
  // two-letter and longer words ("aa", "▁aa", "ab", ...). SentencePiece scores are
  // log-probabilities: descending.
  std::vector<std::string> pieces{std::string(kWordStart)};
  for (const std::string_view prefix : {std::string_view(), kWordStart}) {
    for (char c = '!'; c <= '~'; ++c) pieces.push_back(std::string(prefix) + c);
  }
  float score = 0.0F;
  for (std::string& piece : pieces) {
    if (v.tokens.size() == size) break;
    add(std::move(piece), score -= 1.0F, kTokenNormal);
  }
  for (std::uint64_t k = 0; v.tokens.size() < size; ++k) {
    // letters(26 + n) has two letters or more: never one of the single characters above.
    std::string word = letters(26 + k / 2);
    add(k % 2 == 1 ? std::string(kWordStart) + word : std::move(word), score -= 1.0F, kTokenNormal);
  }
  return v;
}

void add_llama_metadata(nlohmann::ordered_json& meta, const LlamaShape& shape) {
  const std::uint64_t heads = shape.hidden / kLlamaHeadDim;
  meta["general.architecture"] = "llama";
  meta["general.name"] = "ringload-gen";
  if (const auto file_type = llama_file_type(shape.dtype)) meta["general.file_type"] = *file_type;
  meta["llama.context_length"] = kContextLength;
  meta["llama.embedding_length"] = shape.hidden;
  meta["llama.block_count"] = shape.layers;
  meta["llama.feed_forward_length"] = shape.ffn;
  meta["llama.attention.head_count"] = heads;
  meta["llama.attention.head_count_kv"] = heads;
  meta["llama.rope.dimension_count"] = kLlamaHeadDim;
  meta["llama.rope.freq_base"] = kRopeFreqBase;
  meta["llama.attention.layer_norm_rms_epsilon"] = kRmsEpsilon;
  meta["llama.vocab_size"] = shape.vocab;

  Vocabulary vocab = make_vocabulary(shape.vocab);
  meta["tokenizer.ggml.model"] = "llama";
  meta["tokenizer.ggml.tokens"] = std::move(vocab.tokens);
  meta["tokenizer.ggml.scores"] = std::move(vocab.scores);
  meta["tokenizer.ggml.token_type"] = std::move(vocab.token_types);
  meta["tokenizer.ggml.unknown_token_id"] = 0U;
  meta["tokenizer.ggml.bos_token_id"] = 1U;
  meta["tokenizer.ggml.eos_token_id"] = 2U;
  meta["tokenizer.ggml.add_bos_token"] = true;
  meta["tokenizer.ggml.add_eos_token"] = false;
}

}  // namespace ringload::gen
