#include "checkpoint/header_read.hpp"

#include <fcntl.h>
#include <sys/mman.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <string_view>

#include "base/utf8.hpp"
#include "format/apr_v2.hpp"
#include "format/detect.hpp"
#include "format/gguf_extent.hpp"
#include "io/file.hpp"
#include "io/mapping.hpp"

namespace ringload {
namespace {

// Error text is UTF-8; paths need not be.
Error located(Error e, const std::string& path) {
  if (e.path.empty()) e.path = escape_invalid_utf8(path);
  return e;
}

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

Result<TensorTable> parse(Format format, std::span<const std::byte> image, const ModelOptions& options) {
  switch (format) {
    case Format::safetensors: return parse_safetensors(image);
    case Format::gguf: return parse_gguf(image);
    case Format::apr: return parse_apr_v2(image, ParseOptions{.verify_checksum = options.verify_checksum});
  }
  return make_error(ErrorKind::bad_magic, "unknown format");
}

// What the file holds, through Model::load: for files whose header cannot be read on its own.
Result<FileHeader> through_model(const std::filesystem::path& path, const ModelOptions& options) {
  const Model model = RINGLOAD_TRY(Model::load(path, options));
  return FileHeader{.path = model.path(),
                    .file_size = model.file_size(),
                    .table = TensorTable{.format = model.format(),
                                         .tensors = {model.tensors().begin(), model.tensors().end()},
                                         .metadata = model.metadata(),
                                         .data_offset = model.data_offset(),
                                         .alignment = model.alignment()}};
}

}  // namespace

Result<FileHeader> read_file_header(const std::filesystem::path& path, const ModelOptions& options) {
  FileHeader header;
  header.path = path.string();
  const UniqueFd fd = RINGLOAD_TRY(UniqueFd::open(path, O_RDONLY));
  // This descriptor is ours alone: with POSIX_FADV_RANDOM its reads fetch exactly what they ask.
  static_cast<void>(::posix_fadvise(fd.get(), 0, 0, POSIX_FADV_RANDOM));
  header.file_size = RINGLOAD_TRY(file_size(fd.get(), header.path));
  std::array<std::byte, kAprHeaderSize> head{};
  const auto head_len = static_cast<std::size_t>(std::min<std::uint64_t>(header.file_size, head.size()));
  RINGLOAD_TRY_VOID(pread_exact(fd.get(), std::span(head.data(), head_len), 0, header.path));
  const std::span<const std::byte> first(head.data(), head_len);
  auto format = detect_format(first);
  if (!format) return located(std::move(format).error(), header.path);
  if (*format == Format::apr && apr_is_compressed(first)) return through_model(path, options);
  auto mapping = Mapping::map(fd.get(), header.file_size, header.path);
  if (!mapping && mapping.error().os_errno == ENODEV) return through_model(path, options);
  if (!mapping) return std::move(mapping).error();
  // Parsed with readahead off: faulting the header in through the mapping, the kernel would read
  // on past it into tensor data (up to read_ahead_kb, 8 MiB on some disks) and leave that cached.
  // Instead the header is asked for in large requests that end where it ends: safetensors and APR
  // say where in their first bytes, a GGUF header is walked. Advice failures only cost speed.
  static_cast<void>(mapping->advise(0, header.file_size, MADV_RANDOM, /*outward=*/true));
  if (*format == Format::gguf) {
    prefetch_gguf_header(*mapping);
  } else {
    static_cast<void>(
        mapping->advise(0, header_extent(*format, first, header.file_size), MADV_WILLNEED, /*outward=*/true));
  }
  auto table = parse(*format, mapping->bytes(), options);
  if (!table) return located(std::move(table).error(), header.path);
  header.table = std::move(table).value();
  // A name twice in one file is refused with the set's other duplicates (Checkpoint's check).
  return header;
}

}  // namespace ringload
