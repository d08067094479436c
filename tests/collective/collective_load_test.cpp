// The collective load over an in-process group (W ranks as W threads, support/thread_group.hpp):
// every rank ends with every tensor byte-exact and the single-process digests; the ranks' reads add
// up to the checkpoint once (plus alignment slack), not W times; each rank receives exactly what it
// did not read; a null sink gets the bytes through write(); a read error on one rank, or a cancel,
// ends every rank with an error naming it and frees every sink.
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstdint>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "collective/collective_load.hpp"
#include "ringload/checkpoint.hpp"
#include "ringload/memstat.hpp"
#include "support/checkpoints.hpp"
#include "support/pipeline.hpp"
#include "support/temp_dir.hpp"
#include "support/thread_group.hpp"

namespace ringload {
namespace {

constexpr std::uint32_t kShards = 4;
constexpr std::uint64_t kAlignmentSlack = 4096;  // an O_DIRECT page at each end of a rank's run in a file

struct Reference {
  std::map<std::string, std::string> sha256;            // per tensor
  std::map<std::string, std::vector<std::byte>> bytes;  // per tensor
  std::uint64_t total = 0;
};

Reference load_alone(const Checkpoint& checkpoint) {
  Reference ref;
  HostSink sink;
  PipelineOptions options = test::small_ring(Strategy::mmap_pipelined);
  options.checksum_sha256 = true;
  auto report = load_into(checkpoint, sink, options);
  EXPECT_TRUE(report) << (report ? "" : report.error().to_string());
  if (!report) return ref;
  for (std::uint32_t i = 0; i < report->digests.size(); ++i) {
    const TensorDigest& d = report->digests[i];
    ref.sha256[d.name] = d.sha256;
    const auto bytes = sink.bytes(i);
    ref.bytes[d.name].assign(bytes.begin(), bytes.end());
  }
  ref.total = report->bytes;
  return ref;
}

struct RankOutcome {
  std::optional<LoadReport> report;
  std::optional<Error> error;
  std::map<std::string, std::vector<std::byte>> bytes;  // host sink: what it holds after the load
  std::uint64_t null_bytes_seen = 0;                    // null sink: bytes it was handed
  std::uint64_t allocated_after = 0;
};

// A null sink whose write() fails for bytes that do not come from a staging slot: the bytes the
// group delivered, which a collective load writes after the rounds' reads.
class FailingDeliverySink final : public Sink {
 public:
  [[nodiscard]] std::string_view name() const override { return "failing"; }
  Result<void> prepare(std::span<const SinkTensor> tensors) override { return inner_.prepare(tensors); }
  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override {
    if (slot == kNoSlot) return make_error(ErrorKind::io, "injected: the device refused the bytes", offset);
    return inner_.write(index, offset, bytes, slot);
  }
  Result<void> finish() override { return {}; }
  [[nodiscard]] Destination destination(std::uint32_t index) const override {
    return inner_.destination(index);
  }

 private:
  NullSink inner_;
};

// Runs one collective load per rank, each on a thread of its own, with its own engine and sink
// (rank `failing_rank`'s a FailingDeliverySink). `setup(rank, engine, options, collective)` may
// inject a fault or change the rank's options.
template <class Setup>
std::vector<RankOutcome> run_group(const Checkpoint& checkpoint, std::uint32_t world,
                                   std::uint64_t round_bytes, bool null_sink, Strategy strategy, Setup setup,
                                   std::optional<std::uint32_t> failing_rank = std::nullopt) {
  test::ThreadGroupHub hub(world);
  std::vector<RankOutcome> outcomes(world);
  std::vector<std::thread> ranks;
  for (std::uint32_t rank = 0; rank < world; ++rank) {
    ranks.emplace_back([&, rank] {
      test::ThreadGroup group(hub, rank);
      LoadEngine engine;
      PipelineOptions options = test::small_ring(strategy);
      options.checksum_sha256 = true;
      CollectiveOptions collective{.round_bytes = round_bytes};
      setup(rank, engine, options, collective);
      HostSink host;
      NullSink null;
      FailingDeliverySink failing;
      Sink& sink = failing_rank == rank ? static_cast<Sink&>(failing)
                   : null_sink          ? static_cast<Sink&>(null)
                                        : host;
      auto report = load_collective(engine, checkpoint, sink, options, group, collective);
      RankOutcome& out = outcomes[rank];
      if (!report) {
        out.error = report.error();
      } else {
        for (std::uint32_t i = 0; i < report->digests.size() && !null_sink; ++i) {
          const auto bytes = host.bytes(i);
          out.bytes[report->digests[i].name].assign(bytes.begin(), bytes.end());
        }
        out.report = std::move(report).value();
      }
      out.null_bytes_seen = null.bytes_seen();
      out.allocated_after = host.allocated_bytes();
    });
  }
  for (auto& t : ranks) t.join();
  return outcomes;
}

class CollectiveLoadTest : public ::testing::Test {
 protected:
  void SetUp() override {
    test::generate_or_fail(dir_.file("ckpt"),
                           test::small_checkpoint(Format::safetensors, kShards, 0, std::uint64_t{12} << 20));
    auto opened = Checkpoint::open(dir_.file("ckpt"));
    ASSERT_TRUE(opened) << opened.error().to_string();
    checkpoint_.emplace(std::move(opened).value());
    reference_ = load_alone(*checkpoint_);
    ASSERT_GT(reference_.total, 0U);
  }

