#include "soak/soak_files.hpp"

#include <fcntl.h>

#include <algorithm>

#include <fmt/format.h>

#include "base/crc32.hpp"
#include "gen/gen.hpp"
#include "io/file.hpp"
#include "io/page_cache.hpp"
#include "ringload/checkpoint.hpp"
#include "support/fixtures.hpp"

namespace ringload::test {
namespace {

namespace fs = std::filesystem;

// Small on purpose: the soak is about what a thousand loads leave behind, not bandwidth, and must
// stay a few minutes on CI's 2 cores. Sizes differ so that loads take one slot, a few, or many.
struct GenSpec {
  const char* name;
  gen::GenOptions options;
};

std::vector<GenSpec> gen_specs() {
  return {
      {"gen-bf16.safetensors",
       {.format = Format::safetensors, .target_bytes = 6ULL << 20, .dtype = DType::BF16}},
      {"gen-q4k.gguf", {.format = Format::gguf, .target_bytes = 3ULL << 20, .dtype = DType::Q4_K}},
      {"gen-f32.apr", {.format = Format::apr, .target_bytes = 2ULL << 20, .dtype = DType::F32}},
      {"gen-zstd.apr",
       {.format = Format::apr,
        .target_bytes = 1ULL << 20,
        .dtype = DType::F32,
        .compression = gen::Compression::zstd}},
      {"gen-tiny.safetensors",
       {.format = Format::safetensors, .target_bytes = 64ULL << 10, .dtype = DType::F32}},
      // Checkpoints: one plan over several files (an HF index; a GGUF split set).
      {"gen-ckpt-hf",
       {.format = Format::safetensors, .target_bytes = 3ULL << 20, .dtype = DType::F32, .shards = 3}},
      {"gen-ckpt-gguf",
       {.format = Format::gguf, .target_bytes = 2ULL << 20, .dtype = DType::F32, .shards = 2}},
  };
}

bool is_model_file(const fs::path& path) {
  const auto ext = path.extension();
  return ext == ".safetensors" || ext == ".gguf" || ext == ".apr";
}

// The fixture models (top-level files and checkpoint directories; not malformed/, which holds the
// files that must fail), copied into `dir`.
std::vector<fs::path> copy_fixtures(const fs::path& dir) {
  std::vector<fs::path> copies;
  const auto fixtures = fixtures_dir();
  if (!fixtures) return copies;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(*fixtures, ec)) {
    const fs::path& from = entry.path();
    if (from.filename() == "malformed") continue;
    const bool checkpoint_dir = entry.is_directory();
    if (!checkpoint_dir && !(entry.is_regular_file() && is_model_file(from))) continue;
    const fs::path to = dir / from.filename();
    fs::copy(from, to, fs::copy_options::recursive, ec);
    EXPECT_FALSE(ec) << "copying " << from << " to " << to << ": " << ec.message();
    // Writable copies: the TempDir must be able to remove them (the fixtures are read-only).
    fs::permissions(to, fs::perms::owner_write, fs::perm_options::add, ec);
    if (checkpoint_dir) {
      for (const auto& f : fs::directory_iterator(to, ec)) {
        fs::permissions(f.path(), fs::perms::owner_write, fs::perm_options::add, ec);
      }
    }
    copies.push_back(to);
  }
  std::sort(copies.begin(), copies.end());
  return copies;
}

// Opens `path` as a checkpoint and takes every tensor's CRC-32, then lets go of every page.
SoakModel describe(const fs::path& path) {
  SoakModel model;
  model.name = path.filename().string();
  model.path = path;
  auto checkpoint = Checkpoint::open(path);
  EXPECT_TRUE(checkpoint) << checkpoint.error().to_string();
  if (!checkpoint) return model;
  for (const auto& file : checkpoint->files()) {
    model.files.emplace_back(file.path);
    auto opened = Model::load(file.path);
    EXPECT_TRUE(opened) << opened.error().to_string();
    if (opened && !opened->is_mmap()) model.decoded_at_open = true;
  }
  for (const auto& tensor : checkpoint->tensors()) {
    auto bytes = checkpoint->tensor_bytes(tensor.name);
    EXPECT_TRUE(bytes) << bytes.error().to_string();
    model.tensor_crcs.push_back(bytes ? crc32(*bytes) : 0);
    model.tensor_bytes += tensor.size;
  }
  auto released = checkpoint->release_cpu_pages();
  EXPECT_TRUE(released) << released.error().to_string();
  return model;
}

}  // namespace

std::vector<SoakModel> make_soak_models(const fs::path& dir) {
  std::vector<fs::path> paths = copy_fixtures(dir);
  for (auto& spec : gen_specs()) {
    spec.options.seed = 14;
    const fs::path out = dir / spec.name;
    auto report = gen::generate(out, spec.options);
    EXPECT_TRUE(report) << out << ": " << (report ? "" : report.error().to_string());
    paths.push_back(out);
  }
  std::vector<SoakModel> models;
  models.reserve(paths.size());
  for (const auto& path : paths) models.push_back(describe(path));
  for (const auto& model : models) {
    for (const auto& file : model.files) {
      // Written just now: dirty pages cannot be dropped until they are on disk.
      auto fd = UniqueFd::open(file, O_RDONLY);
      EXPECT_TRUE(fd) << fd.error().to_string();
      if (!fd) continue;
      EXPECT_EQ(::fsync(fd->get()), 0) << file;
      auto dropped = drop_file_cache(fd->get(), 0, 0, file.string());
      EXPECT_TRUE(dropped) << dropped.error().to_string();
    }
  }
  return models;
}

::testing::AssertionResult holds_soak_model(const HostSink& sink, const SoakModel& model) {
  if (sink.tensor_count() != model.tensor_crcs.size()) {
    return ::testing::AssertionFailure()
           << model.name << ": " << sink.tensor_count() << " tensors, expected " << model.tensor_crcs.size();
  }
  for (std::uint32_t i = 0; i < model.tensor_crcs.size(); ++i) {
    if (crc32(sink.bytes(i)) != model.tensor_crcs[i]) {
      return ::testing::AssertionFailure() << model.name << ": tensor " << i << " differs from the file";
    }
  }
  return ::testing::AssertionSuccess();
}

std::uint64_t cached_pages(const SoakModel& model) {
  std::uint64_t pages = 0;
  for (const auto& file : model.files) {
    auto residency = file_residency(file);
    EXPECT_TRUE(residency) << residency.error().to_string();
    if (residency) pages += residency->resident_pages;
  }
  return pages;
}

std::uint64_t cached_pages(const std::vector<SoakModel>& models, bool decoded_at_open) {
  std::uint64_t pages = 0;
  for (const auto& model : models) {
    if (model.decoded_at_open == decoded_at_open) pages += cached_pages(model);
  }
  return pages;
}

}  // namespace ringload::test
