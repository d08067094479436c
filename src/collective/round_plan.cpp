#include "collective/round_plan.hpp"

#include <algorithm>

namespace ringload {

std::vector<std::uint32_t> RoundPlan::reads(std::uint32_t rank, std::uint32_t r) const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < owner.size(); ++i) {
    if (round[i] == r && (owner[i] == rank || owner[i] == kEveryRank)) out.push_back(i);
  }
  return out;
}

std::vector<std::uint32_t> RoundPlan::broadcasts(std::uint32_t r) const {
  std::vector<std::uint32_t> out;
  for (std::uint32_t i = 0; i < owner.size(); ++i) {
    if (round[i] == r && owner[i] != kEveryRank) out.push_back(i);
  }
  return out;
}

RoundPlan plan_rounds(std::span<const SinkTensor> tensors, const std::vector<bool>& own_part,
                      std::uint32_t world, std::uint64_t round_bytes) {
  RoundPlan plan;
  plan.owner.assign(tensors.size(), kEveryRank);
  plan.round.assign(tensors.size(), 0);
  if (world <= 1) return plan;  // a group of one reads everything itself, in one round
  round_bytes = std::max<std::uint64_t>(round_bytes, 1);
  std::uint64_t shared = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    if (!own_part[i]) shared += tensors[i].size;
  }
  // A tensor goes to the rank whose 1/world of the shared bytes holds its middle byte: contiguous
  // runs, each within half a tensor of an equal share.
  std::vector<std::uint64_t> owned(world, 0);  // bytes each owner has so far
  std::uint64_t before = 0;
  for (std::size_t i = 0; i < tensors.size(); ++i) {
    const std::uint64_t size = tensors[i].size;
    if (own_part[i] || size == 0) continue;
    const auto middle = static_cast<unsigned __int128>(before) + size / 2;
    const auto rank = static_cast<std::uint32_t>(
        std::min<unsigned __int128>(world - 1, middle * world / static_cast<unsigned __int128>(shared)));
    plan.owner[i] = rank;
    plan.round[i] = static_cast<std::uint32_t>(owned[rank] / round_bytes);
    plan.rounds = std::max(plan.rounds, plan.round[i] + 1);
    owned[rank] += size;
    before += size;
  }
  return plan;
}

}  // namespace ringload
