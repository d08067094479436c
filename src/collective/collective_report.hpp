// A collective load's report: its rounds' reports merged, what the group delivered added, totals
// measured over the whole load (CPU and storage of the process, the files' residency after it).
#pragma once

#include <string>
#include <unordered_map>
#include <vector>

#include "pipeline/plan.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

class CollectiveReport {
 public:
  // One round's load on this rank (an empty report: the rank read nothing in that round).
  void merge(const LoadReport& round);
  // A tensor another rank read, as it arrived here.
  void received(TensorDigest digest, std::uint64_t bytes);
  [[nodiscard]] CollectiveFigures& figures() noexcept { return figures_; }
  void warn(std::string warning) { report_.warnings.push_back(std::move(warning)); }

  // The report of the whole load: digests in load order (`plan`), totals, residency of every file.
  [[nodiscard]] LoadReport finish(const Checkpoint& checkpoint, const Plan& plan,
                                  const PipelineOptions& options, std::string_view sink_name, double wall_s);

 private:
  LoadReport report_;
  CollectiveFigures figures_;
  std::unordered_map<std::string, TensorDigest> digests_;  // by tensor name
  bool first_round_ = true;
};

}  // namespace ringload
