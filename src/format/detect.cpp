#include "format/detect.hpp"

#include <cstring>

#include <fmt/format.h>

#include "base/byte_reader.hpp"

namespace ringload {
namespace {

bool starts_with(std::span<const std::byte> head, const char (&magic)[5]) {
  return head.size() >= 4 && std::memcmp(head.data(), magic, 4) == 0;
}

}  // namespace

Result<Format> detect_format(std::span<const std::byte> head) {
  if (head.empty()) return make_error(ErrorKind::truncated, "file is empty (0 bytes)", 0);
  if (starts_with(head, "GGUF")) return Format::gguf;
  if (starts_with(head, "APRN")) {
    return make_error(ErrorKind::bad_magic,
                      "this is an aprender v1 'APRN' container (a serialized classic-ML model), "
                      "not an APR v2 tensor file; re-export it as APR v2",
                      0);
  }
  if (starts_with(head, "APR1")) {
    return make_error(ErrorKind::bad_magic,
                      "this is a legacy 'APR1' container (JSON-indexed), not APR v2; re-export it "
                      "as APR v2",
                      0);
  }
  if (starts_with(head, "APR2") || (head.size() >= 4 && std::memcmp(head.data(), "APR\0", 4) == 0)) {
    // APR\0 is shared with ad-hoc formats that carry a u32 version 1 here; the parser checks the
    // version byte and says which it is.
    return Format::apr;
  }
  // safetensors has no magic: a u64 header length, then a JSON object (optionally after
  // whitespace the reference reader tolerates).
  if (head.size() >= 9) {
    const auto header_len = load_le<std::uint64_t>(head.data());
    std::size_t i = 8;
    while (i < head.size() && (head[i] == std::byte{' '} || head[i] == std::byte{'\t'} ||
                               head[i] == std::byte{'\n'} || head[i] == std::byte{'\r'})) {
      ++i;
    }
    if (header_len > 0 && i < head.size() && head[i] == std::byte{'{'}) return Format::safetensors;
  }
  if (head.size() < 8) {
    return make_error(ErrorKind::truncated,
                      fmt::format("file has only {} bytes, shorter than any supported header", head.size()),
                      0);
  }
  return make_error(ErrorKind::bad_magic,
                    "not an APR v2 ('APR\\0'), GGUF ('GGUF') or safetensors (u64 length + JSON) file", 0);
}

}  // namespace ringload
