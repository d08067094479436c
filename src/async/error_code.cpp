// The ringload error category: the value is the ErrorKind (plus one: 0 is success), nothing more.
#include "ringload/error_code.hpp"

#include <cerrno>
#include <string>

#include <fmt/format.h>

namespace ringload {
namespace {

// What a code says on its own (ec.message(), what() of a thrown system_error): the kind and what
// it means. Which file, tensor and byte is in the Error the completion passes beside the code.
std::string_view describe(ErrorKind kind) noexcept {
  switch (kind) {
    case ErrorKind::io: return "a system call failed";
    case ErrorKind::not_found: return "the file or the named tensor does not exist";
    case ErrorKind::permission_denied: return "the file exists but cannot be opened";
    case ErrorKind::invalid_argument: return "an option or argument that makes no sense";
    case ErrorKind::truncated: return "the file ends before a structure it declares";
    case ErrorKind::bad_magic: return "not a file of a supported format";
    case ErrorKind::unsupported_version: return "a format version this reader does not read";
    case ErrorKind::unsupported_feature: return "a format feature this reader does not support";
    case ErrorKind::header_too_large: return "a declared header length beyond the format's limit";
    case ErrorKind::malformed_header: return "header bytes that do not follow the format's grammar";
    case ErrorKind::invalid_name: return "a tensor or key name that is empty, too long or not UTF-8";
    case ErrorKind::duplicate_name: return "two tensors or metadata keys with the same name";
    case ErrorKind::unknown_dtype: return "a dtype the format does not define";
    case ErrorKind::invalid_shape: return "a tensor shape that cannot be";
    case ErrorKind::size_mismatch: return "a declared byte size that differs from dtype x shape";
    case ErrorKind::overflow: return "an offset or size that overflows 64 bits";
    case ErrorKind::out_of_bounds: return "a range outside the section it must lie in";
    case ErrorKind::overlap: return "two tensors or sections share bytes";
    case ErrorKind::gap: return "bytes no tensor covers where the format forbids holes";
    case ErrorKind::misaligned: return "an offset that breaks the format's alignment rule";
    case ErrorKind::unsorted_index: return "an index the format requires sorted is not";
    case ErrorKind::checksum_mismatch: return "a stored checksum does not match the bytes";
    case ErrorKind::decompression: return "a compressed payload does not decode as its header promises";
    case ErrorKind::no_device: return "no GPU device for a GPU sink";
    case ErrorKind::cancelled: return "cancelled";
    case ErrorKind::out_of_memory: return "out of memory (an allocation, mapping or pin failed)";
    case ErrorKind::missing_shard: return "a file the checkpoint's index or split set names is missing";
    case ErrorKind::misplaced_tensor: return "the index maps a tensor to a file that does not hold it";
    case ErrorKind::unlisted_tensor: return "a shard holds a tensor the index does not list";
    case ErrorKind::malformed_index: return "a checkpoint index that is not JSON or has no weight_map";
    case ErrorKind::split_count_mismatch: return "GGUF splits disagree on split.count";
    case ErrorKind::split_out_of_sequence: return "GGUF split.no out of sequence";
    case ErrorKind::split_tensor_count: return "GGUF splits do not add up to split.tensors.count";
    case ErrorKind::ambiguous_checkpoint: return "a directory with more than one candidate set of files";
  }
  return "unknown";
}

std::optional<ErrorKind> kind_of_value(int value) noexcept {
  const int k = value - 1;
  if (k < 0 || k > static_cast<int>(kLastErrorKind)) return std::nullopt;
  return static_cast<ErrorKind>(k);
}

class Category final : public boost::system::error_category {
 public:
  // A fixed id: codes compare equal across shared objects that each have a copy of the category.
  constexpr Category() noexcept : boost::system::error_category(0x72696e676c6f6164ULL) {}  // "ringload"

  [[nodiscard]] const char* name() const noexcept override { return "ringload"; }

  [[nodiscard]] std::string message(int value) const override {
    const auto kind = kind_of_value(value);
    if (!kind) return fmt::format("ringload error {}", value);
    return fmt::format("{} [{}]", describe(*kind), to_string(*kind));
  }
};

constexpr Category kCategory;

}  // namespace

const boost::system::error_category& error_category() noexcept { return kCategory; }

boost::system::error_code make_error_code(ErrorKind kind) noexcept {
  if (kind == ErrorKind::cancelled) return {ECANCELED, boost::system::system_category()};
  return {static_cast<int>(kind) + 1, kCategory};
}

boost::system::error_code make_error_code(const Error& error) noexcept { return make_error_code(error.kind); }

boost::system::error_condition make_error_condition(ErrorKind kind) noexcept {
  return {static_cast<int>(kind) + 1, kCategory};
}

std::optional<ErrorKind> error_kind(const boost::system::error_code& ec) noexcept {
  if (ec.category() != kCategory) return std::nullopt;
  return kind_of_value(ec.value());
}

}  // namespace ringload
