// The pread reader's rare paths, each forced and seen to be taken: a short read has its rest read,
// EAGAIN and EINTR are read again, a read error names the file and the read's offset, and a
// reader destroyed (or drained) with reads queued leaves none running and writes nothing after.
#include "pipeline/pread_reader.hpp"

#include <fcntl.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <vector>

#include "pipeline/staging_ring.hpp"
#include "support/temp_dir.hpp"

namespace ringload {
namespace {

constexpr std::uint64_t kChunk = 1ULL << 20;
constexpr std::uint64_t kReadSize = 64ULL << 10;
constexpr std::uint32_t kSlots = 4;

struct Fixture {
  test::TempDir dir;
  std::vector<std::byte> contents;
  std::filesystem::path path;
  std::unique_ptr<StagingRing> ring;
  std::unique_ptr<PreadPool> pool;  // the last reader()'s: made anew with its thread count

  explicit Fixture(std::uint64_t bytes = kChunk * kSlots) {
    contents.resize(bytes);
    for (std::size_t i = 0; i < contents.size(); ++i)
      contents[i] = static_cast<std::byte>((i * 131) ^ (i >> 9));
    path = test::write_file(dir.file("data.bin"), contents);
    auto made = StagingRing::create(kSlots, kChunk);
    if (made) ring = std::move(made).value();
  }

