// HostSink: one load's destinations in one huge-page arena, each tensor 64-byte aligned and apart
// from its neighbours; writes outside a destination are refused; discard() frees everything.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstring>
#include <vector>

#include "ringload/sink.hpp"

namespace ringload {
namespace {

std::vector<SinkTensor> tensors_of_sizes(const std::vector<std::uint64_t>& sizes) {
  std::vector<SinkTensor> tensors;
  std::uint64_t offset = 0;
  for (std::uint32_t i = 0; i < sizes.size(); ++i) {
    tensors.push_back(SinkTensor{i, nullptr, offset, sizes[i]});
    offset += sizes[i];
  }
  return tensors;
}

TEST(HostSink, DestinationsAreAlignedDisjointAndHoldWhatWasWritten) {
  const std::vector<std::uint64_t> sizes = {3, 0, 4096, 65, (3ULL << 20) + 7, 1};
  HostSink sink;
  ASSERT_TRUE(sink.prepare(tensors_of_sizes(sizes)));
  ASSERT_EQ(sink.tensor_count(), sizes.size());
  std::vector<std::pair<std::uintptr_t, std::uintptr_t>> ranges;
  for (std::uint32_t i = 0; i < sizes.size(); ++i) {
    const Destination d = sink.destination(i);
    EXPECT_EQ(d.size, sizes[i]);
    EXPECT_FALSE(d.on_device);
    if (sizes[i] == 0) continue;
    ASSERT_NE(d.data, nullptr);
    EXPECT_EQ(reinterpret_cast<std::uintptr_t>(d.data) % 64, 0U) << "tensor " << i;
    ranges.emplace_back(reinterpret_cast<std::uintptr_t>(d.data),
                        reinterpret_cast<std::uintptr_t>(d.data) + d.size);
    // Position-encoded fill, written in two pieces as the pipeline would.
    std::vector<std::byte> fill(sizes[i]);
    for (std::size_t b = 0; b < fill.size(); ++b) fill[b] = std::byte((b * 31 + i) & 0xff);
    const std::size_t half = fill.size() / 2;
    ASSERT_TRUE(sink.write(i, 0, std::span(fill).first(half), 0));
    ASSERT_TRUE(sink.write(i, half, std::span(fill).subspan(half), 0));
    EXPECT_EQ(std::memcmp(sink.bytes(i).data(), fill.data(), fill.size()), 0) << "tensor " << i;
  }
  std::sort(ranges.begin(), ranges.end());
  for (std::size_t r = 1; r < ranges.size(); ++r) EXPECT_LE(ranges[r - 1].second, ranges[r].first);
  std::uint64_t total = 0;
  for (auto s : sizes) total += s;
  EXPECT_GE(sink.allocated_bytes(), total);
  EXPECT_LE(sink.allocated_bytes(), total + 64 * sizes.size());
}

// Past a tensor's end is out_of_bounds (as in every sink: DestinationLayout); a tensor that was
// never prepared is the caller's mistake, invalid_argument.
TEST(HostSink, WriteOutsideADestinationIsRefused) {
  HostSink sink;
  ASSERT_TRUE(sink.prepare(tensors_of_sizes({16, 16})));
  const std::vector<std::byte> bytes(8);
  auto past_end = sink.write(0, 9, bytes, 0);
  ASSERT_FALSE(past_end);
  EXPECT_EQ(past_end.error().kind, ErrorKind::out_of_bounds);
  auto no_such_tensor = sink.write(2, 0, bytes, 0);
  ASSERT_FALSE(no_such_tensor);
  EXPECT_EQ(no_such_tensor.error().kind, ErrorKind::invalid_argument);
  EXPECT_TRUE(sink.write(1, 8, bytes, 0));
}

TEST(HostSink, DiscardFreesEveryDestinationAndPrepareReplacesThem) {
  HostSink sink;
  ASSERT_TRUE(sink.prepare(tensors_of_sizes({1ULL << 20, 5})));
  EXPECT_GT(sink.allocated_bytes(), 0U);
  sink.discard();
  EXPECT_EQ(sink.tensor_count(), 0U);
  EXPECT_EQ(sink.allocated_bytes(), 0U);
  EXPECT_EQ(sink.destination(0).data, nullptr);
  EXPECT_TRUE(sink.bytes(0).empty());
  ASSERT_TRUE(sink.prepare(tensors_of_sizes({7})));
  EXPECT_EQ(sink.tensor_count(), 1U);
  EXPECT_EQ(sink.destination(0).size, 7U);
}

TEST(HostSink, AllEmptyTensorsNeedNoMemory) {
  HostSink sink;
  ASSERT_TRUE(sink.prepare(tensors_of_sizes({0, 0})));
  EXPECT_EQ(sink.tensor_count(), 2U);
  EXPECT_EQ(sink.allocated_bytes(), 0U);
  EXPECT_TRUE(sink.write(0, 0, {}, 0));
}

}  // namespace
}  // namespace ringload
