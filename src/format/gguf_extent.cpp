#include "format/gguf_extent.hpp"

#include <cstring>
#include <limits>
#include <optional>

namespace ringload {
namespace {

using gguf::ValueType;

constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();

std::uint64_t add(std::uint64_t a, std::uint64_t b) { return a > kMax - b ? kMax : a + b; }
std::uint64_t mul(std::uint64_t a, std::uint64_t b) { return b != 0 && a > kMax / b ? kMax : a * b; }

// Bytes of a fixed-width value; 0 for strings and arrays, nullopt for codes GGUF does not define.
std::optional<std::uint64_t> fixed_bytes(std::uint32_t code) {
  if (code >= gguf::kValueTypeCount) return std::nullopt;
  return gguf::fixed_value_bytes(static_cast<ValueType>(code));
}

// Little-endian reads inside the prefix; nullopt past it.
class PrefixReader {
 public:
  explicit PrefixReader(std::span<const std::byte> bytes) : bytes_(bytes) {}
  [[nodiscard]] std::optional<std::uint32_t> u32(std::uint64_t at) const { return read<std::uint32_t>(at); }
  [[nodiscard]] std::optional<std::uint64_t> u64(std::uint64_t at) const { return read<std::uint64_t>(at); }
  [[nodiscard]] std::optional<std::uint64_t> length(std::uint64_t at, bool v1) const {
    if (v1) {
      auto v = u32(at);
      return v ? std::optional<std::uint64_t>(*v) : std::nullopt;
    }
    return u64(at);
  }
  [[nodiscard]] bool has(std::uint64_t end) const { return end <= bytes_.size(); }

