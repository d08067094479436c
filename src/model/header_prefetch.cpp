#include "model/header_prefetch.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <cstdint>

#include "format/gguf_extent.hpp"
#include "io/file.hpp"

namespace ringload {
namespace {

// How far a safetensors or APR header reaches, from its first bytes (8 + its length; the APR
// data_offset), never past the file.
std::uint64_t header_extent(Format format, std::span<const std::byte> head, std::uint64_t file_size) {
  auto u64_at = [&](std::size_t at) -> std::uint64_t {
    if (head.size() < at + 8) return 0;
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < 8; ++i)
      v |= std::uint64_t{std::to_integer<std::uint8_t>(head[at + i])} << (8 * i);
    return v;
  };
  if (format == Format::safetensors) return std::min(file_size, 8 + std::min(file_size, u64_at(0)));
  if (format == Format::apr) return std::min(file_size, u64_at(32));  // data_offset
  return 0;
}

// Asks for a GGUF header in a few large requests, each as far as the walk so far proves the
// header reaches (so never past it); the walk goes on over what arrived. A header whose counts lie
// is asked for no faster than doubling, so a lie costs at most twice what was walked.
void prefetch_gguf_header(const Mapping& mapping) {
  constexpr std::uint64_t kMinStepBytes = std::uint64_t{1} << 20;
  const std::span<const std::byte> image = mapping.bytes();
  GgufHeaderWalk walk;
  std::uint64_t asked = 0;
  std::uint64_t reaches = walk.advance(image.first(0));
  while (!walk.done()) {
    const std::uint64_t next = std::min({reaches, image.size(), std::max(2 * asked, asked + kMinStepBytes)});
    if (next <= asked) return;  // malformed: the parser says where
    static_cast<void>(mapping.advise(asked, next - asked, MADV_WILLNEED, /*outward=*/true));
    asked = next;
    reaches = walk.advance(image.first(asked));
  }
}

}  // namespace

Result<FileHead> read_head(int fd, std::uint64_t file_size, const std::string& path) {
  FileHead head;
  head.length = static_cast<std::size_t>(std::min<std::uint64_t>(file_size, head.bytes.size()));
  static_cast<void>(::posix_fadvise(fd, 0, 0, POSIX_FADV_RANDOM));
  auto read = pread_exact(fd, std::span(head.bytes.data(), head.length), 0, path);
  static_cast<void>(::posix_fadvise(fd, 0, 0, POSIX_FADV_NORMAL));
  if (!read) return std::move(read).error();
  return head;
}

void prefetch_header(const Mapping& mapping, Format format, const FileHead& head) {
  const std::uint64_t size = mapping.bytes().size();
  static_cast<void>(mapping.advise(0, size, MADV_RANDOM, /*outward=*/true));
  if (format == Format::gguf) {
    prefetch_gguf_header(mapping);
  } else {
    static_cast<void>(
        mapping.advise(0, header_extent(format, head.span(), size), MADV_WILLNEED, /*outward=*/true));
  }
}

void restore_readahead(const Mapping& mapping) {
  static_cast<void>(mapping.advise(0, mapping.bytes().size(), MADV_NORMAL, /*outward=*/true));
}

}  // namespace ringload
