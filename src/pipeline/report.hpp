// The load's report: CPU time metered over the load's own turns, per-stage busy time from the
// timeline, and the memory and page cache the load left behind.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <vector>

#include "ringload/pipeline.hpp"

namespace ringload {

struct CpuTimes {
  double user = 0;
  double system = 0;
  [[nodiscard]] double total() const noexcept { return user + system; }
};

// The whole process's CPU time so far (every thread, io_uring's kernel workers included): what a
// process running one load (`ringload load`, a collective load's rank) charges to it.
[[nodiscard]] CpuTimes process_cpu() noexcept;

// Adds the calling thread's CPU time between construction and destruction to `total`: a load
// run in turns with others (AsyncLoader) is charged only for its own.
class CpuMeter {
 public:
  explicit CpuMeter(CpuTimes& total);
  CpuMeter(const CpuMeter&) = delete;
  CpuMeter& operator=(const CpuMeter&) = delete;
  CpuMeter(CpuMeter&&) = delete;
  CpuMeter& operator=(CpuMeter&&) = delete;
  ~CpuMeter();

 private:
  CpuTimes& total_;
  CpuTimes start_;
};

// Length of the union of the spans of `stage`: the time at least one was in flight.
[[nodiscard]] double busy_union(const std::vector<TimelineSpan>& spans, TimelineSpan::Stage stage);

struct ReportInputs {
  std::uint64_t bytes = 0;
  std::uint64_t bytes_read = 0;
  std::uint32_t tensors = 0;
  double wall_s = 0;
  CpuTimes cpu;
  std::uint64_t storage_bytes_read = 0;
};

// Fills the totals of `report` (already holding what was set along the way: the files' release
// time and what they left cached, measured as each file closed) and moves the timeline in when
// `keep_timeline`.
void complete_report(LoadReport& report, const ReportInputs& in, std::vector<TimelineSpan>& spans,
                     bool keep_timeline);

}  // namespace ringload
