// Bringing a file's header into the page cache and nothing past it. Read through a mapping with
// the kernel's readahead on, a header faults in read_ahead_kb (8 MiB on some disks) of tensor data
// with it: bytes read twice from storage (the load reads them again), and pages left cached by
// whoever only wanted the header. Both a checkpoint's header read and Model::load go this way.
#pragma once

#include <array>
#include <cstddef>
#include <span>
#include <string>

#include "format/apr_v2.hpp"
#include "format/detect.hpp"
#include "io/mapping.hpp"
#include "ringload/error.hpp"

namespace ringload {

// A file's first bytes (fewer if the file is shorter), read without readahead: they name the
// format, and say where a safetensors or APR header ends.
struct FileHead {
  std::array<std::byte, kAprHeaderSize> bytes{};
  std::size_t length = 0;
  [[nodiscard]] std::span<const std::byte> span() const noexcept { return {bytes.data(), length}; }
};

// Reads the head with POSIX_FADV_RANDOM on `fd`, then puts the descriptor's readahead back to
// normal (the `read` strategy reads through a Model's descriptor).
[[nodiscard]] Result<FileHead> read_head(int fd, std::uint64_t file_size, const std::string& path);

// Turns the mapping's readahead off (MADV_RANDOM) and asks for the header in large requests that
// end where it ends: safetensors and APR say where in their head, a GGUF header is walked. Advice
// failures only cost speed. The mapping stays MADV_RANDOM: one kept for reading tensors gets
// readahead back with restore_readahead() once the header is parsed.
void prefetch_header(const Mapping& mapping, Format format, const FileHead& head);
void restore_readahead(const Mapping& mapping);

}  // namespace ringload
