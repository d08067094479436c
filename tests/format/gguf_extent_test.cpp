// The GGUF header walk Model::load uses to ask for a header in large requests without reading past
// it: over any prefix its bound never passes the header's real end, and with the whole header it
// lands exactly on the end of the tensor infos (where the data starts, less the alignment padding).
#include "format/gguf_extent.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "gen/gen.hpp"
#include "io/file.hpp"
#include "ringload/model.hpp"
#include "support/fixtures.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

// Walks `bytes` in prefixes growing by `step`, checking each bound against `header_end`, and
// returns the final answer.
std::uint64_t walk_in_steps(std::span<const std::byte> bytes, std::uint64_t header_end, std::uint64_t step) {
  GgufHeaderWalk walk;
  std::uint64_t last = 0;
  for (std::uint64_t have = 0;; have = std::min<std::uint64_t>(bytes.size(), have + step)) {
    const std::uint64_t bound = walk.advance(bytes.first(have));
    EXPECT_LE(bound, header_end) << "with " << have << " bytes the bound passed the header's end";
    EXPECT_GE(bound, last) << "the bound went back with " << have << " bytes";
    if (walk.done()) {
      EXPECT_LE(bound, have) << "done before the prefix held the header";
      return bound;
    }
    EXPECT_GT(bound, have) << "not done, so the header must reach past the prefix";
    last = bound;
    if (have == bytes.size()) return bound;
  }
}

// What the parser says of the file, independently: its data starts at the tensor infos' end
// rounded up to the alignment.
void expect_walk_ends_at_the_data(const std::filesystem::path& path) {
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  auto bytes = read_file(path);
  ASSERT_TRUE(bytes) << bytes.error().to_string();
  const std::uint64_t data = model->data_offset();
  const std::uint64_t alignment = model->alignment();
  for (const std::uint64_t step : {std::uint64_t{97}, std::uint64_t{4096}, std::uint64_t{1} << 20}) {
    const std::uint64_t end = walk_in_steps(*bytes, data, step);
    EXPECT_LE(end, data) << path << " step " << step;
    EXPECT_GT(end + alignment, data) << path << " step " << step
                                     << ": the walk stopped short of the infos' end";
    EXPECT_EQ((end + alignment - 1) / alignment * alignment, data) << path << " step " << step;
  }
}

TEST(GgufHeaderWalk, EndsExactlyAtTheTensorInfosOfAGeneratedLlama) {
  test::TempDir tmp;
  // A vocabulary (string, f32 and i32 arrays), scalars of several types, and 12 tensor infos.
  const auto path = tmp.file("llama.gguf");
  ASSERT_TRUE(gen::generate(
      path, gen::GenOptions{.format = Format::gguf, .target_bytes = 2 << 20, .dtype = DType::F16}));
  expect_walk_ends_at_the_data(path);
}

TEST(GgufHeaderWalk, EndsExactlyAtTheTensorInfosOfRealFiles) {
  const auto dir = test::fixtures_dir();
  if (!dir) GTEST_SKIP() << "fixtures not found (set RINGLOAD_FIXTURES)";
  // v1 (u32 lengths), v2, v3 with every KV type, alignment 64, vocabularies of 150k+ strings.
  const std::vector<std::string> names = {"crabml-tinyllamas-stories-260k-f32-v1.gguf",
                                          "ggml-vocab-aquila.gguf",
                                          "ggml-vocab-qwen2.gguf",
                                          "ggml-vocab-nomic-bert-moe.gguf",
                                          "emel-lifecycle-smoke-align64.gguf",
                                          "ollama-llama-2-tiny-random.gguf"};
  std::size_t walked = 0;
  for (const auto& name : names) {
    if (!std::filesystem::exists(*dir / name)) continue;
    SCOPED_TRACE(name);
    expect_walk_ends_at_the_data(*dir / name);
    ++walked;
  }
  if (walked == 0) GTEST_SKIP() << "none of the GGUF fixtures is there";
}

TEST(GgufHeaderWalk, AnUnknownValueTypeStopsTheWalkWhereItIs) {
  // v3, 1 tensor, 1 key "k" of type 99.
  std::vector<std::byte> bytes;
  auto put = [&](std::uint64_t v, int n) {
    for (int i = 0; i < n; ++i) bytes.push_back(std::byte(v >> (8 * i)));
  };
  put(0x46554747, 4);  // "GGUF"
  put(3, 4);
  put(1, 8);
  put(1, 8);
  put(1, 8);
  bytes.push_back(std::byte{'k'});
  put(99, 4);
  bytes.resize(4096);
  GgufHeaderWalk walk;
  const std::uint64_t first = walk.advance(std::span(bytes).first(24));
  const std::uint64_t stopped = walk.advance(bytes);
  EXPECT_FALSE(walk.done());
  EXPECT_EQ(walk.advance(bytes), stopped) << "a stopped walk does not move";
  EXPECT_GE(stopped, first);
  EXPECT_LT(stopped, 64U) << "nothing past the broken key is claimed";
}

}  // namespace
}  // namespace ringload
