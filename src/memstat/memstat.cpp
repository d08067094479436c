#include "ringload/memstat.hpp"

#include <fcntl.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <fstream>
#include <sstream>
#include <string_view>
#include <vector>

#include <fmt/format.h>

#include "io/file.hpp"
#include "io/mapping.hpp"
#include "io/page_cache.hpp"

namespace ringload {
namespace {

std::optional<std::uint64_t> parse_u64(std::string_view text) {
  while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) text.remove_prefix(1);
  std::uint64_t value = 0;
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr == text.data()) return std::nullopt;
  return value;
}

// Reads a small text file from /proc or /sys whole.
Result<std::string> read_text(const std::filesystem::path& path) {
  std::ifstream in(path);
  if (!in) return sys_error(errno != 0 ? errno : ENOENT, "cannot read", path.string());
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

}  // namespace

Result<ProcessMemory> process_memory(pid_t pid) {
  const std::filesystem::path status = std::filesystem::path(pid == 0 ? std::string("/proc/self/status")
                                                                      : fmt::format("/proc/{}/status", pid));
  const std::string text = RINGLOAD_TRY(read_text(status));
  ProcessMemory m;
  std::istringstream lines(text);
  std::string line;
  while (std::getline(lines, line)) {
    const auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    const std::string_view key(line.data(), colon);
    // Values are "<n> kB".
    const auto kib = parse_u64(std::string_view(line).substr(colon + 1));
    if (!kib) continue;
    const std::uint64_t bytes = *kib * 1024;
    if (key == "VmRSS")
      m.rss_bytes = bytes;
    else if (key == "RssAnon")
      m.rss_anon_bytes = bytes;
    else if (key == "RssFile")
      m.rss_file_bytes = bytes;
    else if (key == "RssShmem")
      m.rss_shmem_bytes = bytes;
    else if (key == "VmHWM")
      m.hwm_bytes = bytes;
    else if (key == "VmSwap")
      m.swap_bytes = bytes;
  }
  return m;
}

Result<std::uint64_t> storage_read_bytes(pid_t pid) {
  const std::filesystem::path io =
      std::filesystem::path(pid == 0 ? std::string("/proc/self/io") : fmt::format("/proc/{}/io", pid));
  const std::string text = RINGLOAD_TRY(read_text(io));
  constexpr std::string_view kKey = "\nread_bytes:";
  const std::string lines = "\n" + text;
  const auto at = lines.find(kKey);
  std::optional<std::uint64_t> value;
  if (at != std::string::npos) value = parse_u64(std::string_view(lines).substr(at + kKey.size()));
  if (value) return *value;
  Error e =
      make_error(ErrorKind::not_found, "no read_bytes figure: this kernel keeps no per-task I/O accounting");
  e.path = io.string();
  return e;
}

StorageReadMeter::StorageReadMeter() {
  if (auto read = storage_read_bytes()) start_ = *read;
}

std::uint64_t StorageReadMeter::bytes() const {
  if (!start_) return 0;
  auto now = storage_read_bytes();
  return now && *now >= *start_ ? *now - *start_ : 0;
}

Result<ZramStat> zram_stat(const std::filesystem::path& device) {
  ZramStat z;
  std::error_code ec;
  if (!std::filesystem::exists(device, ec)) return z;
  z.present = true;
  auto disksize = read_text(device / "disksize");
  if (disksize) z.disksize_bytes = parse_u64(*disksize).value_or(0);
  z.initialised = z.disksize_bytes > 0;
  if (!z.initialised) return z;
  auto mm = read_text(device / "mm_stat");
  if (!mm) return z;
  std::istringstream fields(*mm);
  std::vector<std::uint64_t> v;
  std::uint64_t x = 0;
  while (fields >> x) v.push_back(x);
  auto at = [&](std::size_t i) { return i < v.size() ? v[i] : 0; };
  z.orig_data_bytes = at(0);
  z.compr_data_bytes = at(1);
  z.mem_used_total_bytes = at(2);
  z.mem_limit_bytes = at(3);
  z.mem_used_max_bytes = at(4);
  z.same_pages = at(5);
  z.pages_compacted = at(6);
  z.huge_pages = at(7);
  return z;
}

Result<FileCacheStat> file_cache_stat(const std::filesystem::path& path) {
  auto fd = RINGLOAD_TRY(UniqueFd::open(path, O_RDONLY));
  const Residency r = RINGLOAD_TRY(file_residency(fd.get(), path.string()));
  FileCacheStat s;
  s.file_bytes = RINGLOAD_TRY(file_size(fd.get(), path.string()));
  s.resident_pages = r.resident_pages;
  s.total_pages = r.total_pages;
  s.resident_bytes = std::min(s.file_bytes, r.resident_pages * page_size());
  s.method = r.method;
  return s;
}

}  // namespace ringload
