#include "ringload/memstat.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <vector>

#include "support/temp_dir.hpp"

namespace ringload {
namespace {

TEST(Memstat, AnonymousRssGrowsWithTouchedHeap) {
  auto before = process_memory();
  ASSERT_TRUE(before) << before.error().to_string();
  EXPECT_GT(before->rss_bytes, 0U);
  EXPECT_GE(before->hwm_bytes, before->rss_bytes);
  constexpr std::size_t kBytes = 64ULL << 20;
  auto block = std::make_unique<std::byte[]>(kBytes);
  std::memset(block.get(), 1, kBytes);
  auto after = process_memory();
  ASSERT_TRUE(after);
  EXPECT_GE(after->rss_anon_bytes, before->rss_anon_bytes + kBytes - (4ULL << 20));
  EXPECT_EQ(after->rss_bytes, after->rss_anon_bytes + after->rss_file_bytes + after->rss_shmem_bytes);
  volatile std::byte keep = block[kBytes - 1];
  (void)keep;
}

TEST(Memstat, OtherProcessByPid) {
  auto self = process_memory(::getpid());
  ASSERT_TRUE(self);
  EXPECT_GT(self->rss_bytes, 0U);
  auto none = process_memory(0x7FFFFFFF);
  ASSERT_FALSE(none);
  EXPECT_EQ(none.error().kind, ErrorKind::not_found);
}

TEST(Memstat, ZramAbsentDeviceIsAnAnswerNotAnError) {
  test::TempDir dir;
  auto z = zram_stat(dir.file("no-such-zram"));
  ASSERT_TRUE(z);
  EXPECT_FALSE(z->present);
  EXPECT_FALSE(z->initialised);
}

TEST(Memstat, ZramFiguresAreReadFromMmStat) {
  test::TempDir dir;
  const auto dev = dir.file("zram9");
  std::filesystem::create_directories(dev);
  const std::string disksize = "1073741824\n";
  const std::string mm = "  4096000  1024000  1200000        0  1300000       12        3        1\n";
  test::write_file(dev / "disksize", std::as_bytes(std::span(disksize)));
  test::write_file(dev / "mm_stat", std::as_bytes(std::span(mm)));
  auto z = zram_stat(dev);
  ASSERT_TRUE(z);
  EXPECT_TRUE(z->initialised);
  EXPECT_EQ(z->disksize_bytes, 1073741824U);
  EXPECT_EQ(z->orig_data_bytes, 4096000U);
  EXPECT_EQ(z->compr_data_bytes, 1024000U);
  EXPECT_EQ(z->mem_used_total_bytes, 1200000U);
  EXPECT_EQ(z->mem_used_max_bytes, 1300000U);
  EXPECT_EQ(z->same_pages, 12U);
  EXPECT_EQ(z->huge_pages, 1U);
}

TEST(Memstat, FileCacheStatReportsBytesAndMethod) {
  test::TempDir dir;
  const auto path = test::write_file(dir.file("f"), std::vector<std::byte>(10000, std::byte{1}));
  auto s = file_cache_stat(path);
  ASSERT_TRUE(s) << s.error().to_string();
  EXPECT_EQ(s->file_bytes, 10000U);
  EXPECT_EQ(s->total_pages, 3U);
  EXPECT_LE(s->resident_bytes, 10000U);
  EXPECT_TRUE(s->method == "cachestat" || s->method == "mincore") << s->method;
}

}  // namespace
}  // namespace ringload

namespace ringload {
namespace {

// O_DIRECT reads come from storage whatever the page cache holds: the meter counts every byte.
TEST(Memstat, StorageReadMeterCountsDirectReads) {
  if (!storage_read_bytes()) GTEST_SKIP() << "no /proc/self/io: " << storage_read_bytes().error().to_string();
  test::TempDir dir;
  const auto path = dir.file("direct.bin");
  constexpr std::size_t kBytes = 1 << 20;
  {
    const std::vector<char> bytes(kBytes, 'x');
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(::write(fd, bytes.data(), bytes.size()), static_cast<ssize_t>(bytes.size()));
    ASSERT_EQ(::fsync(fd), 0);
    ::close(fd);
  }
  const int fd = ::open(path.c_str(), O_RDONLY | O_DIRECT | O_CLOEXEC);
  if (fd < 0) GTEST_SKIP() << "O_DIRECT refused here: " << std::strerror(errno);
  void* buffer = nullptr;
  ASSERT_EQ(::posix_memalign(&buffer, 4096, kBytes), 0);
  const std::unique_ptr<void, decltype(&std::free)> owned(buffer, &std::free);
  const StorageReadMeter meter;
  const ssize_t got = ::pread(fd, buffer, kBytes, 0);
  ::close(fd);
  ASSERT_EQ(got, static_cast<ssize_t>(kBytes));
  EXPECT_GE(meter.bytes(), kBytes);
}

}  // namespace
}  // namespace ringload
