// `ringload load --json`: the LoadReport as JSON.
#include "load_report_json.hpp"

#include <string>

namespace ringload::cli {

nlohmann::ordered_json report_json(const LoadReport& r, bool with_digests) {
  using Json = nlohmann::ordered_json;
  Json j{{"path", r.path},
         {"strategy", std::string(to_string(r.strategy))},
         {"requested", std::string(to_string(r.requested))},
         {"io_engine", r.io_engine},
         {"io_engine_reason", r.io_engine_reason},
         {"sink", r.sink},
         {"bytes", r.bytes},
         {"bytes_read", r.bytes_read},
         {"bytes_read_in_place", r.bytes_read_in_place},
         {"tensors_loaded", r.tensors},
         {"wall_s", r.wall_s},
         {"gb_per_s", r.gb_per_s},
         {"time_to_first_tensor_s", r.time_to_first_tensor_s},
         {"read_busy_s", r.read_busy_s},
         {"copy_busy_s", r.copy_busy_s},
         {"release_busy_s", r.release_busy_s},
         {"cpu_user_s", r.cpu_user_s},
         {"cpu_system_s", r.cpu_system_s},
         {"cpu_s_per_gb",
          r.bytes > 0 ? (r.cpu_user_s + r.cpu_system_s) / (static_cast<double>(r.bytes) / 1e9) : 0.0},
         {"peak_rss", r.peak_rss_bytes},
         {"storage_bytes_read", r.storage_bytes_read},
         {"anon_rss_before", r.anon_rss_before_bytes},
         {"anon_rss_after", r.anon_rss_after_bytes},
         {"file_resident_pages_after", r.file_resident_pages_after},
         {"file_total_pages", r.file_total_pages},
         {"staging_bytes", r.staging_bytes},
         {"staging_huge_pages", r.staging_huge_pages},
         {"staging_registered", r.staging_registered},
         {"staging_pinned", r.staging_pinned},
         {"warnings", r.warnings}};
  if (with_digests) {
    Json tensors = Json::array();
    for (const auto& d : r.digests) {
      tensors.push_back(Json{
          {"name", d.name}, {"offset", d.offset}, {"size", d.size}, {"sha256", d.sha256}, {"file", d.file}});
    }
    j["tensors"] = std::move(tensors);
  }
  Json files = Json::array();
  for (const FileReport& f : r.files) {
    files.push_back(Json{{"path", f.path},
                         {"bytes", f.bytes},
                         {"wall_s", f.wall_s},
                         {"strategy", std::string(to_string(f.strategy))}});
  }
  j["files"] = std::move(files);
  if (r.collective) {
    j["rank"] = r.collective->rank;
    j["world"] = r.collective->world;
    j["bytes_received"] = r.collective->bytes_received;
    j["collective_busy_s"] = r.collective->busy_s;
    j["rounds"] = r.collective->rounds;
  }
  return j;
}

}  // namespace ringload::cli