  test::TempDir dir_;
  std::optional<Checkpoint> checkpoint_;
  Reference reference_;
};

TEST_F(CollectiveLoadTest, EveryRankGetsEveryTensorWhileTheGroupReadsTheCheckpointOnce) {
  for (const std::uint32_t world : {1U, 2U, 3U, 4U}) {
    for (const std::uint64_t round_bytes : {std::uint64_t{96} << 10, std::uint64_t{256} << 20}) {
      SCOPED_TRACE(testing::Message() << "world " << world << ", rounds of " << round_bytes);
      const auto outcomes =
          run_group(*checkpoint_, world, round_bytes, false, Strategy::mmap_pipelined,
                    [](std::uint32_t, LoadEngine&, PipelineOptions&, CollectiveOptions&) {});
      std::uint64_t read = 0;
      for (std::uint32_t rank = 0; rank < world; ++rank) {
        const RankOutcome& out = outcomes[rank];
        ASSERT_TRUE(out.report) << out.error->to_string();
        const LoadReport& r = *out.report;
        ASSERT_TRUE(r.collective);
        EXPECT_EQ(r.collective->rank, rank);
        EXPECT_EQ(r.collective->world, world);
        EXPECT_EQ(r.bytes, reference_.total);
        ASSERT_EQ(r.digests.size(), reference_.sha256.size());
        for (const TensorDigest& d : r.digests) EXPECT_EQ(d.sha256, reference_.sha256.at(d.name)) << d.name;
        for (const auto& [name, bytes] : reference_.bytes) EXPECT_TRUE(out.bytes.at(name) == bytes) << name;
        // What a rank did not read, it received; what it read, nobody sent it.
        EXPECT_LE(r.collective->bytes_received, reference_.total);
        EXPECT_GE(r.bytes_read + kAlignmentSlack * 2 * kShards,
                  reference_.total - r.collective->bytes_received);
        if (world == 1) EXPECT_EQ(r.collective->bytes_received, 0U);
        read += r.bytes_read;
      }
      EXPECT_GE(read, reference_.total);
      EXPECT_LE(read, reference_.total + kAlignmentSlack * 2 * kShards * world);
    }
  }
}

// Per file, a rank's report says what ran for it over all rounds: a file first met in a round
// that read nothing of it (reported as the strategy asked for) and read in a later one names the
// strategy auto chose there, and the files' bytes with what arrived make up the load.
TEST_F(CollectiveLoadTest, EachFilesReportNamesTheStrategyThatReadIt) {
  const auto outcomes = run_group(*checkpoint_, 2, std::uint64_t{96} << 10, false, Strategy::automatic,
                                  [](std::uint32_t, LoadEngine&, PipelineOptions&, CollectiveOptions&) {});
  for (std::uint32_t rank = 0; rank < 2; ++rank) {
    SCOPED_TRACE(testing::Message() << "rank " << rank);
    const RankOutcome& out = outcomes[rank];
    ASSERT_TRUE(out.report) << out.error->to_string();
    ASSERT_EQ(out.report->files.size(), kShards);
    std::uint64_t from_files = 0;
    for (const FileReport& f : out.report->files) {
      if (f.bytes > 0)
        EXPECT_NE(f.strategy, Strategy::automatic) << f.path << " read " << f.bytes << " bytes";
      from_files += f.bytes;
    }
    EXPECT_EQ(from_files + out.report->collective->bytes_received, reference_.total);
  }
}

TEST_F(CollectiveLoadTest, SlicedTensorsAreEachRanksOwnPartAndNeverTravel) {
  const std::vector<SliceRule> rules{{"*.o_proj.weight", 1}, {"*_proj.weight", 0}};
  constexpr std::uint32_t kWorld = 3;
  const auto outcomes =
      run_group(*checkpoint_, kWorld, std::uint64_t{256} << 10, false, Strategy::mmap_pipelined,
                [&](std::uint32_t, LoadEngine&, PipelineOptions& options, CollectiveOptions&) {
                  options.slices = rules;
                });
  std::uint64_t read = 0;
  for (std::uint32_t rank = 0; rank < kWorld; ++rank) {
    const RankOutcome& out = outcomes[rank];
    ASSERT_TRUE(out.report) << out.error->to_string();
    // What this rank's own load of the same rules gives, alone.
    HostSink alone;
    PipelineOptions options = test::small_ring(Strategy::mmap_pipelined);
    options.checksum_sha256 = true;
    options.slices = rules;
    options.rank = rank;
    options.world = kWorld;
    auto want = load_into(*checkpoint_, alone, options);
    ASSERT_TRUE(want) << want.error().to_string();
    ASSERT_EQ(out.report->digests.size(), want->digests.size());
    std::uint64_t sliced = 0;
    std::uint64_t whole = 0;
    for (std::size_t i = 0; i < want->digests.size(); ++i) {
      EXPECT_EQ(out.report->digests[i].name, want->digests[i].name);
      EXPECT_EQ(out.report->digests[i].size, want->digests[i].size) << want->digests[i].name;
      EXPECT_EQ(out.report->digests[i].sha256, want->digests[i].sha256) << want->digests[i].name;
      const bool is_sliced = want->digests[i].name.ends_with("_proj.weight");
      (is_sliced ? sliced : whole) += want->digests[i].size;
    }
    ASSERT_GT(sliced, 0U) << "the checkpoint has no *_proj.weight tensor: the test tests nothing";
    EXPECT_EQ(out.report->bytes, sliced + whole);
    EXPECT_LT(out.report->collective->bytes_received, whole) << "only unsliced tensors travel";
    read += out.report->bytes_read;
  }
  // Every rank read its own parts and 1/W of the rest: the checkpoint once, not W times.
  EXPECT_LE(read, reference_.total + kAlignmentSlack * 2 * kShards * kWorld * 8);
}

TEST_F(CollectiveLoadTest, NothingOfTheCheckpointStaysCached) {
  // Only the first file's tensors: no round opens the others, whose header pages opening the
  // checkpoint cached; the load still leaves none of them behind.
  std::vector<std::string> names;
  const CheckpointFile& first = checkpoint_->files()[0];
  for (std::uint32_t i = 0; i < first.tensor_count; ++i)
    names.push_back(checkpoint_->tensors()[first.first_tensor + i].name);
  ::sync();  // written back: a dirty page cannot be released, and the check would pass for nothing
  for (const CheckpointFile& f : checkpoint_->files()) (void)test::read_text(f.path);  // all cached
  const auto outcomes = run_group(*checkpoint_, 3, std::uint64_t{256} << 10, false, Strategy::mmap_pipelined,
                                  [&](std::uint32_t, LoadEngine&, PipelineOptions& options,
                                      CollectiveOptions&) { options.tensor_names = names; });
  for (const RankOutcome& out : outcomes) ASSERT_TRUE(out.report) << out.error->to_string();
  for (const CheckpointFile& f : checkpoint_->files()) {
    auto cached = file_cache_stat(f.path);
    ASSERT_TRUE(cached) << cached.error().to_string();
    EXPECT_EQ(cached->resident_pages, 0U) << f.path;
  }
}

TEST_F(CollectiveLoadTest, ANullSinkIsHandedEveryByteThroughWrite) {
  const auto outcomes = run_group(*checkpoint_, 3, std::uint64_t{128} << 10, true, Strategy::mmap_pipelined,
                                  [](std::uint32_t, LoadEngine&, PipelineOptions&, CollectiveOptions&) {});
  for (const RankOutcome& out : outcomes) {
    ASSERT_TRUE(out.report) << out.error->to_string();
    EXPECT_EQ(out.null_bytes_seen, reference_.total);
    for (const TensorDigest& d : out.report->digests)
      EXPECT_EQ(d.sha256, reference_.sha256.at(d.name)) << d.name;
  }
}

TEST_F(CollectiveLoadTest, AReadErrorOnRankTwoEndsEveryRankNamingIt) {
  const auto outcomes =
      run_group(*checkpoint_, 4, std::uint64_t{96} << 10, false, Strategy::mmap_pipelined,
                [](std::uint32_t rank, LoadEngine& engine, PipelineOptions&, CollectiveOptions&) {
                  if (rank == 2)
                    engine.fault = [](std::uint64_t, std::uint64_t) -> std::int64_t { return -EIO; };
                });
  for (std::uint32_t rank = 0; rank < 4; ++rank) {
    const RankOutcome& out = outcomes[rank];
    ASSERT_TRUE(out.error) << "rank " << rank << " succeeded";
    EXPECT_EQ(out.error->kind, ErrorKind::io);
    EXPECT_NE(out.error->message.find("rank 2 of 4"), std::string::npos) << out.error->to_string();
    // Every rank's message carries rank 2's error whole: its file, tensor and byte offset.
    EXPECT_NE(out.error->message.find(".safetensors: tensor '"), std::string::npos) << out.error->to_string();
    EXPECT_NE(out.error->message.find("': byte "), std::string::npos) << out.error->to_string();
    EXPECT_EQ(out.allocated_after, 0U) << "rank " << rank << " kept its destinations";
  }
}

TEST_F(CollectiveLoadTest, ACancelOnRankZeroEndsEveryRankNamingIt) {
  const auto outcomes =
      run_group(*checkpoint_, 4, std::uint64_t{96} << 10, false, Strategy::mmap_pipelined,
                [](std::uint32_t rank, LoadEngine& engine, PipelineOptions& options, CollectiveOptions&) {
                  if (rank != 0) return;
                  engine.fault = [token = options.cancel](std::uint64_t, std::uint64_t) -> std::int64_t {
                    token.cancel();
                    return 0;
                  };
                });
  for (std::uint32_t rank = 0; rank < 4; ++rank) {
    const RankOutcome& out = outcomes[rank];
    ASSERT_TRUE(out.error) << "rank " << rank << " succeeded";
    EXPECT_EQ(out.error->kind, ErrorKind::cancelled);
    EXPECT_NE(out.error->message.find("rank 0 of 4"), std::string::npos) << out.error->to_string();
    EXPECT_EQ(out.allocated_after, 0U);
  }
}

TEST_F(CollectiveLoadTest, AShardIsRefusedOnEveryRank) {
  const auto outcomes =
      run_group(*checkpoint_, 2, std::uint64_t{1} << 20, false, Strategy::mmap_pipelined,
                [](std::uint32_t, LoadEngine&, PipelineOptions& options, CollectiveOptions&) {
                  options.shard_rank = 0;
                  options.shard_world = 2;
                });
  for (const RankOutcome& out : outcomes) {
    ASSERT_TRUE(out.error);
    EXPECT_EQ(out.error->kind, ErrorKind::invalid_argument);
  }
}

// Each rank fails on its own, in a different place; every rank must end, naming it.
void expect_all_fail_naming(const std::vector<RankOutcome>& outcomes, ErrorKind kind,
                            const std::string& who) {
  for (std::uint32_t rank = 0; rank < outcomes.size(); ++rank) {
    const RankOutcome& out = outcomes[rank];
    ASSERT_TRUE(out.error) << "rank " << rank << " succeeded";
    EXPECT_EQ(out.error->kind, kind) << out.error->to_string();
    EXPECT_NE(out.error->message.find(who), std::string::npos) << out.error->to_string();
    EXPECT_EQ(out.allocated_after, 0U) << "rank " << rank << " kept its destinations";
  }
}

TEST_F(CollectiveLoadTest, APlanOnlyRankOneCannotMakeEndsEveryRank) {
  const auto outcomes =
      run_group(*checkpoint_, 3, std::uint64_t{1} << 20, false, Strategy::mmap_pipelined,
                [](std::uint32_t rank, LoadEngine&, PipelineOptions& options, CollectiveOptions&) {
                  if (rank == 1) options.slices = {{"*", 7}};  // no tensor has an eighth dim
                });
  expect_all_fail_naming(outcomes, ErrorKind::invalid_argument, "rank 1 of 3");
}

TEST_F(CollectiveLoadTest, AFailureAfterTheLastRoundEndsEveryRank) {
  // One round: rank 1's sink refuses what the group delivered, after every read is done.
  const auto outcomes = run_group(
      *checkpoint_, 2, std::uint64_t{1} << 30, true, Strategy::mmap_pipelined,
      [](std::uint32_t, LoadEngine&, PipelineOptions&, CollectiveOptions&) {}, 1U);
  expect_all_fail_naming(outcomes, ErrorKind::io, "rank 1 of 2");
}

TEST_F(CollectiveLoadTest, RanksThatPlanDifferentLoadsStopBeforeAnyBroadcast) {
  const auto outcomes =
      run_group(*checkpoint_, 2, std::uint64_t{1} << 20, false, Strategy::mmap_pipelined,
                [](std::uint32_t rank, LoadEngine&, PipelineOptions&, CollectiveOptions& collective) {
                  if (rank == 1) collective.round_bytes = std::uint64_t{96} << 10;
                });
  expect_all_fail_naming(outcomes, ErrorKind::invalid_argument, "planned a different load");
  for (const RankOutcome& out : outcomes) EXPECT_EQ(out.bytes.size(), 0U);
}

}  // namespace
}  // namespace ringload
