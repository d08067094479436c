// How far a GGUF header reaches, learnt from the bytes read so far, so that a reader can ask for
// the header in a few large requests instead of faulting it in page by page, and never ask for a
// byte past it (shared/formats/GGUF.md §2-4). No I/O: the caller hands in what it has read.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>

#include "format/gguf_types.hpp"

namespace ringload {

// Owner: one reader. Resumable: each advance() walks on from where the last one stopped.
class GgufHeaderWalk {
 public:
  // `prefix` is the file's first bytes, at least as many as the last call's. Returns how many
  // bytes from the start of the file the header surely spans: the exact end of its tensor infos
  // once done(), otherwise a lower bound past the prefix (each field still to come counted at its
  // smallest size, so a valid header never ends before it). On a malformed header (an unknown
  // value type, an array of arrays, a size that overflows) the walk stops where it is and the
  // bound stops growing: the parser reports the fault.
  std::uint64_t advance(std::span<const std::byte> prefix);
  [[nodiscard]] bool done() const noexcept { return phase_ == Phase::finished; }

 private:
  enum class Phase : std::uint8_t { preamble, key_value, array_elements, tensor_info, finished, stopped };

  [[nodiscard]] std::uint64_t length_bytes() const noexcept { return v1_ ? 4 : 8; }
  // Smallest encodings of what follows the item being walked.
  [[nodiscard]] std::uint64_t rest_at_least() const noexcept;
  std::uint64_t bound(std::uint64_t item_end_at_least) noexcept;
  void finish_key_value() noexcept;
  // One item each: nullopt when walked past it (or stopped on a malformed one), else the bound to
  // return because the prefix ends inside it.
  std::optional<std::uint64_t> walk_preamble(std::span<const std::byte> prefix);
  std::optional<std::uint64_t> walk_key_value(std::span<const std::byte> prefix);
  std::optional<std::uint64_t> walk_array_elements(std::span<const std::byte> prefix);
  std::optional<std::uint64_t> walk_tensor_info(std::span<const std::byte> prefix);

  Phase phase_ = Phase::preamble;
  bool v1_ = false;
  std::uint64_t pos_ = 0;  // start of the next item
  std::uint64_t keys_left_ = 0;
  std::uint64_t tensors_left_ = 0;
  std::uint64_t elements_left_ = 0;  // of the array being walked
  gguf::ValueType element_type_ = gguf::ValueType::u8;
  std::uint64_t last_bound_ = 0;
};

}  // namespace ringload
