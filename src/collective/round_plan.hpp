// Who reads what, and when, in a collective load (collective.hpp): each tensor that travels has
// one owner, the rank that reads it; owners take contiguous runs of the load order, balanced by
// bytes, so every rank's reads stay large and sequential. An owner's tensor goes to round
// floor(bytes that owner has before it / round_bytes): a round holds less than round_bytes of a
// rank's tensors plus the one that crosses the line. Tensors every rank reads for itself (a slice
// rule's parts, empty tensors; every tensor in a group of one) are in round 0 and travel nowhere.
// Every rank computes the same plan from the same inputs: the collective calls follow it in lock
// step.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "ringload/sink.hpp"

namespace ringload {

inline constexpr std::uint32_t kEveryRank = 0xFFFFFFFFU;

struct RoundPlan {
  std::vector<std::uint32_t> owner;  // per tensor: the rank that reads it, or kEveryRank
  std::vector<std::uint32_t> round;  // per tensor
  std::uint32_t rounds = 1;

  // The tensors `rank` reads in round `r` (load order): its own and the every-rank ones.
  [[nodiscard]] std::vector<std::uint32_t> reads(std::uint32_t rank, std::uint32_t r) const;
  // The tensors broadcast in round `r` (load order): every owned one.
  [[nodiscard]] std::vector<std::uint32_t> broadcasts(std::uint32_t r) const;
};

// `own_part[i]`: tensor i is read by every rank for itself (a slice). `tensors` in load order.
[[nodiscard]] RoundPlan plan_rounds(std::span<const SinkTensor> tensors, const std::vector<bool>& own_part,
                                    std::uint32_t world, std::uint64_t round_bytes);

}  // namespace ringload