  // The previous reader must be gone: its pool goes with this call.
  [[nodiscard]] std::unique_ptr<PreadReader> reader(FaultInjector fault, bool direct,
                                                    std::uint32_t threads = 4) {
    auto fd = UniqueFd::open(path, O_RDONLY | (direct ? O_DIRECT : 0));
    EXPECT_TRUE(fd) << fd.error().to_string();
    if (!fd) return nullptr;
    pool = std::make_unique<PreadPool>(threads);
    return std::make_unique<PreadReader>(*pool, PreadReaderOptions{.fd = std::move(fd).value(),
                                                                   .path = path.string(),
                                                                   .alignment = 4096,
                                                                   .direct = direct,
                                                                   .read_size = kReadSize,
                                                                   .fault = std::move(fault)});
  }
};

// Reads the file's chunks (one per slot, the last `valid` bytes past which the file ends) and
// waits for all; returns the first error, or none with every slot byte-exact.
Result<void> read_all(Fixture& f, PreadReader& reader) {
  std::vector<Chunk> chunks;
  for (std::uint32_t s = 0; s < kSlots; ++s) {
    const std::uint64_t at = s * kChunk;
    const std::uint64_t valid = at >= f.contents.size() ? 0 : std::min(kChunk, f.contents.size() - at);
    chunks.push_back(Chunk{.file_offset = at, .length = kChunk, .valid = valid, .pieces = {}});
    std::memset(f.ring->slot(s).data(), 0, kChunk);
  }
  for (std::uint32_t s = 0; s < kSlots; ++s) {
    RINGLOAD_TRY_VOID(
        reader.start(ChunkRequest{.chunk = s, .slot = s, .info = &chunks[s], .buffer = f.ring->slot(s)}));
  }
  std::vector<ChunkDone> done;
  while (done.size() < kSlots) RINGLOAD_TRY_VOID(reader.reap(/*wait=*/true, done));
  EXPECT_EQ(reader.in_flight(), 0U);
  for (const ChunkDone& d : done) {
    const Chunk& c = chunks[d.chunk];
    EXPECT_EQ(d.bytes.size(), c.valid) << "chunk " << d.chunk;
    EXPECT_EQ(d.bytes.data(), f.ring->slot(d.chunk).data()) << "chunk " << d.chunk;
    EXPECT_EQ(std::memcmp(d.bytes.data(), f.contents.data() + c.file_offset, c.valid), 0)
        << "chunk " << d.chunk << " differs";
  }
  return {};
}

TEST(PreadReader, ReadsEveryChunkByteExactBufferedAndDirect) {
  Fixture f;
  ASSERT_NE(f.ring, nullptr);
  for (const bool direct : {false, true}) {
    SCOPED_TRACE(direct ? "O_DIRECT" : "buffered");
    auto reader = f.reader(nullptr, direct);
    ASSERT_NE(reader, nullptr);
    EXPECT_EQ(f.pool->threads(), 0U) << "threads start with the first reads";
    auto read = read_all(f, *reader);
    ASSERT_TRUE(read) << read.error().to_string();
    EXPECT_EQ(f.pool->threads(), 4U) << "64 pieces in flight: every thread it may have";
    EXPECT_EQ(reader->bytes_read(), f.contents.size());
    EXPECT_EQ(reader->stats().short_reads_requeued, 0U);
  }
}

TEST(PreadReader, AFileEndingMidChunkReadsOnlyWhatExists) {
  // 2.5 chunks: the third chunk's O_DIRECT read runs past EOF and comes back short; the fourth
  // has nothing to read at all.
  Fixture f(kChunk * 2 + kChunk / 2 + 100);
  ASSERT_NE(f.ring, nullptr);
  for (const bool direct : {false, true}) {
    SCOPED_TRACE(direct ? "O_DIRECT" : "buffered");
    auto reader = f.reader(nullptr, direct);
    ASSERT_NE(reader, nullptr);
    auto read = read_all(f, *reader);
    ASSERT_TRUE(read) << read.error().to_string();
    EXPECT_EQ(reader->bytes_read(), f.contents.size());
  }
}

TEST(PreadReader, AFileReadInOnePieceStartsOneThread) {
  Fixture f(5000);
  ASSERT_NE(f.ring, nullptr);
  auto reader = f.reader(nullptr, /*direct=*/true);
  ASSERT_NE(reader, nullptr);
  auto read = read_all(f, *reader);
  ASSERT_TRUE(read) << read.error().to_string();
  EXPECT_EQ(f.pool->threads(), 1U);
}

TEST(PreadReader, AShortReadHasItsRestRead) {
  Fixture f;
  ASSERT_NE(f.ring, nullptr);
  for (const bool direct : {false, true}) {
    SCOPED_TRACE(direct ? "O_DIRECT" : "buffered");
    // Every fourth piece comes back with only 8 KiB.
    std::uint32_t asked = 0;
    auto reader = f.reader(
        [&](std::uint64_t, std::uint64_t) -> std::int64_t { return ++asked % 4 == 0 ? 8192 : 0; }, direct);
    ASSERT_NE(reader, nullptr);
    auto read = read_all(f, *reader);
    ASSERT_TRUE(read) << read.error().to_string();
    EXPECT_EQ(reader->stats().short_reads_requeued, asked / 4);
  }
}

TEST(PreadReader, EagainAndEintrAreReadAgain) {
  Fixture f;
  ASSERT_NE(f.ring, nullptr);
  std::uint32_t asked = 0;
  auto reader = f.reader(
      [&](std::uint64_t, std::uint64_t) -> std::int64_t {
        ++asked;
        return asked % 3 == 0 ? -EAGAIN : asked % 5 == 0 ? -EINTR : 0;
      },
      /*direct=*/true);
  ASSERT_NE(reader, nullptr);
  auto read = read_all(f, *reader);
  ASSERT_TRUE(read) << read.error().to_string();
  EXPECT_EQ(reader->stats().retried, asked / 3 + asked / 5 - asked / 15);
}

TEST(PreadReader, AReadErrorNamesTheFileAndTheReadsOffsetAndDrainLeavesNothingRunning) {
  Fixture f;
  ASSERT_NE(f.ring, nullptr);
  const std::uint64_t bad = 2 * kChunk + 3 * kReadSize;
  auto reader =
      f.reader([&](std::uint64_t offset, std::uint64_t) -> std::int64_t { return offset == bad ? -EIO : 0; },
               /*direct=*/true, /*threads=*/2);
  ASSERT_NE(reader, nullptr);
  auto read = read_all(f, *reader);
  ASSERT_FALSE(read) << "an EIO went unnoticed";
  EXPECT_EQ(read.error().kind, ErrorKind::io);
  EXPECT_EQ(read.error().os_errno, EIO);
  EXPECT_EQ(read.error().path, f.path.string());
  EXPECT_EQ(read.error().offset, bad);
  reader->drain();
  EXPECT_EQ(reader->in_flight(), 0U);
  // Drained: no worker writes into the slots any more.
  for (std::uint32_t s = 0; s < kSlots; ++s) std::memset(f.ring->slot(s).data(), 0xAB, kChunk);
  reader.reset();  // joins the workers
  for (std::uint32_t s = 0; s < kSlots; ++s) {
    EXPECT_EQ(f.ring->slot(s)[kChunk - 1], std::byte{0xAB}) << "slot " << s << " written after drain";
  }
}

TEST(PreadReader, DestroyedWithReadsQueuedLeavesNoneRunning) {
  Fixture f;
  ASSERT_NE(f.ring, nullptr);
  std::vector<Chunk> chunks;
  for (std::uint32_t s = 0; s < kSlots; ++s) {
    chunks.push_back(Chunk{.file_offset = s * kChunk, .length = kChunk, .valid = kChunk, .pieces = {}});
  }
  for (int round = 0; round < 20; ++round) {
    auto reader = f.reader(nullptr, /*direct=*/true, /*threads=*/3);
    ASSERT_NE(reader, nullptr);
    for (std::uint32_t s = 0; s < kSlots; ++s) {
      ASSERT_TRUE(
          reader->start(ChunkRequest{.chunk = s, .slot = s, .info = &chunks[s], .buffer = f.ring->slot(s)}));
    }
    if (round % 2 == 0) {
      reader->drain();  // what the pipeline does before the slots go elsewhere
      EXPECT_EQ(reader->in_flight(), 0U);
    }
    reader.reset();  // the rest: queued reads dropped, the ones running finished
  }
}

}  // namespace
}  // namespace ringload
