// Overflow-checked arithmetic for offsets that come from untrusted headers.
#pragma once

#include <cstdint>
#include <optional>

namespace ringload {

[[nodiscard]] inline std::optional<std::uint64_t> checked_add(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t sum = 0;
  if (__builtin_add_overflow(a, b, &sum)) return std::nullopt;
  return sum;
}

[[nodiscard]] inline std::optional<std::uint64_t> checked_mul(std::uint64_t a, std::uint64_t b) noexcept {
  std::uint64_t product = 0;
  if (__builtin_mul_overflow(a, b, &product)) return std::nullopt;
  return product;
}

// Rounds up to a multiple of `alignment` (a power of two); nullopt on overflow.
[[nodiscard]] inline std::optional<std::uint64_t> align_up(std::uint64_t x,
                                                           std::uint64_t alignment) noexcept {
  auto bumped = checked_add(x, alignment - 1);
  if (!bumped) return std::nullopt;
  return *bumped & ~(alignment - 1);
}

[[nodiscard]] constexpr std::uint64_t align_down(std::uint64_t x, std::uint64_t alignment) noexcept {
  return x & ~(alignment - 1);
}

[[nodiscard]] constexpr bool is_power_of_two(std::uint64_t x) noexcept {
  return x != 0 && (x & (x - 1)) == 0;
}

}  // namespace ringload
