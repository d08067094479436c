// ringload errors as boost::system::error_code, for the async API's completion handlers.
//
// An error_code is a category and an int: it carries the ErrorKind and nothing else, so
// ec.message() gives the kind's description only. The full Error (file, tensor, byte offset,
// what was expected) travels beside the code, in the completion's own arguments:
// LoadReport::error for async_load, ReadyTensor::error for TensorReadiness waits. Nothing is kept
// in a process-wide table, so an error is never evicted or shared between unrelated loads.
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

[[nodiscard]] const boost::system::error_category& error_category() noexcept;

// The code for `kind`; `cancelled` maps to operation_aborted.
[[nodiscard]] boost::system::error_code make_error_code(ErrorKind kind) noexcept;
// The code for `error`: its kind (the rest of the Error is the caller's to pass along).
[[nodiscard]] boost::system::error_code make_error_code(const Error& error) noexcept;
// The condition every code of `kind` compares equal to.
[[nodiscard]] boost::system::error_condition make_error_condition(ErrorKind kind) noexcept;
// The kind of a ringload code (nullopt for other categories, success included).
[[nodiscard]] std::optional<ErrorKind> error_kind(const boost::system::error_code& ec) noexcept;

}  // namespace ringload

template <>
struct boost::system::is_error_condition_enum<ringload::ErrorKind> : std::true_type {};