 private:
  template <class T>
  [[nodiscard]] std::optional<T> read(std::uint64_t at) const {
    if (at > bytes_.size() || bytes_.size() - at < sizeof(T)) return std::nullopt;
    T v{};
    std::memcpy(&v, bytes_.data() + at, sizeof(T));  // GGUF is little-endian, as are our hosts
    return v;
  }
  std::span<const std::byte> bytes_;
};

}  // namespace

std::uint64_t GgufHeaderWalk::rest_at_least() const noexcept {
  // A key: its length, type and a 1-byte value. A tensor info: name length, n_dims, type, offset.
  const std::uint64_t key_value = length_bytes() + 4 + 1;
  const std::uint64_t tensor_info = length_bytes() + 4 + 4 + 8;
  const std::uint64_t keys_after = phase_ == Phase::tensor_info || keys_left_ == 0 ? 0 : keys_left_ - 1;
  const std::uint64_t tensors_after = phase_ == Phase::tensor_info ? tensors_left_ - 1 : tensors_left_;
  return add(mul(keys_after, key_value), mul(tensors_after, tensor_info));
}

std::uint64_t GgufHeaderWalk::bound(std::uint64_t item_end_at_least) noexcept {
  last_bound_ = std::max(last_bound_, add(item_end_at_least, rest_at_least()));
  return last_bound_;
}

void GgufHeaderWalk::finish_key_value() noexcept {
  --keys_left_;
  phase_ = keys_left_ > 0 ? Phase::key_value : tensors_left_ > 0 ? Phase::tensor_info : Phase::finished;
}

std::optional<std::uint64_t> GgufHeaderWalk::walk_preamble(std::span<const std::byte> prefix) {
  // magic, version, then the tensor and key counts (u32 in v1, u64 after).
  const PrefixReader in(prefix);
  const auto version = in.u32(4);
  if (!version) return bound(8);
  v1_ = *version == 1;
  const std::uint64_t end = v1_ ? 16 : 24;
  const auto tensors = in.length(8, v1_);
  const auto keys = in.length(8 + length_bytes(), v1_);
  if (!tensors || !keys) return bound(end);
  tensors_left_ = *tensors;
  keys_left_ = *keys;
  pos_ = end;
  phase_ = keys_left_ > 0 ? Phase::key_value : tensors_left_ > 0 ? Phase::tensor_info : Phase::finished;
  return std::nullopt;
}

std::optional<std::uint64_t> GgufHeaderWalk::walk_key_value(std::span<const std::byte> prefix) {
  const PrefixReader in(prefix);
  const std::uint64_t len = length_bytes();
  const auto key = in.length(pos_, v1_);
  if (!key) return bound(add(pos_, len + 4 + 1));
  const std::uint64_t type_at = add(add(pos_, len), *key);
  const auto type = in.u32(type_at);
  if (!type) return bound(add(type_at, 4 + 1));
  const std::uint64_t value_at = type_at + 4;
  const auto fixed = fixed_bytes(*type);
  if (!fixed) {
    phase_ = Phase::stopped;  // an unknown value type: walk no further
    return std::nullopt;
  }
  if (*fixed > 0 || static_cast<ValueType>(*type) == ValueType::string) {
    std::uint64_t end = add(value_at, *fixed);
    if (*fixed == 0) {
      const auto length = in.length(value_at, v1_);
      if (!length) return bound(add(value_at, len));
      end = add(add(value_at, len), *length);
    }
    if (!in.has(end)) return bound(end);
    pos_ = end;
    finish_key_value();
    return std::nullopt;
  }
  // An array: its element type and count, then the elements (no arrays of arrays in GGUF).
  const auto element = in.u32(value_at);
  const auto count = in.length(value_at + 4, v1_);
  if (!element || !count) return bound(add(value_at, 4 + len));
  if (!fixed_bytes(*element) || static_cast<ValueType>(*element) == ValueType::array) {
    phase_ = Phase::stopped;
    return std::nullopt;
  }
  element_type_ = static_cast<ValueType>(*element);
  elements_left_ = *count;
  pos_ = value_at + 4 + len;
  phase_ = Phase::array_elements;
  return std::nullopt;
}

std::optional<std::uint64_t> GgufHeaderWalk::walk_array_elements(std::span<const std::byte> prefix) {
  const PrefixReader in(prefix);
  const std::uint64_t len = length_bytes();
  if (const auto size = *fixed_bytes(static_cast<std::uint32_t>(element_type_)); size > 0) {
    const std::uint64_t end = add(pos_, mul(elements_left_, size));
    if (!in.has(end)) return bound(end);
    pos_ = end;
    elements_left_ = 0;
  }
  // Strings one by one: the count still to come bounds the rest at a length field each.
  while (elements_left_ > 0) {
    const auto length = in.length(pos_, v1_);
    if (!length) return bound(add(pos_, mul(elements_left_, len)));
    const std::uint64_t end = add(add(pos_, len), *length);
    if (!in.has(end)) return bound(add(end, mul(elements_left_ - 1, len)));
    pos_ = end;
    --elements_left_;
  }
  finish_key_value();
  return std::nullopt;
}

std::optional<std::uint64_t> GgufHeaderWalk::walk_tensor_info(std::span<const std::byte> prefix) {
  const PrefixReader in(prefix);
  const std::uint64_t len = length_bytes();
  const auto name = in.length(pos_, v1_);
  if (!name) return bound(add(pos_, len + 16));
  const std::uint64_t dims_at = add(add(pos_, len), *name);
  const auto dims = in.u32(dims_at);
  if (!dims) return bound(add(dims_at, 16));
  // dims (u32 each in v1, u64 after), the ggml type, the data offset.
  const std::uint64_t end = add(add(dims_at + 4, mul(*dims, len)), 4 + 8);
  if (!in.has(end)) return bound(end);
  pos_ = end;
  if (--tensors_left_ == 0) phase_ = Phase::finished;
  return std::nullopt;
}

std::uint64_t GgufHeaderWalk::advance(std::span<const std::byte> prefix) {
  for (;;) {
    std::optional<std::uint64_t> stop;
    switch (phase_) {
      case Phase::preamble: stop = walk_preamble(prefix); break;
      case Phase::key_value: stop = walk_key_value(prefix); break;
      case Phase::array_elements: stop = walk_array_elements(prefix); break;
      case Phase::tensor_info: stop = walk_tensor_info(prefix); break;
      case Phase::finished: last_bound_ = pos_; return pos_;
      case Phase::stopped: return last_bound_;
    }
    if (stop) return *stop;
  }
}

}  // namespace ringload
