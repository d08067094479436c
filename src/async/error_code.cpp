// The ringload error category: kind in the low byte of the value, the full message kept by id.
#include "ringload/error_code.hpp"

#include <array>
#include <cerrno>
#include <mutex>
#include <string>

#include <fmt/format.h>

namespace ringload {
namespace {

constexpr int kKindBits = 8;
constexpr int kKindMask = (1 << kKindBits) - 1;
constexpr std::uint32_t kIdLimit = 1U << (31 - kKindBits);  // value stays a positive int

// The text of recent errors by id; slot = id % kept. Written and read under one mutex: errors are
// rare and message() is not on any hot path.
class DetailStore {
 public:
  std::uint32_t keep(std::string text) {
    const std::lock_guard lock(mutex_);
    const std::uint32_t id = next_id_;
    next_id_ = (next_id_ + 1) % kIdLimit;
    if (next_id_ == 0) next_id_ = 1;  // 0 means "no detail"
    Entry& entry = entries_[id % kErrorCodeDetailKept];
    entry.id = id;
    entry.text = std::move(text);
    return id;
  }
  std::optional<std::string> find(std::uint32_t id) const {
    const std::lock_guard lock(mutex_);
    const Entry& entry = entries_[id % kErrorCodeDetailKept];
    if (id == 0 || entry.id != id) return std::nullopt;
    return entry.text;
  }

 private:
  struct Entry {
    std::uint32_t id = 0;
    std::string text;
  };
  mutable std::mutex mutex_;
  std::uint32_t next_id_ = 1;
  std::array<Entry, kErrorCodeDetailKept> entries_{};
};

DetailStore& details() {
  static DetailStore store;
  return store;
}

std::optional<ErrorKind> kind_of_value(int value) {
  const int k = (value & kKindMask) - 1;
  if (k < 0 || k > static_cast<int>(kLastErrorKind)) return std::nullopt;
  return static_cast<ErrorKind>(k);
}

class Category final : public boost::system::error_category {
 public:
  // A fixed id: codes compare equal across shared objects that each have a copy of the category.
  constexpr Category() noexcept : boost::system::error_category(0x72696e676c6f6164ULL) {}  // "ringload"

  [[nodiscard]] const char* name() const noexcept override { return "ringload"; }

  [[nodiscard]] std::string message(int value) const override {
    const auto id = static_cast<std::uint32_t>(value) >> kKindBits;
    if (auto text = details().find(id)) return *text;
    const auto kind = kind_of_value(value);
    return kind ? fmt::format("ringload error [{}]", to_string(*kind))
                : fmt::format("ringload error {}", value);
  }

  [[nodiscard]] boost::system::error_condition default_error_condition(int value) const noexcept override {
    return {value & kKindMask, *this};  // the detail id does not change what the error is
  }
};

constexpr Category kCategory;

}  // namespace

const boost::system::error_category& error_category() noexcept { return kCategory; }

boost::system::error_code make_error_code(const Error& error) {
  if (error.kind == ErrorKind::cancelled) return {ECANCELED, boost::system::system_category()};
  const std::uint32_t id = details().keep(error.to_string());
  const int value = static_cast<int>((id << kKindBits) | (static_cast<std::uint32_t>(error.kind) + 1));
  return {value, kCategory};
}

boost::system::error_condition make_error_condition(ErrorKind kind) noexcept {
  return {static_cast<int>(kind) + 1, kCategory};
}

std::optional<ErrorKind> error_kind(const boost::system::error_code& ec) noexcept {
  if (ec.category() != kCategory) return std::nullopt;
  return kind_of_value(ec.value());
}

}  // namespace ringload
