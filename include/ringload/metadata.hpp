// A model file's metadata as a plain value: GGUF's typed key/values (arrays included), the
// safetensors "__metadata__" strings, APR's JSON. Standard library only.
#pragma once

#include <concepts>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <variant>
#include <vector>

namespace ringload {

struct MetadataMember;

// null, bool, signed or unsigned 64-bit integer, double, string, array or object. Objects keep
// the file's key order. Integers keep the sign the file gave them: GGUF's u32 is uint64, its i32
// int64; a JSON integer is uint64 unless it is negative (or -0).
class MetadataValue {
 public:
  using Array = std::vector<MetadataValue>;
  using Object = std::vector<MetadataMember>;  // in file order; lookups scan (see find)

  enum class Kind : std::uint8_t { null, boolean, int64, uint64, float64, string, array, object };

  // Defined below MetadataMember: a constructor needs the destructor of every alternative,
  // and Object's needs a complete MetadataMember.
  MetadataValue() noexcept;  // null
  MetadataValue(std::nullptr_t) noexcept;
  MetadataValue(bool value) noexcept;
  template <std::signed_integral T>
  MetadataValue(T value) noexcept;
  template <std::unsigned_integral T>
  requires(!std::same_as<T, bool>) MetadataValue(T value)
  noexcept;
  MetadataValue(double value) noexcept;
  MetadataValue(std::string value) noexcept;
  MetadataValue(std::string_view value);
  MetadataValue(const char* value);
  MetadataValue(Array value) noexcept;
  MetadataValue(Object value) noexcept;

  [[nodiscard]] static MetadataValue array();
  [[nodiscard]] static MetadataValue object();

  [[nodiscard]] Kind kind() const noexcept { return static_cast<Kind>(value_.index()); }
  [[nodiscard]] bool is_null() const noexcept { return kind() == Kind::null; }
  [[nodiscard]] bool is_string() const noexcept { return kind() == Kind::string; }
  [[nodiscard]] bool is_array() const noexcept { return kind() == Kind::array; }
  [[nodiscard]] bool is_object() const noexcept { return kind() == Kind::object; }

  // The value when it is of that kind, nullptr otherwise (no conversions between kinds).
  [[nodiscard]] const bool* if_bool() const noexcept { return std::get_if<bool>(&value_); }
  [[nodiscard]] const std::int64_t* if_int64() const noexcept { return std::get_if<std::int64_t>(&value_); }
  [[nodiscard]] const std::uint64_t* if_uint64() const noexcept {
    return std::get_if<std::uint64_t>(&value_);
  }
  [[nodiscard]] const double* if_double() const noexcept { return std::get_if<double>(&value_); }
  [[nodiscard]] const std::string* if_string() const noexcept { return std::get_if<std::string>(&value_); }
  [[nodiscard]] const Array* if_array() const noexcept { return std::get_if<Array>(&value_); }
  [[nodiscard]] Array* if_array() noexcept { return std::get_if<Array>(&value_); }
  [[nodiscard]] const Object* if_object() const noexcept { return std::get_if<Object>(&value_); }
  [[nodiscard]] Object* if_object() noexcept { return std::get_if<Object>(&value_); }

  // An object's member value by key, nullptr if absent or not an object. Linear in the member
  // count: metadata is read a few keys at a time, and a vector keeps the file's order for free.
  [[nodiscard]] const MetadataValue* find(std::string_view key) const noexcept;

  // Elements of an array, members of an object, 0 for anything else.
  [[nodiscard]] std::size_t size() const noexcept;
  [[nodiscard]] bool empty() const noexcept { return size() == 0; }

  friend bool operator==(const MetadataValue& a, const MetadataValue& b);

 private:
  // Alternatives in Kind's order.
  std::variant<std::monostate, bool, std::int64_t, std::uint64_t, double, std::string, Array, Object> value_;
};

struct MetadataMember {
  std::string key;
  MetadataValue value;

  friend bool operator==(const MetadataMember& a, const MetadataMember& b) {
    return a.key == b.key && a.value == b.value;
  }
};

inline MetadataValue::MetadataValue() noexcept = default;
inline MetadataValue::MetadataValue(std::nullptr_t) noexcept {}
template <std::signed_integral T>
inline MetadataValue::MetadataValue(T value) noexcept : value_(static_cast<std::int64_t>(value)) {}
template <std::unsigned_integral T>
requires(!std::same_as<T, bool>) inline MetadataValue::MetadataValue(T value) noexcept
    : value_(static_cast<std::uint64_t>(value)) {}
inline MetadataValue::MetadataValue(bool value) noexcept : value_(value) {}
inline MetadataValue::MetadataValue(double value) noexcept : value_(value) {}
inline MetadataValue::MetadataValue(std::string value) noexcept : value_(std::move(value)) {}
inline MetadataValue::MetadataValue(std::string_view value) : value_(std::string(value)) {}
inline MetadataValue::MetadataValue(const char* value) : value_(std::string(value)) {}
inline MetadataValue::MetadataValue(Array value) noexcept : value_(std::move(value)) {}
inline MetadataValue::MetadataValue(Object value) noexcept : value_(std::move(value)) {}
inline MetadataValue MetadataValue::array() { return MetadataValue(Array{}); }
inline MetadataValue MetadataValue::object() { return MetadataValue(Object{}); }

}  // namespace ringload
