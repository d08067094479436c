#include "codec/codec.hpp"

#include <lz4.h>
#include <zstd.h>

#include <algorithm>
#include <climits>
#include <cstring>
#include <memory>

#include <fmt/format.h>

#include "base/byte_reader.hpp"
#include "base/checked.hpp"

namespace ringload {
namespace {

constexpr std::uint64_t kLz4PrefixBytes = 4;
// LZ4_decompress_safe takes int sizes, so a block cannot decode to 2 GiB or more.
constexpr std::uint64_t kLz4MaxDecodedBytes = static_cast<std::uint64_t>(INT_MAX);
// An LZ4 sequence of k input bytes yields at most 255 bytes per match-length byte plus a few
// more, so no block decodes to more than 256 bytes per input byte. Checking the declared size
// against this keeps a 10-byte file from making us allocate 2 GiB.
constexpr std::uint64_t kLz4MaxExpansion = 256;
// The compressed-APR caller prepends the raw 64-byte header to what we return; a little spare
// capacity lets it do so in place instead of allocating and copying a second full-size image.
constexpr std::size_t kCallerHeadroomBytes = 64;

constexpr std::size_t kZstdMinInitialBytes = std::size_t{64} << 10;
constexpr std::size_t kZstdMaxInitialBytes = std::size_t{64} << 20;

Error lz4_error(std::string message, std::uint64_t offset) {
  return make_error(ErrorKind::decompression, "LZ4: " + std::move(message), offset);
}

Error zstd_error(std::string message, std::uint64_t offset) {
  return make_error(ErrorKind::decompression, "zstd: " + std::move(message), offset);
}

struct ZstdDctxDeleter {
  void operator()(ZSTD_DCtx* dctx) const noexcept { ZSTD_freeDCtx(dctx); }
};
using ZstdDctx = std::unique_ptr<ZSTD_DCtx, ZstdDctxDeleter>;

// First capacity for the zstd output: a guess from the input size, never above the cap. The
// frame's declared content size is untrusted (a 20-byte frame may claim a terabyte), so we only
// grow as bytes actually come out.
std::size_t zstd_initial_capacity(std::uint64_t input_bytes, std::uint64_t max_output) {
  const std::uint64_t guess = std::clamp<std::uint64_t>(
      checked_mul(input_bytes, 4).value_or(kZstdMaxInitialBytes), kZstdMinInitialBytes, kZstdMaxInitialBytes);
  return static_cast<std::size_t>(std::min(guess, max_output));
}

}  // namespace

Result<std::vector<std::byte>> lz4_decompress_size_prepended(std::span<const std::byte> input,
                                                             std::uint64_t max_output) {
  ByteReader reader(input);
  std::uint32_t declared_bytes = 0;
  if (!reader.read(declared_bytes)) {
    return lz4_error(
        fmt::format("input has {} bytes, fewer than the 4-byte little-endian size prefix", input.size()), 0);
  }
  const std::uint64_t body_bytes = reader.remaining();
  const std::uint64_t limit = std::min(max_output, kLz4MaxDecodedBytes);
  if (declared_bytes > limit) {
    return lz4_error(fmt::format("size prefix declares {} decompressed bytes, more than the limit of {}",
                                 declared_bytes, limit),
                     0);
  }
  if (body_bytes > kLz4MaxDecodedBytes) {
    return lz4_error(
        fmt::format("compressed block of {} bytes is larger than LZ4 can decode in one call", body_bytes),
        kLz4PrefixBytes);
  }
  if (declared_bytes > body_bytes * kLz4MaxExpansion) {
    return lz4_error(fmt::format("size prefix declares {} bytes, but a {}-byte block decodes to at most {}",
                                 declared_bytes, body_bytes, body_bytes * kLz4MaxExpansion),
                     0);
  }

  std::vector<std::byte> out;
  // lz4_flex encodes an empty input as a bare prefix; LZ4_decompress_safe rejects a 0-byte block.
  if (declared_bytes == 0 && body_bytes == 0) return out;
  out.reserve(std::size_t{declared_bytes} + kCallerHeadroomBytes);
  out.resize(declared_bytes);
  const auto* src = reinterpret_cast<const char*>(input.data() + kLz4PrefixBytes);
  const int decoded = LZ4_decompress_safe(src, reinterpret_cast<char*>(out.data()),
                                          static_cast<int>(body_bytes), static_cast<int>(declared_bytes));
  if (decoded < 0) {
    // LZ4 reports -(position of the offending input byte) - 1.
    const std::uint64_t at = std::min<std::uint64_t>(static_cast<std::uint64_t>(-(decoded + 1)), body_bytes);
    return lz4_error(
        fmt::format("corrupt block (or it decodes to more than the {} bytes its prefix declares)",
                    declared_bytes),
        kLz4PrefixBytes + at);
  }
  if (static_cast<std::uint64_t>(decoded) != declared_bytes) {
    return lz4_error(
        fmt::format("block decodes to {} bytes but its size prefix declares {}", decoded, declared_bytes),
        input.size());
  }
  return out;
}

Result<std::vector<std::byte>> zstd_decompress(std::span<const std::byte> input, std::uint64_t max_output) {
  if (input.empty()) return zstd_error("input is empty; expected at least one zstd frame", 0);
  ZstdDctx dctx(ZSTD_createDCtx());
  if (!dctx) return make_error(ErrorKind::out_of_memory, "zstd: cannot create a decompression context");

  std::vector<std::byte> out(zstd_initial_capacity(input.size(), max_output));
  ZSTD_inBuffer in{input.data(), input.size(), 0};
  std::size_t produced = 0;
  for (;;) {
    ZSTD_outBuffer sink{out.data(), out.size(), produced};
    const std::size_t in_before = in.pos;
    const std::size_t ret = ZSTD_decompressStream(dctx.get(), &sink, &in);
    const bool progressed = in.pos != in_before || sink.pos != produced;
    produced = sink.pos;
    if (ZSTD_isError(ret)) return zstd_error(ZSTD_getErrorName(ret), in.pos);
    // ret == 0: a frame ended and is fully flushed; with no input left, every frame is done.
    if (ret == 0 && in.pos == in.size) break;
    if (produced < out.size()) {
      if (in.pos == in.size) {
        return zstd_error("input ends inside a frame (truncated stream)", input.size());
      }
      if (!progressed) return zstd_error("decoder made no progress", in.pos);
      continue;
    }
    // The output is full and the decoder has more to give.
    if (out.size() >= max_output) {
      return zstd_error(fmt::format("decompressed data exceeds the limit of {} bytes", max_output), in.pos);
    }
    const std::uint64_t grown =
        std::min<std::uint64_t>(checked_mul(out.size(), 2).value_or(max_output), max_output);
    out.resize(static_cast<std::size_t>(grown));
  }
  out.resize(produced);
  // Doubling can leave up to half the buffer unused; give it back when that is a lot, keeping
  // room for the caller's 64-byte header.
  if (out.capacity() - out.size() > out.size() / 8 + kCallerHeadroomBytes) {
    std::vector<std::byte> fitted;
    fitted.reserve(out.size() + kCallerHeadroomBytes);
    fitted.assign(out.begin(), out.end());
    out = std::move(fitted);
  }
  return out;
}

Result<std::vector<std::byte>> lz4_compress_size_prepended(std::span<const std::byte> input) {
  if (input.size() > static_cast<std::uint64_t>(LZ4_MAX_INPUT_SIZE)) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("LZ4: {} bytes is more than one block can hold (LZ4_MAX_INPUT_SIZE = {})",
                                  input.size(), LZ4_MAX_INPUT_SIZE));
  }
  const int input_bytes = static_cast<int>(input.size());
  const int bound = LZ4_compressBound(input_bytes);
  std::vector<std::byte> out(kLz4PrefixBytes + static_cast<std::size_t>(bound));
  const auto declared = static_cast<std::uint32_t>(input.size());
  std::memcpy(out.data(), &declared, sizeof declared);
  const int written =
      LZ4_compress_default(reinterpret_cast<const char*>(input.data()),
                           reinterpret_cast<char*>(out.data() + kLz4PrefixBytes), input_bytes, bound);
  if (written <= 0) return make_error(ErrorKind::invalid_argument, "LZ4: compression failed");
  out.resize(kLz4PrefixBytes + static_cast<std::size_t>(written));
  return out;
}

}  // namespace ringload
