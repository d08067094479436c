// Errors as values: every fallible call returns Result<T>, whose error names the file, the tensor
// (if any), the byte offset and what was expected.
#pragma once

#include <cstdint>
#include <cstdlib>
#include <iosfwd>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <utility>
#include <variant>

namespace ringload {

// The most specific reason an operation failed; tests assert on it, so each kind has one meaning.
enum class ErrorKind : std::uint8_t {
  io,                   // a system call failed; the message carries strerror(errno)
  not_found,            // the file or the named tensor does not exist
  permission_denied,    // the file exists but cannot be opened
  invalid_argument,     // the caller passed an option that makes no sense
  truncated,            // the file ends before a structure it declares (interrupted download?)
  bad_magic,            // not a file of any supported format, or another family of that format
  unsupported_version,  // the right format, a version this reader does not read
  unsupported_feature,  // encryption, column-major layout, big-endian, ...
  header_too_large,     // a declared header length beyond the format's limit
  malformed_header,     // header bytes that do not follow the format's grammar
  invalid_name,         // a tensor or key name that is empty, too long or not UTF-8
  duplicate_name,       // two tensors (or metadata keys) with the same name
  unknown_dtype,        // a dtype code or name the format does not define
  invalid_shape,        // too many dims, element count overflow, a row not a whole number of blocks
  size_mismatch,        // the declared byte size differs from dtype x shape
  overflow,             // offset + size (or another sum) overflows 64 bits
  out_of_bounds,        // a range outside the section it must lie in
  overlap,              // two tensors (or sections) share bytes
  gap,                  // bytes no tensor covers where the format forbids holes
  misaligned,           // an offset that breaks the format's alignment rule
  unsorted_index,       // an index the format requires sorted is not
  checksum_mismatch,    // a stored CRC does not match the bytes
  decompression,        // a compressed payload does not decode to what its header promises
  no_device,            // a GPU sink was asked for where there is none
  cancelled,            // the caller's cancellation token fired
  out_of_memory,        // an allocation, mapping or pin failed for lack of memory
  // Whole checkpoints (many files): the set as a whole is damaged.
  missing_shard,          // a file the index or the split set names is not there
  misplaced_tensor,       // the index maps a tensor to a file that does not hold it
  unlisted_tensor,        // a shard holds a tensor the index does not list
  malformed_index,        // a checkpoint index that is not JSON, or has no weight_map
  split_count_mismatch,   // GGUF splits that disagree on split.count
  split_out_of_sequence,  // GGUF split.no not 0, 1, ... in file order
  split_tensor_count,     // the splits' tensors do not add up to split.tensors.count
  ambiguous_checkpoint,   // a directory that holds more than one candidate set of files
};

// The last kind: error codes (error_code.hpp) map every kind up to it.
inline constexpr ErrorKind kLastErrorKind = ErrorKind::ambiguous_checkpoint;

[[nodiscard]] std::string_view to_string(ErrorKind kind) noexcept;
std::ostream& operator<<(std::ostream& out, ErrorKind kind);

struct Error {
  ErrorKind kind = ErrorKind::io;
  std::string path;                     // the file (or from_bytes origin) the error is about
  std::string tensor;                   // the tensor, when the error is about one
  std::optional<std::uint64_t> offset;  // absolute byte offset of the offending bytes
  std::string message;                  // what was expected and, where it helps, what to do
  int os_errno = 0;                     // errno of the failed system call, 0 otherwise

  // "model.gguf: tensor 'blk.0.attn_q.weight': byte 8392704: <message> [truncated]"
  [[nodiscard]] std::string to_string() const;
};

[[nodiscard]] Error make_error(ErrorKind kind, std::string message,
                               std::optional<std::uint64_t> offset = std::nullopt, std::string tensor = {});

// errno (positive) → the matching kind (ENOENT → not_found, ENOMEM → out_of_memory, ...).
[[nodiscard]] Error sys_error(int err, std::string what, std::string path,
                              std::optional<std::uint64_t> offset = std::nullopt);

namespace detail {
template <class T, class U, class Self>
inline constexpr bool is_result_value_source_v =
    std::is_constructible_v<T, U&&> && !std::is_same_v<std::remove_cvref_t<U>, Self> &&
    !std::is_same_v<std::remove_cvref_t<U>, Error>;
}  // namespace detail

// A small expected<T, Error>. std::expected would do, but clang 14 (clang-tidy, libFuzzer, the
// sanitizer build) cannot use libstdc++ 12's <expected>, so we carry our own.
template <class T>
class [[nodiscard]] Result {
  static_assert(!std::is_reference_v<T>, "Result<T&> is not supported; return a pointer");
  static_assert(!std::is_same_v<std::remove_cv_t<T>, Error>);

 public:
  using value_type = T;

  Result(Error error)
      : state_(std::in_place_index<1>, std::move(error)) {}  // NOLINT(google-explicit-constructor)
  // NOLINTNEXTLINE(bugprone-forwarding-reference-overload): the constraint excludes Result and Error.
  template <class U = T, std::enable_if_t<detail::is_result_value_source_v<T, U, Result>, int> = 0>
  Result(U&& value)  // NOLINT(google-explicit-constructor)
      : state_(std::in_place_index<0>, std::forward<U>(value)) {}

  [[nodiscard]] bool has_value() const noexcept { return state_.index() == 0; }
  explicit operator bool() const noexcept { return has_value(); }

  T& value() & {
    check_value();
    return *std::get_if<0>(&state_);
  }
  const T& value() const& {
    check_value();
    return *std::get_if<0>(&state_);
  }
  T&& value() && {
    check_value();
    return std::move(*std::get_if<0>(&state_));
  }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T&& operator*() && { return std::move(*this).value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }

  Error& error() & {
    check_error();
    return *std::get_if<1>(&state_);
  }
  const Error& error() const& {
    check_error();
    return *std::get_if<1>(&state_);
  }
  Error&& error() && {
    check_error();
    return std::move(*std::get_if<1>(&state_));
  }

 private:
  // Using the wrong side is a programming error, like dereferencing an empty optional; we
  // never throw, so it ends the process loudly instead of reading garbage.
  void check_value() const {
    if (!has_value()) std::abort();
  }
  void check_error() const {
    if (has_value()) std::abort();
  }

  std::variant<T, Error> state_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}  // NOLINT(google-explicit-constructor)

  [[nodiscard]] bool has_value() const noexcept { return !error_.has_value(); }
  explicit operator bool() const noexcept { return has_value(); }
  void value() const {
    if (error_) std::abort();
  }

  Error& error() & { return *checked(); }
  const Error& error() const& { return *checked(); }
  Error&& error() && { return std::move(*checked()); }

 private:
  std::optional<Error>& checked() {
    if (!error_) std::abort();
    return error_;
  }
  const std::optional<Error>& checked() const {
    if (!error_) std::abort();
    return error_;
  }
  std::optional<Error> error_;
};

}  // namespace ringload

// Propagates an error from an expression returning Result<T>; yields the value otherwise.
// (A GNU statement expression: g++ and clang both have it, and it keeps call sites flat.)
#define RINGLOAD_TRY(expr)                                                     \
  ({                                                                           \
    auto ringload_try_result_ = (expr);                                        \
    if (!ringload_try_result_) return std::move(ringload_try_result_).error(); \
    std::move(ringload_try_result_).value();                                   \
  })

#define RINGLOAD_TRY_VOID(expr)                                                \
  do {                                                                         \
    auto ringload_try_result_ = (expr);                                        \
    if (!ringload_try_result_) return std::move(ringload_try_result_).error(); \
  } while (false)
