// Small checkpoints for tests: `gen --shards` output, hand-made shards with chosen tensor names,
// and the text edits that damage an index.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "gen/gen.hpp"
#include "ringload/model.hpp"

namespace ringload::test {

// gen options for a small checkpoint: `tensors` F32-friendly tensors of about `bytes` in total.
gen::GenOptions small_checkpoint(Format format, std::uint32_t shards, std::uint32_t tensors = 12,
                                 std::uint64_t bytes = std::uint64_t{96} << 10);

// Runs gen::generate into `out` (a file, or a directory with options.shards); fails the test on error.
gen::GenReport generate_or_fail(const std::filesystem::path& out, const gen::GenOptions& options);

// A checkpoint of `shards` files in `dir` holding `tensors` F32 tensors of `tensor_bytes` each
// ("layers.<i>.weight"): shards of equal size, whatever the plan of gen would have made.
void write_uniform_checkpoint(const std::filesystem::path& dir, Format format, std::uint32_t shards,
                              std::uint32_t tensors, std::uint64_t tensor_bytes);

// A model file holding F32 vectors of 4 elements with these names (distinct bytes per name).
std::filesystem::path write_named_tensors(const std::filesystem::path& path, Format format,
                                          const std::vector<std::string>& names);

std::string read_text(const std::filesystem::path& path);
void write_text(const std::filesystem::path& path, const std::string& text);

}  // namespace ringload::test
