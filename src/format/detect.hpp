#pragma once

#include <cstddef>
#include <span>

#include "ringload/error.hpp"
#include "ringload/model.hpp"

namespace ringload {

// Which format the first bytes announce. Other APR families (APRN, APR1, APR\0 + version 1) and
// files of no known format are bad_magic with a message saying what they look like; fewer bytes
// than any format's fixed header is `truncated`.
[[nodiscard]] Result<Format> detect_format(std::span<const std::byte> head);

}  // namespace ringload
