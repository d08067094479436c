#include "soak/load_plan.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>

#include <fmt/format.h>

#include "support/pipeline.hpp"

namespace ringload::test {

LoadPlanner::LoadPlanner(const std::vector<SoakModel>& models, std::uint64_t seed)
    : models_(models), random_(seed) {}

LoadPlan LoadPlanner::next(std::uint64_t index) {
  const auto strategies = all_strategies();
  LoadPlan plan;
  auto pick = [&](std::uint64_t n) {
    return std::uniform_int_distribution<std::uint64_t>(0, n - 1)(random_);
  };
  plan.model = &models_[pick(models_.size())];
  if (index < strategies.size()) {
    plan.strategy = strategies[index];
    return plan;
  }
  plan.strategy = strategies[pick(strategies.size())];
  plan.one_shot = pick(2) == 0;
  plan.cancel = pick(10) == 0;
  if (plan.cancel) {
    const auto tensors = plan.model->tensor_crcs.size();
    plan.cancel_after_tensors = static_cast<std::uint32_t>(pick(tensors));  // before the last one
    plan.cancel_after = std::chrono::microseconds(pick(3000));
  }
  return plan;
}

std::uint64_t soak_seed() {
  const char* env = std::getenv("RINGLOAD_SOAK_SEED");
  return env != nullptr && *env != '\0' ? std::strtoull(env, nullptr, 10) : 14;
}

void Tally::add(const LoadPlan& plan, const Error* error, const LoadReport* report, HostSink& sink) {
  const auto what = [&] { return fmt::format("{} with {}", plan.model->name, to_string(plan.strategy)); };
  if (error != nullptr) {
    if (plan.cancel && error->kind == ErrorKind::cancelled) {
      ++cancelled;
      EXPECT_EQ(sink.allocated_bytes(), 0U) << what() << ": a cancelled load keeps no destinations";
      if (check_cancelled_cache && !plan.model->decoded_at_open) {
        if (const auto left = cached_pages(*plan.model); left > 0) {
          auto& [times, most] = cancelled_left_cached[plan.strategy];
          ++times;
          most = std::max(most, left);
        }
      }
    } else if (environment_refuses(plan.strategy, *error)) {
      ++refused;
      EXPECT_EQ(sink.allocated_bytes(), 0U) << what() << ": a refused load keeps no destinations";
    } else {
      ++failed;
      ADD_FAILURE() << what() << " failed: " << error->to_string();
    }
  } else {
    ++(plan.cancel ? cancel_too_late : loaded);
    bytes += report->bytes;
    EXPECT_EQ(report->bytes, plan.model->tensor_bytes) << what();
    EXPECT_TRUE(holds_soak_model(sink, *plan.model)) << what();
  }
  sink.discard();
}

std::string Tally::summary() const {
  std::string left;
  for (const auto& [strategy, seen] : cancelled_left_cached) {
    left += fmt::format("{}{} {}x (at most {} pages)", left.empty() ? "" : ", ", to_string(strategy),
                        seen.first, seen.second);
  }
  return fmt::format(
      "{} loaded byte-exact ({:.1f} MiB), {} cancelled, {} finished before their cancel, "
      "{} refused by this kernel, {} failed{}",
      loaded + cancel_too_late, static_cast<double>(bytes) / (1 << 20), cancelled, cancel_too_late, refused,
      failed, left.empty() ? "" : "; cancelled loads that left pages cached: " + left);
}

}  // namespace ringload::test
