#include "bench_hold.hpp"

#include <fcntl.h>

#include <algorithm>
#include <chrono>
#include <thread>
#include <vector>

#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "pipeline/report.hpp"

namespace ringload::cli {
Kept kept_by(Strategy ran) {
  if (ran == Strategy::read) return Kept::heap_copy;
  if (ran == Strategy::mmap) return Kept::mapping;
  return Kept::destinations;
}

const char* kept_name(Kept kept) {
  switch (kept) {
    case Kept::heap_copy: return "heap copy";
    case Kept::mapping: return "mapping";
    case Kept::destinations: return "destinations";
  }
  return "?";
}

Result<HeapModel> read_onto_heap(const std::filesystem::path& path) {
  const auto start = std::chrono::steady_clock::now();
  const double cpu_start = process_cpu().total();
  auto fd = RINGLOAD_TRY(UniqueFd::open(path, O_RDONLY));
  const std::uint64_t size = RINGLOAD_TRY(file_size(fd.get(), path.string()));
  std::vector<std::byte> bytes;
  bytes.reserve(size);
  // Piece by piece: each piece is zero-filled just before it is read over, while its pages are
  // hot, so the heap is written once, not zero-filled whole first (under a memory limit that
  // would push the zeros out to swap and fault them back for the read).
  constexpr std::uint64_t kPiece = 16ULL << 20;
  for (std::uint64_t at = 0; at < size; at += kPiece) {
    const std::uint64_t n = std::min(kPiece, size - at);
    bytes.resize(at + n);
    RINGLOAD_TRY_VOID(pread_exact(fd.get(), std::span(bytes.data() + at, n), at, path.string()));
  }
  // ringload's release step drops every strategy's page cache; the baseline stays comparable.
  RINGLOAD_TRY_VOID(drop_file_cache(fd.get(), 0, 0, path.string()));
  HeapModel heap{RINGLOAD_TRY(Model::from_bytes(std::move(bytes), path.string())), 0, 0};
  heap.wall_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  heap.cpu_s = process_cpu().total() - cpu_start;
  return heap;
}

Result<HoldFigures> hold_then_measure(double seconds, Kept kept, std::span<const std::filesystem::path> files,
                                      const std::filesystem::path& zram_device) {
  const auto start = std::chrono::steady_clock::now();
  if (seconds > 0) std::this_thread::sleep_for(std::chrono::duration<double>(seconds));
  HoldFigures h;
  h.held_s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  h.kept = kept_name(kept);
  const ProcessMemory memory = RINGLOAD_TRY(process_memory());
  h.swap_bytes = memory.swap_bytes;
  h.anon_rss_bytes = memory.rss_anon_bytes;
  for (const std::filesystem::path& file : files) {
    const FileCacheStat cache = RINGLOAD_TRY(file_cache_stat(file));
    h.file_resident_pages += cache.resident_pages;
    h.file_total_pages += cache.total_pages;
  }
  h.zram_device = zram_device.string();
  h.zram = RINGLOAD_TRY(zram_stat(zram_device));
  return h;
}

nlohmann::ordered_json hold_json(const HoldFigures& h) {
  return nlohmann::ordered_json{{"held_s", h.held_s},
                                {"kept", h.kept},
                                {"swap_bytes", h.swap_bytes},
                                {"anon_rss_bytes", h.anon_rss_bytes},
                                {"file_resident_pages", h.file_resident_pages},
                                {"file_total_pages", h.file_total_pages},
                                {"zram_device", h.zram_device},
                                {"zram_initialised", h.zram.initialised},
                                {"zram_orig_data_size", h.zram.orig_data_bytes},
                                {"zram_compr_data_size", h.zram.compr_data_bytes},
                                {"zram_mem_used_total", h.zram.mem_used_total_bytes}};
}

}  // namespace ringload::cli
