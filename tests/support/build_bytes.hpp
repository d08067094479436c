// Builds little-endian byte images for hand-made (often deliberately broken) test files.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace ringload::test {

class ByteBuilder {
 public:
  ByteBuilder& u8(std::uint8_t v) { return raw(&v, 1); }
  ByteBuilder& u16(std::uint16_t v) { return raw(&v, 2); }
  ByteBuilder& u32(std::uint32_t v) { return raw(&v, 4); }
  ByteBuilder& u64(std::uint64_t v) { return raw(&v, 8); }
  ByteBuilder& i32(std::int32_t v) { return raw(&v, 4); }
  ByteBuilder& f32(float v) { return raw(&v, 4); }
  ByteBuilder& str(std::string_view s) { return raw(s.data(), s.size()); }
  ByteBuilder& zeros(std::size_t n) {
    bytes_.resize(bytes_.size() + n);
    return *this;
  }
  ByteBuilder& pad_to(std::size_t alignment) {
    while (bytes_.size() % alignment != 0) bytes_.push_back(std::byte{0});
    return *this;
  }
  ByteBuilder& fill(std::size_t n, std::uint8_t value) {
    bytes_.insert(bytes_.end(), n, std::byte{value});
    return *this;
  }
  ByteBuilder& append(const std::vector<std::byte>& other) {
    bytes_.insert(bytes_.end(), other.begin(), other.end());
    return *this;
  }
  ByteBuilder& raw(const void* p, std::size_t n) {
    const auto* b = static_cast<const std::byte*>(p);
    bytes_.insert(bytes_.end(), b, b + n);
    return *this;
  }

  void patch_u32(std::size_t at, std::uint32_t v) { std::memcpy(bytes_.data() + at, &v, 4); }
  void patch_u64(std::size_t at, std::uint64_t v) { std::memcpy(bytes_.data() + at, &v, 8); }

  [[nodiscard]] std::size_t size() const { return bytes_.size(); }
  [[nodiscard]] const std::vector<std::byte>& bytes() const { return bytes_; }
  [[nodiscard]] std::vector<std::byte> take() { return std::move(bytes_); }

 private:
  std::vector<std::byte> bytes_;
};

}  // namespace ringload::test
