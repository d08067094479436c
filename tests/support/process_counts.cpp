#include "support/process_counts.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <string>

namespace ringload::test {
namespace {

std::size_t count_entries(const char* dir, bool (*counted)(const std::filesystem::path&)) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& entry : std::filesystem::directory_iterator(dir, ec)) {
    if (counted(entry.path())) ++n;
  }
  EXPECT_FALSE(ec) << dir << ": " << ec.message();
  return n;
}

}  // namespace

std::size_t open_fds() {
  return count_entries("/proc/self/fd", [](const std::filesystem::path&) { return true; });
}

std::size_t user_threads() {
  return count_entries("/proc/self/task", [](const std::filesystem::path& task) {
    std::ifstream comm(task / "comm");
    std::string name;
    std::getline(comm, name);
    return name.rfind("iou-", 0) != 0;
  });
}

std::size_t mappings_of(const std::filesystem::path& path) {
  const std::string name = std::filesystem::canonical(path).string();
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.size() >= name.size() && line.compare(line.size() - name.size(), name.size(), name) == 0) ++n;
  }
  return n;
}

std::size_t mappings_under(const std::filesystem::path& dir) {
  const std::string prefix = std::filesystem::canonical(dir).string() + "/";
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) {
    if (line.find(prefix) != std::string::npos) ++n;
  }
  return n;
}

std::size_t all_mappings() {
  std::ifstream maps("/proc/self/maps");
  std::size_t n = 0;
  for (std::string line; std::getline(maps, line);) ++n;
  return n;
}

std::uint64_t anon_rss_bytes() {
  std::ifstream status("/proc/self/status");
  for (std::string line; std::getline(status, line);) {
    if (line.rfind("RssAnon:", 0) == 0) return std::stoull(line.substr(8)) * 1024;  // "RssAnon:  1234 kB"
  }
  ADD_FAILURE() << "/proc/self/status has no RssAnon line";
  return 0;
}

}  // namespace ringload::test
