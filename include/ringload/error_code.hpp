// ringload errors as boost::system::error_code, for the async API's completion handlers.
//
// An error_code holds a category and an int, not a string; yet "which file, which tensor, which
// byte" is what makes a load error actionable. So the int carries the ErrorKind in its low byte
// and an id in the rest, and the category keeps the full text of the most recent errors
// (kErrorCodeDetailKept of them) under those ids: ec.message() names the file, tensor and offset
// like Error::to_string(). Older codes fall back to the kind's description.
//
// Compare with a kind: `ec == ringload::ErrorKind::not_found`. A cancelled load is
// boost::asio::error::operation_aborted (ECANCELED in the system category), as Asio users expect.
#pragma once

#include <optional>
#include <type_traits>

#include <boost/system/error_category.hpp>
#include <boost/system/error_code.hpp>
#include <boost/system/error_condition.hpp>

#include "ringload/error.hpp"

namespace ringload {

inline constexpr int kErrorCodeDetailKept = 4096;

[[nodiscard]] const boost::system::error_category& error_category() noexcept;

// The code for `error`; kind `cancelled` maps to operation_aborted.
[[nodiscard]] boost::system::error_code make_error_code(const Error& error);
// The condition every code of `kind` compares equal to.
[[nodiscard]] boost::system::error_condition make_error_condition(ErrorKind kind) noexcept;
// The kind of a ringload code (nullopt for other categories, success included).
[[nodiscard]] std::optional<ErrorKind> error_kind(const boost::system::error_code& ec) noexcept;

}  // namespace ringload

template <>
struct boost::system::is_error_condition_enum<ringload::ErrorKind> : std::true_type {};
