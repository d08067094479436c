// The io_uring reader's rare paths, each forced and seen to be taken: a short read has its rest
// requeued, EAGAIN is resubmitted, a full submission queue is flushed and refilled; the bytes stay
// exact through all of them.
#include "pipeline/uring_reader.hpp"

#include <fcntl.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "io/uring.hpp"
#include "pipeline/staging_ring.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

constexpr std::uint64_t kChunk = 1ULL << 20;
constexpr std::uint64_t kReadSize = 64ULL << 10;

struct Fixture {
  test::TempDir dir;
  std::vector<std::byte> contents;
  std::filesystem::path path;
  std::optional<Uring> uring;
  std::unique_ptr<StagingRing> ring;

  explicit Fixture(std::uint32_t uring_entries) {
    contents.resize(kChunk);
    for (std::size_t i = 0; i < contents.size(); ++i)
      contents[i] = static_cast<std::byte>((i * 131) ^ (i >> 9));
    path = test::write_file(dir.file("data.bin"), contents);
    auto created = Uring::create(uring_entries);
    if (created) uring = std::move(created).value();
    auto made = StagingRing::create(1, kChunk);
    if (made) ring = std::move(made).value();
  }
};

// Reads the whole file as one chunk of kReadSize pieces; returns the reader's stats.
UringReaderStats read_all(Fixture& f, FaultInjector fault, bool direct = false) {
  const int flags = O_RDONLY | (direct ? O_DIRECT : 0);
  auto fd = UniqueFd::open(f.path, flags);
  EXPECT_TRUE(fd) << fd.error().to_string();
  UringReader reader(
      UringReaderOptions{.uring = &*f.uring, .read_size = kReadSize, .fault = std::move(fault)});
  const std::uint32_t file = reader.add_file(UringFile{.fd = std::move(fd).value(),
                                                       .path = f.path.string(),
                                                       .file_size = kChunk,
                                                       .direct = direct,
                                                       .alignment = 4096});
  reader.attach(*f.ring);
  std::memset(f.ring->slot(0).data(), 0, kChunk);
  const Chunk chunk{.file_offset = 0, .length = kChunk, .valid = kChunk, .pieces = {}};
  auto started =
      reader.start(file, ChunkRequest{.chunk = 0, .slot = 0, .info = &chunk, .buffer = f.ring->slot(0)});
  EXPECT_TRUE(started) << started.error().to_string();
  std::vector<ChunkDone> done;
  while (started && done.empty()) {
    auto reaped = reader.reap(/*wait=*/true, done);
    if (!reaped) {
      ADD_FAILURE() << reaped.error().to_string();
      break;
    }
  }
  EXPECT_EQ(done.size(), 1U);
  EXPECT_EQ(std::memcmp(f.ring->slot(0).data(), f.contents.data(), kChunk), 0) << "bytes differ";
  EXPECT_EQ(reader.in_flight(), 0U);
  return reader.stats();
}

TEST(UringReader, AShortReadHasItsRestRequeued) {
  Fixture f(64);
  if (!f.uring) GTEST_SKIP() << "io_uring unavailable here";
  ASSERT_NE(f.ring, nullptr);
  for (const bool direct : {false, true}) {
    SCOPED_TRACE(direct ? "O_DIRECT" : "buffered");
    // The read at 128 KiB returns 12 KiB (three whole blocks), as a kernel may.
    const UringReaderStats stats = read_all(
        f,
        [](std::uint64_t offset, std::uint64_t) -> std::int64_t {
          return offset == 2 * kReadSize ? 12288 : 0;
        },
        direct);
    EXPECT_EQ(stats.short_reads_requeued, 1U);
    EXPECT_EQ(stats.retried, 0U);
  }
}

TEST(UringReader, EagainAndEintrAreSubmittedAgain) {
  Fixture f(64);
  if (!f.uring) GTEST_SKIP() << "io_uring unavailable here";
  ASSERT_NE(f.ring, nullptr);
  const UringReaderStats stats = read_all(f, [](std::uint64_t offset, std::uint64_t) -> std::int64_t {
    if (offset == 0) return -EAGAIN;
    if (offset == 5 * kReadSize) return -EINTR;
    return 0;
  });
  EXPECT_EQ(stats.retried, 2U);
  EXPECT_EQ(stats.short_reads_requeued, 0U);
}

TEST(UringReader, AFullSubmissionQueueIsFlushedAndRefilled) {
  // 16 reads through an 8-entry queue: the 9th finds no free entry.
  Fixture f(8);
  if (!f.uring) GTEST_SKIP() << "io_uring unavailable here";
  ASSERT_NE(f.ring, nullptr);
  const UringReaderStats stats = read_all(f, nullptr);
  EXPECT_GE(stats.queue_full_flushes, 1U);
}

TEST(UringReader, AnErrorNamesTheFileAndTheFailingReadsOffset) {
  Fixture f(64);
  if (!f.uring) GTEST_SKIP() << "io_uring unavailable here";
  ASSERT_NE(f.ring, nullptr);
  auto fd = UniqueFd::open(f.path, O_RDONLY);
  ASSERT_TRUE(fd);
  UringReader reader(UringReaderOptions{.uring = &*f.uring,
                                        .read_size = kReadSize,
                                        .fault = [](std::uint64_t offset, std::uint64_t) -> std::int64_t {
                                          return offset == 3 * kReadSize ? -EIO : 0;
                                        }});
  const std::uint32_t file = reader.add_file(UringFile{
      .fd = std::move(fd).value(), .path = f.path.string(), .file_size = kChunk, .alignment = 4096});
  const Chunk chunk{.file_offset = 0, .length = kChunk, .valid = kChunk, .pieces = {}};
  ASSERT_TRUE(
      reader.start(file, ChunkRequest{.chunk = 0, .slot = 0, .info = &chunk, .buffer = f.ring->slot(0)}));
  std::vector<ChunkDone> done;
  Result<void> reaped;
  while ((reaped = reader.reap(true, done)) && done.empty()) {
  }
  ASSERT_FALSE(reaped);
  EXPECT_EQ(reaped.error().kind, ErrorKind::io);
  EXPECT_EQ(reaped.error().os_errno, EIO);
  EXPECT_EQ(reaped.error().path, f.path.string());
  EXPECT_EQ(reaped.error().offset, 3 * kReadSize);
  reader.drain();
  EXPECT_EQ(reader.in_flight(), 0U);
}

}  // namespace
}  // namespace ringload
