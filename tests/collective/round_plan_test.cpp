// Who reads what in a collective load: contiguous owners balanced by bytes, rounds bounded by
// round_bytes, a rank's own parts (slices) and empty tensors read by every rank in round 0 and
// broadcast by none; and the status record the groups exchange.
#include <gtest/gtest.h>

#include <cstdint>
#include <string>
#include <vector>

#include "base/utf8.hpp"
#include "collective/round_plan.hpp"
#include "collective/status_record.hpp"

namespace ringload {
namespace {

std::vector<SinkTensor> tensors_of(const std::vector<std::uint64_t>& sizes) {
  std::vector<SinkTensor> out;
  for (std::uint32_t i = 0; i < sizes.size(); ++i) out.push_back(SinkTensor{.index = i, .size = sizes[i]});
  return out;
}

TEST(RoundPlanTest, OwnersAreContiguousAndBalancedByBytes) {
  const std::vector<std::uint64_t> sizes(100, 1000);  // 100 equal tensors over 4 ranks: 25 each
  const RoundPlan plan = plan_rounds(tensors_of(sizes), std::vector<bool>(100, false), 4, 1ULL << 30);
  EXPECT_EQ(plan.rounds, 1U);
  for (std::uint32_t i = 0; i < 100; ++i) EXPECT_EQ(plan.owner[i], i / 25) << i;
  EXPECT_EQ(plan.broadcasts(0).size(), 100U);
  EXPECT_EQ(plan.reads(3, 0).front(), 75U);
}

TEST(RoundPlanTest, ABigTensorGoesToTheRankHoldingItsMiddle) {
  // 10 + 100 + 10 bytes over 2 ranks: the shares are [0, 60) and [60, 120); the big tensor's middle
  // byte (60) is in rank 1's.
  const RoundPlan plan = plan_rounds(tensors_of({10, 100, 10}), std::vector<bool>(3, false), 2, 1ULL << 30);
  EXPECT_EQ(plan.owner, (std::vector<std::uint32_t>{0, 1, 1}));
}

TEST(RoundPlanTest, RoundsHoldAtMostRoundBytesPerOwner) {
  const std::vector<std::uint64_t> sizes(40, 100);  // 2 ranks own 2000 bytes each
  const RoundPlan plan = plan_rounds(tensors_of(sizes), std::vector<bool>(40, false), 2, 500);
  EXPECT_EQ(plan.rounds, 4U);
  for (std::uint32_t rank = 0; rank < 2; ++rank) {
    for (std::uint32_t r = 0; r < plan.rounds; ++r) {
      std::uint64_t bytes = 0;
      for (std::uint32_t i : plan.reads(rank, r)) bytes += sizes[i];
      EXPECT_EQ(bytes, 500U) << "rank " << rank << " round " << r;
    }
  }
}

TEST(RoundPlanTest, OwnPartsAndEmptyTensorsAreEveryRanksAndTravelNowhere) {
  const RoundPlan plan = plan_rounds(tensors_of({100, 0, 100, 100}), {false, false, true, false}, 2, 150);
  EXPECT_EQ(plan.owner[1], kEveryRank);
  EXPECT_EQ(plan.owner[2], kEveryRank);
  EXPECT_EQ(plan.round[2], 0U);
  for (std::uint32_t r = 0; r < plan.rounds; ++r) {
    for (std::uint32_t i : plan.broadcasts(r)) EXPECT_TRUE(i == 0 || i == 3) << i;
  }
  EXPECT_EQ(plan.reads(0, 0), (std::vector<std::uint32_t>{0, 1, 2}));
  EXPECT_EQ(plan.reads(1, 0), (std::vector<std::uint32_t>{1, 2, 3}));
}

TEST(StatusRecordTest, RoundTripsAndCutsLongMessagesOnACharacterBoundary) {
  const RankStatus ok = decode_status(encode_status(RankStatus{}).data());
  EXPECT_TRUE(ok.ok);
  EXPECT_TRUE(ok.message.empty());
  std::string long_message;
  while (long_message.size() < 3 * kStatusRecordBytes) long_message += "tensor é ";  // 2-byte é
  const RankStatus failed = decode_status(
      encode_status(RankStatus{.ok = false, .kind = ErrorKind::cancelled, .message = long_message}).data());
  EXPECT_FALSE(failed.ok);
  EXPECT_EQ(failed.kind, ErrorKind::cancelled);
  EXPECT_LT(failed.message.size(), kStatusRecordBytes);
  EXPECT_GT(failed.message.size(), kStatusRecordBytes - 24);
  EXPECT_EQ(long_message.rfind(failed.message, 0), 0U);
  EXPECT_FALSE(first_invalid_utf8(failed.message).has_value());
}

TEST(StatusRecordTest, AFailureCarriesTheErrorWithoutItsKindTwice) {
  Error e = make_error(ErrorKind::io, "read failed", 4096, "w");
  e.path = "model.safetensors";
  const RankStatus s = failed_status(e);
  EXPECT_EQ(s.kind, ErrorKind::io);
  EXPECT_NE(s.message.find("model.safetensors"), std::string::npos);
  EXPECT_NE(s.message.find("4096"), std::string::npos);
  EXPECT_EQ(s.message.find("[io]"), std::string::npos) << s.message;
}

}  // namespace
}  // namespace ringload
