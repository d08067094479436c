// A rank's status as the groups exchange it: a fixed-size record (collectives move equal sizes
// from every rank): ok, the error kind, the plan digest, then the message cut on a UTF-8 boundary.
#pragma once

#include <array>
#include <cstddef>

#include "ringload/collective.hpp"

namespace ringload {

inline constexpr std::size_t kStatusRecordBytes = 1024;
using StatusRecord = std::array<char, kStatusRecordBytes>;

// What a rank tells the others of its failure: the error as to_string() writes it, less the
// trailing "[kind]" (the kind travels beside it and is appended again where it ends).
[[nodiscard]] RankStatus failed_status(const Error& e);

[[nodiscard]] StatusRecord encode_status(const RankStatus& status);
// `record`: kStatusRecordBytes bytes from another rank (a kind out of range reads as the last).
[[nodiscard]] RankStatus decode_status(const char* record);

}  // namespace ringload
