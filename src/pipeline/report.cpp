#include "pipeline/report.hpp"

#include <sys/resource.h>

#include <algorithm>

#include "ringload/memstat.hpp"

namespace ringload {
namespace {

CpuTimes cpu_of(int who) noexcept {
  rusage usage{};
  if (::getrusage(who, &usage) != 0) return {};
  auto secs = [](const timeval& tv) {
    return static_cast<double>(tv.tv_sec) + static_cast<double>(tv.tv_usec) * 1e-6;
  };
  return {secs(usage.ru_utime), secs(usage.ru_stime)};
}

CpuTimes thread_cpu() noexcept { return cpu_of(RUSAGE_THREAD); }

}  // namespace

CpuTimes process_cpu() noexcept { return cpu_of(RUSAGE_SELF); }

CpuMeter::CpuMeter(CpuTimes& total) : total_(total), start_(thread_cpu()) {}

CpuMeter::~CpuMeter() {
  const CpuTimes end = thread_cpu();
  total_.user += end.user - start_.user;
  total_.system += end.system - start_.system;
}

double busy_union(const std::vector<TimelineSpan>& spans, TimelineSpan::Stage stage) {
  std::vector<std::pair<double, double>> ranges;
  for (const auto& s : spans) {
    if (s.stage == stage) ranges.emplace_back(s.start_s, s.end_s);
  }
  std::sort(ranges.begin(), ranges.end());
  double total = 0;
  double open_start = 0;
  double open_end = -1;
  for (const auto& [start, end] : ranges) {
    if (start > open_end) {
      if (open_end > open_start) total += open_end - open_start;
      open_start = start;
      open_end = end;
    } else {
      open_end = std::max(open_end, end);
    }
  }
  if (open_end > open_start) total += open_end - open_start;
  return total;
}

void complete_report(LoadReport& report, const ReportInputs& in, std::vector<TimelineSpan>& spans,
                     bool keep_timeline) {
  report.bytes = in.bytes;
  report.bytes_read = in.bytes_read;
  report.tensors = in.tensors;
  report.wall_s = in.wall_s;
  report.gb_per_s = in.wall_s > 0 ? static_cast<double>(in.bytes) / in.wall_s / 1e9 : 0;
  report.cpu_user_s = in.cpu.user;
  report.cpu_system_s = in.cpu.system;
  report.read_busy_s = busy_union(spans, TimelineSpan::Stage::read);
  for (const auto& s : spans) {
    if (s.stage == TimelineSpan::Stage::copy) report.copy_busy_s += s.end_s - s.start_s;
  }
  if (auto after = process_memory()) {
    report.peak_rss_bytes = after->hwm_bytes;
    report.anon_rss_after_bytes = after->rss_anon_bytes;
  }
  report.storage_bytes_read = in.storage_bytes_read;
  if (keep_timeline) report.timeline = std::move(spans);
}

}  // namespace ringload
