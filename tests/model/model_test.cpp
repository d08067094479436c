#include "ringload/model.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include <fmt/format.h>

#include "io/page_cache.hpp"
#include "support/build_bytes.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

using test::ByteBuilder;
using test::TempDir;

constexpr std::uint64_t kPage = 4096;

// A safetensors image with U8 tensors of the given sizes, back to back; byte i of tensor k is
// (k * 31 + i * 7) & 0xFF so misplaced bytes show. The data starts at a multiple of
// `data_alignment` (the header is space-padded, as the format allows).
std::vector<std::byte> safetensors_image(const std::vector<std::uint64_t>& sizes,
                                         std::uint64_t data_alignment = kPage) {
  std::string header = "{";
  std::uint64_t begin = 0;
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    if (k > 0) header += ',';
    header += fmt::format(R"("t{}":{{"dtype":"U8","shape":[{}],"data_offsets":[{},{}]}})", k, sizes[k], begin,
                          begin + sizes[k]);
    begin += sizes[k];
  }
  header += "}";
  while ((8 + header.size()) % data_alignment != 0) header += ' ';
  ByteBuilder b;
  b.u64(header.size()).str(header);
  for (std::size_t k = 0; k < sizes.size(); ++k) {
    for (std::uint64_t i = 0; i < sizes[k]; ++i) b.u8(static_cast<std::uint8_t>((k * 31 + i * 7) & 0xFF));
  }
  return b.take();
}

std::filesystem::path write_synced(const std::filesystem::path& path, const std::vector<std::byte>& bytes) {
  test::write_file(path, bytes);
  // Dirty pages cannot be dropped from the page cache; release tests need clean ones.
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(::fsync(fd), 0);
  ::close(fd);
  return path;
}

std::uint64_t touch_every_page(std::span<const std::byte> bytes) {
  std::uint64_t sum = 0;
  for (std::size_t i = 0; i < bytes.size(); i += kPage) sum += static_cast<std::uint64_t>(bytes[i]);
  return sum;
}

TEST(Model, LoadMapsAnUncompressedFileAndServesExactBytes) {
  TempDir dir;
  auto path = write_synced(dir.file("m.safetensors"), safetensors_image({10, 3, 5000}));
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_TRUE(model->is_mmap());
  EXPECT_GE(model->fd(), 0);
  EXPECT_EQ(model->format(), Format::safetensors);
  EXPECT_EQ(model->tensor_names(), (std::vector<std::string>{"t0", "t1", "t2"}));
  auto t2 = model->tensor_bytes("t2");
  ASSERT_TRUE(t2);
  ASSERT_EQ(t2->size(), 5000U);
  for (std::size_t i = 0; i < t2->size(); ++i) {
    ASSERT_EQ(static_cast<std::uint8_t>((*t2)[i]), (2 * 31 + i * 7) & 0xFF) << "byte " << i;
  }
  auto info = model->tensor("t1");
  ASSERT_TRUE(info);
  EXPECT_EQ(info->dtype, DType::U8);
  EXPECT_EQ(info->shape, (std::vector<std::uint64_t>{3}));
  EXPECT_EQ(info->offset, model->data_offset() + 10);
}

TEST(Model, FromBytesIsHeapDataAndReleaseIsANoOp) {
  auto model = Model::from_bytes(safetensors_image({4, 4}), "net://weights");
  ASSERT_TRUE(model) << model.error().to_string();
  EXPECT_FALSE(model->is_mmap());
  EXPECT_EQ(model->fd(), -1);
  EXPECT_EQ(model->path(), "net://weights");
  EXPECT_TRUE(model->release_cpu_pages());
  EXPECT_TRUE(model->release_tensor_pages("t0"));
  auto t1 = model->tensor_bytes("t1");
  ASSERT_TRUE(t1);
  EXPECT_EQ(static_cast<std::uint8_t>((*t1)[1]), 31 + 7);
}

TEST(Model, UnknownTensorIsNotFoundNamingFileAndTensor) {
  auto model = Model::from_bytes(safetensors_image({4}), "origin.safetensors");
  ASSERT_TRUE(model);
  EXPECT_FALSE(model->tensor_bytes("nope"));
  EXPECT_FALSE(model->release_tensor_pages("nope"));
  auto r = model->tensor("nope");
  EXPECT_EQ(r.error().kind, ErrorKind::not_found);
  EXPECT_EQ(r.error().path, "origin.safetensors");
  EXPECT_EQ(r.error().tensor, "nope");
}

