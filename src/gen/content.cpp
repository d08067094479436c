// Tensor contents of generated models: a counter-based generator, so any byte range of any
// tensor can be produced (or re-derived by a verifier) without the bytes before it.
#include "gen/gen.hpp"

#include <algorithm>
#include <bit>
#include <cstring>

namespace ringload::gen {
namespace {

// splitmix64's output function applied to a counter (Steele, Lea, Flood 2014): a bijection on
// u64 whose outputs for consecutive inputs pass BigCrush — random-looking bytes, so a
// misplaced 8-byte word never equals the word that belongs there.
constexpr std::uint64_t splitmix64(std::uint64_t x) noexcept {
  std::uint64_t z = x + 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// The word's bytes in little-endian order, whatever the host.
inline void store_le64(std::byte* out, std::uint64_t word) noexcept {
  if constexpr (std::endian::native == std::endian::big) word = __builtin_bswap64(word);
  std::memcpy(out, &word, sizeof word);
}

constexpr std::uint64_t kFnvOffset = 0xCBF29CE484222325ULL;
constexpr std::uint64_t kFnvPrime = 0x100000001B3ULL;

}  // namespace

std::uint64_t tensor_key(std::uint64_t seed, std::string_view name) noexcept {
  std::uint64_t h = kFnvOffset;
  for (char c : name) {
    h ^= static_cast<unsigned char>(c);
    h *= kFnvPrime;
  }
  // Mixing the seed through splitmix64 first makes keys of one name under nearby seeds unrelated.
  return splitmix64(h ^ splitmix64(seed));
}

void fill_tensor_bytes(std::uint64_t key, std::uint64_t position, std::span<std::byte> out) noexcept {
  std::byte* p = out.data();
  std::size_t left = out.size();
  std::uint64_t word_index = position / 8;

  // A window starting mid-word takes that word's tail.
  if (const auto skip = static_cast<std::size_t>(position % 8); skip != 0 && left > 0) {
    std::byte word[8];
    store_le64(word, splitmix64(key + word_index++));
    const std::size_t take = std::min(left, 8 - skip);
    std::memcpy(p, word + skip, take);
    p += take;
    left -= take;
  }
  // Whole words: one generator call per 8 bytes (the loop the throughput depends on).
  for (; left >= 8; left -= 8, p += 8) store_le64(p, splitmix64(key + word_index++));
  // And a window ending mid-word takes that word's head.
  if (left > 0) {
    std::byte word[8];
    store_le64(word, splitmix64(key + word_index));
    std::memcpy(p, word, left);
  }
}

}  // namespace ringload::gen
