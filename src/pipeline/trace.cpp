// The load's timeline as Chrome trace-event JSON: one process, a thread lane per stage (read,
// copy, release), one complete event ("ph": "X") per chunk span. Perfetto opens it as is.
#include <nlohmann/json.hpp>

#include "base/json.hpp"
#include "ringload/pipeline.hpp"

namespace ringload {

std::string timeline_trace_json(const LoadReport& report) {
  using Json = nlohmann::ordered_json;
  Json events = Json::array();
  const char* lanes[] = {"read", "copy", "release"};
  for (int lane = 0; lane < 3; ++lane) {
    events.push_back(Json{{"name", "thread_name"},
                          {"ph", "M"},
                          {"pid", 1},
                          {"tid", lane + 1},
                          {"args", Json{{"name", lanes[lane]}}}});
  }
  events.push_back(Json{
      {"name", "process_name"},
      {"ph", "M"},
      {"pid", 1},
      {"args", Json{{"name", "ringload " + std::string(to_string(report.strategy)) + " " + report.path}}}});
  for (const TimelineSpan& s : report.timeline) {
    const int lane = static_cast<int>(s.stage);
    events.push_back(
        Json{{"name", lanes[lane]},
             {"cat", lanes[lane]},
             {"ph", "X"},
             {"pid", 1},
             {"tid", lane + 1},
             {"ts", s.start_s * 1e6},
             {"dur", (s.end_s - s.start_s) * 1e6},
             {"args", Json{{"slot", s.slot}, {"file_offset", s.file_offset}, {"bytes", s.bytes}}}});
  }
  return dump_json(Json{{"traceEvents", std::move(events)}, {"displayTimeUnit", "ms"}});
}

}  // namespace ringload
