// Copies out of a file mapping without dying when the file shrinks underneath: touching a mapped
// page past the new EOF raises SIGBUS, which these calls turn into ErrorKind::truncated.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>

#include "ringload/error.hpp"

namespace ringload {

// Runs `work` (which reads from `mapped`) so that a SIGBUS on an address inside `mapped` ends it
// early and returns truncated at the faulting address's offset into `mapped`. A SIGBUS anywhere
// else is passed on to the previous handler. `work` must not own resources that need unwinding
// (it is abandoned with siglongjmp): keep it to plain copies.
Result<void> guard_mapped_reads(std::span<const std::byte> mapped, const std::function<void()>& work);

// memcpy under guard_mapped_reads.
Result<void> copy_from_mapping(std::span<std::byte> dst, std::span<const std::byte> src);

}  // namespace ringload
