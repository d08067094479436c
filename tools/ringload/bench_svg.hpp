// Draws a `ringload bench` result (its --json document) as one self-contained SVG: throughput and
// memory side by side (bars with min–max whiskers) and the overlap timeline of one run of the best
// strategy (read / copy / release lanes).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace ringload::cli {

[[nodiscard]] std::string render_bench_svg(const nlohmann::ordered_json& bench);

}  // namespace ringload::cli
