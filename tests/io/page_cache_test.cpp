#include "io/page_cache.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <vector>

#include "io/file.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

TEST(PageCache, ResidencyCountsPagesAndDropEvictsThem) {
  test::TempDir dir;
  if (test::is_memory_fs(dir.path())) GTEST_SKIP() << "tmpfs pages cannot be evicted";
  const auto path = dir.file("data.bin");
  std::vector<std::byte> bytes(1 << 20, std::byte{0x5A});
  test::write_file(path, bytes);
  auto fd = UniqueFd::open(path, O_RDONLY);
  ASSERT_TRUE(fd);
  ASSERT_EQ(::fsync(fd->get()), 0);
  std::vector<std::byte> sink(bytes.size());
  ASSERT_TRUE(pread_exact(fd->get(), sink, 0, path.string()));

  auto resident = file_residency(fd->get(), path.string());
  ASSERT_TRUE(resident) << resident.error().to_string();
  EXPECT_EQ(resident->total_pages, 256U);
  EXPECT_EQ(resident->resident_pages, 256U);

  ASSERT_TRUE(drop_file_cache(fd->get(), 0, 0, path.string()));
  auto dropped = file_residency(fd->get(), path.string());
  ASSERT_TRUE(dropped);
  EXPECT_EQ(dropped->resident_pages, 0U) << dropped->method;
}

TEST(PageCache, EmptyFileHasNoPages) {
  test::TempDir dir;
  const auto path = test::write_file(dir.file("empty"), {});
  auto r = file_residency(path);
  ASSERT_TRUE(r);
  EXPECT_EQ(r->total_pages, 0U);
  EXPECT_EQ(r->resident_pages, 0U);
}

TEST(PageCache, MissingFileIsNotFound) {
  test::TempDir dir;
  auto r = file_residency(dir.file("nope"));
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::not_found);
  EXPECT_EQ(r.error().path, dir.file("nope").string());
}

TEST(File, ShortReadIsTruncatedAtTheOffsetWhereBytesRanOut) {
  test::TempDir dir;
  const auto path = test::write_file(dir.file("short"), std::vector<std::byte>(100));
  auto fd = UniqueFd::open(path, O_RDONLY);
  ASSERT_TRUE(fd);
  std::vector<std::byte> out(64);
  auto r = pread_exact(fd->get(), out, 50, path.string());
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().kind, ErrorKind::truncated);
  EXPECT_EQ(r.error().offset, 100U);
  EXPECT_EQ(r.error().path, path.string());
}

}  // namespace
}  // namespace ringload
