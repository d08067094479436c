#include <array>

#include "ringload/pipeline.hpp"

namespace ringload {
namespace {
constexpr std::array kStrategies = {Strategy::read,     Strategy::mmap,         Strategy::mmap_pipelined,
                                    Strategy::uring,    Strategy::uring_direct, Strategy::uring_dontcache,
                                    Strategy::automatic};
}

std::string_view to_string(Strategy strategy) noexcept {
  switch (strategy) {
    case Strategy::read: return "read";
    case Strategy::mmap: return "mmap";
    case Strategy::mmap_pipelined: return "mmap-pipelined";
    case Strategy::uring: return "uring";
    case Strategy::uring_direct: return "uring-direct";
    case Strategy::uring_dontcache: return "uring-dontcache";
    case Strategy::automatic: return "auto";
  }
  return "unknown";
}

std::optional<Strategy> strategy_from_name(std::string_view name) noexcept {
  for (Strategy s : kStrategies) {
    if (to_string(s) == name) return s;
  }
  return std::nullopt;
}

std::span<const Strategy> all_strategies() noexcept { return kStrategies; }

}  // namespace ringload
