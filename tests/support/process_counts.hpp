// What a load must give back: descriptors, threads, mappings and anonymous memory of this process,
// counted from /proc/self, so tests can compare them before and after.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>

namespace ringload::test {

std::size_t open_fds();
// Threads of this process, not counting the kernel's io_uring workers (iou-wrk-*, iou-sqp-*):
// the kernel pools those per ring and retires them when idle on its own schedule; a thread the
// loader leaves behind is what this is after.
std::size_t user_threads();
// Mappings of `path` in this process: the Model's own, plus any a load forgot to unmap.
std::size_t mappings_of(const std::filesystem::path& path);
// Mappings of any file under directory `dir` (a checkpoint's shards), in one pass over the maps.
std::size_t mappings_under(const std::filesystem::path& dir);
// Every mapping of this process (lines of /proc/self/maps): files, anonymous memory, stacks.
std::size_t all_mappings();
// RssAnon of /proc/self/status: the anonymous memory this process has faulted in.
std::uint64_t anon_rss_bytes();

}  // namespace ringload::test
