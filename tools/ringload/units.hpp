// Human byte sizes in and out: "2GiB" → 2147483648, 2147483648 → "2.00 GiB".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace ringload::cli {

// Accepts a plain byte count or a number with K/M/G/T (powers of 1024, optional "iB"/"B"), e.g.
// 4096, 64MiB, 2G, 1.5GiB. nullopt on anything else or overflow.
[[nodiscard]] std::optional<std::uint64_t> parse_size(std::string_view text);
[[nodiscard]] std::string format_bytes(std::uint64_t bytes);
[[nodiscard]] std::string format_rate(double bytes_per_second);  // "2.31 GiB/s"
[[nodiscard]] std::string format_seconds(double seconds);        // "850 ms", "12.4 s", "3 min 05 s"

}  // namespace ringload::cli