TEST(Model, MissingFileIsNotFoundWithThePath) {
  TempDir dir;
  auto r = Model::load(dir.file("absent.gguf"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::not_found);
  EXPECT_EQ(r.error().path, dir.file("absent.gguf").string());
}

TEST(Model, DirectoryIsInvalidArgument) {
  TempDir dir;
  auto r = Model::load(dir.path());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::invalid_argument);
}

TEST(Model, MovedModelKeepsItsMapping) {
  TempDir dir;
  auto path = write_synced(dir.file("m.safetensors"), safetensors_image({100}));
  auto loaded = Model::load(path);
  ASSERT_TRUE(loaded);
  Model moved = std::move(loaded).value();
  Model target = std::move(moved);
  auto bytes = target.tensor_bytes("t0");
  ASSERT_TRUE(bytes);
  EXPECT_EQ(static_cast<std::uint8_t>((*bytes)[99]), (99 * 7) & 0xFF);
}

TEST(ModelRelease, DropsTheFilesPagesFromMemoryAndPageCache) {
  TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "tmpfs keeps pages in memory by design";
  constexpr std::uint64_t kBytes = 32ULL << 20;
  auto path = write_synced(dir.file("big.safetensors"), safetensors_image({kBytes / 2, kBytes / 2}));
  auto model = Model::load(path);
  ASSERT_TRUE(model) << model.error().to_string();

  EXPECT_NE(touch_every_page(model->image()), 0U);
  auto before = file_residency(path);
  ASSERT_TRUE(before) << before.error().to_string();
  EXPECT_GE(before->resident_pages * 100, before->total_pages * 90)
      << before->resident_pages << " of " << before->total_pages << " pages resident after touching";

  ASSERT_TRUE(model->release_cpu_pages());
  auto after = file_residency(path);
  ASSERT_TRUE(after);
  EXPECT_LE(after->resident_pages * 100, after->total_pages * 1)
      << after->resident_pages << " of " << after->total_pages << " pages still resident (" << after->method
      << ")";

  // The mapping stays valid: a released page faults back in with the same bytes.
  EXPECT_EQ(static_cast<std::uint8_t>((*model->tensor_bytes("t1"))[3]), (31 + 3 * 7) & 0xFF);
}

TEST(ModelRelease, TensorReleaseDropsOnlyThatTensorsPages) {
  TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "tmpfs keeps pages in memory by design";
  // The page cache may hold a file in large folios (2 MiB on this kernel's ext4), and
  // POSIX_FADV_DONTNEED cannot drop a folio the range only partly covers. Tensors on 2 MiB
  // boundaries make the release exact; the pipeline deals with shared edge folios itself.
  constexpr std::uint64_t kFolio = 2ULL << 20;
  constexpr std::uint64_t kTensor = 4 * kFolio;
  auto path = write_synced(dir.file("two.safetensors"), safetensors_image({kTensor, kTensor}, kFolio));
  auto model = Model::load(path);
  ASSERT_TRUE(model);
  touch_every_page(model->image());
  const TensorInfo t0 = *model->tensor("t0");
  const TensorInfo t1 = *model->tensor("t1");
  ASSERT_EQ(t0.offset % kFolio, 0U);
  auto t0_before = file_residency(model->fd(), path.string(), t0.offset, t0.size);
  ASSERT_TRUE(t0_before);
  EXPECT_EQ(t0_before->resident_pages, kTensor / kPage);

  ASSERT_TRUE(model->release_tensor_pages("t0"));
  auto t0_after = file_residency(model->fd(), path.string(), t0.offset, t0.size);
  auto t1_after = file_residency(model->fd(), path.string(), t1.offset, t1.size);
  ASSERT_TRUE(t0_after && t1_after);
  EXPECT_EQ(t0_after->resident_pages, 0U) << t0_after->method;
  EXPECT_EQ(t1_after->resident_pages, kTensor / kPage) << "a neighbour's pages must stay";
}

}  // namespace
}  // namespace ringload
