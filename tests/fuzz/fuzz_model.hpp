// Shared body of the parser fuzz targets: parse arbitrary bytes as a model and check the
// invariants every accepted table must hold. A violated invariant aborts, which libFuzzer reports.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <vector>

#include "ringload/model.hpp"

namespace ringload::fuzz {

inline void check_model(const std::uint8_t* data, std::size_t size) {
  const auto* begin = reinterpret_cast<const std::byte*>(data);
  auto model = Model::from_bytes(std::vector<std::byte>(begin, begin + size), "fuzz-input");
  if (!model) {
    // Every error must say something. One about the bytes (bad syntax, a repeated name) points
    // into them or just past them, where text ran out: the JSON reader maps positions in its own
    // padded copy back to the file. (Truncation errors may name where missing bytes would be.)
    const Error& error = model.error();
    if (error.message.empty()) std::abort();
    const bool about_present_bytes =
        error.kind == ErrorKind::malformed_header || error.kind == ErrorKind::duplicate_name;
    if (about_present_bytes && error.offset && *error.offset > size) std::abort();
    return;
  }
  const std::uint64_t image_size = model->image().size();
  std::uint64_t previous_offset = 0;
  for (const TensorInfo& t : model->tensors()) {
    if (t.offset > image_size || t.size > image_size - t.offset) std::abort();
    if (t.offset < previous_offset) std::abort();  // sorted by offset
    previous_offset = t.offset;
    auto bytes = model->tensor_bytes(t.name);
    if (!bytes || bytes->size() != t.size) std::abort();
    // Touch the first and last byte: ASan catches any span that escapes the image.
    if (t.size > 0) {
      volatile std::byte first = bytes->front();
      volatile std::byte last = bytes->back();
      (void)first;
      (void)last;
    }
  }
}

}  // namespace ringload::fuzz
