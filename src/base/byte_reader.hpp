// A bounds-checked little-endian cursor over header bytes. Every read is checked before the byte
// is touched, so a truncated file is an Error value, never an out-of-range read or a SIGBUS.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <span>
#include <string_view>

namespace ringload {

static_assert(std::endian::native == std::endian::little,
              "the formats are little-endian and so far only little-endian hosts are supported");

class ByteReader {
 public:
  explicit ByteReader(std::span<const std::byte> bytes, std::uint64_t pos = 0) noexcept
      : bytes_(bytes), pos_(pos) {}

  [[nodiscard]] std::uint64_t pos() const noexcept { return pos_; }
  [[nodiscard]] std::uint64_t size() const noexcept { return bytes_.size(); }
  [[nodiscard]] std::uint64_t remaining() const noexcept {
    return pos_ >= bytes_.size() ? 0 : bytes_.size() - pos_;
  }
  [[nodiscard]] bool has(std::uint64_t n) const noexcept { return n <= remaining(); }
  void seek(std::uint64_t pos) noexcept { pos_ = pos; }

  // Reads a T at the cursor; false (cursor unchanged) when fewer than sizeof(T) bytes remain.
  template <class T>
  [[nodiscard]] bool read(T& out) noexcept {
    if (!has(sizeof(T))) return false;
    std::memcpy(&out, bytes_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return true;
  }

  // A view of the next n bytes; false when fewer remain.
  [[nodiscard]] bool read_bytes(std::uint64_t n, std::span<const std::byte>& out) noexcept {
    if (!has(n)) return false;
    out = bytes_.subspan(pos_, n);
    pos_ += n;
    return true;
  }
  [[nodiscard]] bool read_string(std::uint64_t n, std::string_view& out) noexcept {
    std::span<const std::byte> raw;
    if (!read_bytes(n, raw)) return false;
    out = std::string_view(reinterpret_cast<const char*>(raw.data()), raw.size());
    return true;
  }
  [[nodiscard]] bool skip(std::uint64_t n) noexcept {
    if (!has(n)) return false;
    pos_ += n;
    return true;
  }

 private:
  std::span<const std::byte> bytes_;
  std::uint64_t pos_;
};

template <class T>
[[nodiscard]] inline T load_le(const std::byte* p) noexcept {
  T value;
  std::memcpy(&value, p, sizeof(T));
  return value;
}

}  // namespace ringload
