#include "ringload/error.hpp"

#include <cerrno>
#include <cstring>
#include <ostream>

#include <fmt/format.h>

#include "base/utf8.hpp"

namespace ringload {

namespace {

// Takes the text by value so that valid text (nearly always) is moved, not copied.
std::string valid_utf8(std::string text) {
  if (!first_invalid_utf8(text)) return text;
  return escape_invalid_utf8(text);
}

}  // namespace

std::string_view to_string(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::io: return "io";
    case ErrorKind::not_found: return "not_found";
    case ErrorKind::permission_denied: return "permission_denied";
    case ErrorKind::invalid_argument: return "invalid_argument";
    case ErrorKind::truncated: return "truncated";
    case ErrorKind::bad_magic: return "bad_magic";
    case ErrorKind::unsupported_version: return "unsupported_version";
    case ErrorKind::unsupported_feature: return "unsupported_feature";
    case ErrorKind::header_too_large: return "header_too_large";
    case ErrorKind::malformed_header: return "malformed_header";
    case ErrorKind::invalid_name: return "invalid_name";
    case ErrorKind::duplicate_name: return "duplicate_name";
    case ErrorKind::unknown_dtype: return "unknown_dtype";
    case ErrorKind::invalid_shape: return "invalid_shape";
    case ErrorKind::size_mismatch: return "size_mismatch";
    case ErrorKind::overflow: return "overflow";
    case ErrorKind::out_of_bounds: return "out_of_bounds";
    case ErrorKind::overlap: return "overlap";
    case ErrorKind::gap: return "gap";
    case ErrorKind::misaligned: return "misaligned";
    case ErrorKind::unsorted_index: return "unsorted_index";
    case ErrorKind::checksum_mismatch: return "checksum_mismatch";
    case ErrorKind::decompression: return "decompression";
    case ErrorKind::no_device: return "no_device";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::out_of_memory: return "out_of_memory";
    case ErrorKind::missing_shard: return "missing_shard";
    case ErrorKind::misplaced_tensor: return "misplaced_tensor";
    case ErrorKind::unlisted_tensor: return "unlisted_tensor";
    case ErrorKind::malformed_index: return "malformed_index";
    case ErrorKind::split_count_mismatch: return "split_count_mismatch";
    case ErrorKind::split_out_of_sequence: return "split_out_of_sequence";
    case ErrorKind::split_tensor_count: return "split_tensor_count";
    case ErrorKind::ambiguous_checkpoint: return "ambiguous_checkpoint";
  }
  return "unknown";
}

std::ostream& operator<<(std::ostream& out, ErrorKind kind) { return out << to_string(kind); }

// Every text field is escaped where an Error is made (make_error, sys_error) and again where it is
// printed: fields are public and get amended after construction (`e.path = path`, `e.message +=`),
// and an Error built field by field never passes through either factory. Escaping is idempotent,
// so the second pass costs one scan of text that is almost always valid already.
std::string Error::to_string() const {
  std::string out = escape_invalid_utf8(path);
  auto part = [&out](const std::string& text) {
    if (!out.empty()) out += ": ";
    out += text;
  };
  if (!tensor.empty()) part(fmt::format("tensor '{}'", escape_invalid_utf8(tensor)));
  if (offset) part(fmt::format("byte {}", *offset));
  part(escape_invalid_utf8(message));
  out += fmt::format(" [{}]", ringload::to_string(kind));
  return out;
}

Error make_error(ErrorKind kind, std::string message, std::optional<std::uint64_t> offset,
                 std::string tensor) {
  return Error{.kind = kind,
               .path = {},
               .tensor = valid_utf8(std::move(tensor)),
               .offset = offset,
               .message = valid_utf8(std::move(message))};
}

Error sys_error(int err, std::string what, std::string path, std::optional<std::uint64_t> offset) {
  ErrorKind kind = ErrorKind::io;
  switch (err) {
    case ENOENT:
    case ENOTDIR: kind = ErrorKind::not_found; break;
    case EACCES:
    case EPERM: kind = ErrorKind::permission_denied; break;
    case ENOMEM: kind = ErrorKind::out_of_memory; break;
    case EINVAL: kind = ErrorKind::invalid_argument; break;
    default: break;
  }
  std::string message = fmt::format("{}: {} (errno {})", what, std::strerror(err), err);
  return Error{.kind = kind,
               .path = valid_utf8(std::move(path)),
               .tensor = {},
               .offset = offset,
               .message = valid_utf8(std::move(message)),
               .os_errno = err};
}

}  // namespace ringload
