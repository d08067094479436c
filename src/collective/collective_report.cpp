#include "collective/collective_report.hpp"

#include <algorithm>

#include "ringload/memstat.hpp"

namespace ringload {

void CollectiveReport::merge(const LoadReport& round) {
  if (round.tensors == 0 && round.files.empty()) return;  // a round with nothing to read here
  if (first_round_) {
    report_.strategy = round.strategy;
    report_.io_engine = round.io_engine;
    report_.io_engine_reason = round.io_engine_reason;
    report_.time_to_first_tensor_s = round.time_to_first_tensor_s;
    report_.anon_rss_before_bytes = round.anon_rss_before_bytes;
    first_round_ = false;
  }
  report_.bytes_read += round.bytes_read;
  report_.read_busy_s += round.read_busy_s;
  report_.copy_busy_s += round.copy_busy_s;
  report_.release_busy_s += round.release_busy_s;
  report_.staging_bytes = std::max(report_.staging_bytes, round.staging_bytes);
  report_.staging_huge_pages = report_.staging_huge_pages || round.staging_huge_pages;
  report_.staging_registered = report_.staging_registered || round.staging_registered;
  report_.staging_pinned = report_.staging_pinned || round.staging_pinned;
  report_.warnings.insert(report_.warnings.end(), round.warnings.begin(), round.warnings.end());
  for (const TensorDigest& d : round.digests) digests_[d.name] = d;
  for (const FileReport& f : round.files) {
    auto same = std::find_if(report_.files.begin(), report_.files.end(),
                             [&](const FileReport& mine) { return mine.path == f.path; });
    if (same == report_.files.end()) {
      report_.files.push_back(f);
    } else {
      // A round that read nothing of the file reports the strategy asked for (auto): what ran
      // is the first round's that read it.
      if (same->bytes == 0 && f.bytes > 0) same->strategy = f.strategy;
      same->bytes += f.bytes;
      same->wall_s += f.wall_s;
    }
  }
}

void CollectiveReport::received(TensorDigest digest, std::uint64_t bytes) {
  figures_.bytes_received += bytes;
  std::string name = digest.name;
  digests_[std::move(name)] = std::move(digest);
}

LoadReport CollectiveReport::finish(const Checkpoint& checkpoint, const Plan& plan,
                                    const PipelineOptions& options, std::string_view sink_name,
                                    double wall_s) {
  report_.path = checkpoint.path();
  report_.requested = options.strategy;
  report_.sink = std::string(sink_name);
  report_.bytes = plan.bytes;
  report_.tensors = static_cast<std::uint32_t>(plan.tensors.size());
  report_.wall_s = wall_s;
  report_.gb_per_s = wall_s > 0 ? static_cast<double>(report_.bytes) / wall_s / 1e9 : 0;
  for (const SinkTensor& t : plan.tensors) {
    if (auto it = digests_.find(t.info->name); it != digests_.end()) report_.digests.push_back(it->second);
  }
  for (const CheckpointFile& f : checkpoint.files()) {
    if (auto cached = file_cache_stat(f.path)) {
      report_.file_resident_pages_after += cached->resident_pages;
      report_.file_total_pages += cached->total_pages;
    }
  }
  if (auto after = process_memory()) {
    report_.peak_rss_bytes = after->hwm_bytes;
    report_.anon_rss_after_bytes = after->rss_anon_bytes;
  }
  report_.collective = figures_;
  return std::move(report_);
}

}  // namespace ringload
