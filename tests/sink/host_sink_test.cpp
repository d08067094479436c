// HostSink: one load's destinations in one huge-page arena, each tensor 64-byte aligned and apart
// from its neighbours; writes outside a destination are refused; discard() frees everything. As an
// ImageTarget: tensors at their file positions inside page-aligned images, and images that do not
// cover each tensor once refused naming it.
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

// Tensors of two files: file 0 holds a (100 bytes at 4196) and b (5000 at 4296); file 1 holds c
// (8192 at 12288) and an empty d.
std::vector<SinkTensor> two_file_tensors(std::vector<TensorInfo>& infos) {
  infos = {TensorInfo{.name = "a", .offset = 4196, .size = 100, .file = 0},
           TensorInfo{.name = "b", .offset = 4296, .size = 5000, .file = 0},
           TensorInfo{.name = "c", .offset = 12288, .size = 8192, .file = 1},
           TensorInfo{.name = "d", .offset = 20480, .size = 0, .file = 1}};
  std::vector<SinkTensor> tensors;
  for (std::uint32_t i = 0; i < infos.size(); ++i) {
    tensors.push_back(SinkTensor{i, &infos[i], infos[i].offset, infos[i].size});
  }
  return tensors;
}

TEST(HostSinkImages, TensorsSitAtTheirFilePositionsInsidePageAlignedImages) {
  std::vector<TensorInfo> infos;
  const auto tensors = two_file_tensors(infos);
  const std::vector<FileImage> images = {
      FileImage{.file = 0, .file_offset = 4096, .length = 8192, .first_tensor = 0, .end_tensor = 2},
      FileImage{.file = 1, .file_offset = 12288, .length = 8192, .first_tensor = 2, .end_tensor = 4}};
  HostSink sink;
  ImageTarget* target = sink.image_target();
  ASSERT_NE(target, nullptr);
  ASSERT_TRUE(target->prepare_images(tensors, images));
  const auto first = target->image(0);
  const auto second = target->image(1);
  ASSERT_EQ(first.size(), 8192U);
  ASSERT_EQ(second.size(), 8192U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(first.data()) % 4096, 0U);
  EXPECT_EQ(reinterpret_cast<std::uintptr_t>(second.data()) % 4096, 0U);
  EXPECT_GE(second.data(), first.data() + first.size()) << "images overlap";
  EXPECT_EQ(sink.destination(0).data, first.data() + 100);
  EXPECT_EQ(sink.destination(1).data, first.data() + 200);
  EXPECT_EQ(sink.destination(2).data, second.data());
  EXPECT_EQ(sink.destination(3).size, 0U);
  EXPECT_TRUE(target->image(2).empty());
  // A file's bytes read into the image are the tensors' bytes; writes still work as ever.
  for (std::size_t i = 0; i < first.size(); ++i) first[i] = std::byte(i * 7);
  EXPECT_EQ(sink.bytes(1)[0], std::byte(200 * 7 & 0xff));
  const std::vector<std::byte> fill(100, std::byte{0x5a});
  ASSERT_TRUE(sink.write(0, 0, fill, 0));
  EXPECT_EQ(first[100], std::byte{0x5a});
  EXPECT_EQ(first[199], std::byte{0x5a});
  EXPECT_EQ(first[200], std::byte(200 * 7 & 0xff)) << "a write into a spilled into b";
  EXPECT_FALSE(sink.write(0, 1, fill, 0)) << "past a's end: b's bytes";
  EXPECT_EQ(sink.allocated_bytes(), 16384U);
}

TEST(HostSinkImages, ImagesThatDoNotCoverEachTensorOnceAreRefusedNamingIt) {
  std::vector<TensorInfo> infos;
  const auto tensors = two_file_tensors(infos);
  auto refused = [&](std::vector<FileImage> images) {
    HostSink sink;
    auto r = sink.image_target()->prepare_images(tensors, images);
    EXPECT_EQ(sink.tensor_count(), 0U);
    return r ? Error{} : r.error();
  };
  // b ends at 9296: an image of one page from 4096 stops short of it.
  Error e = refused(
      {FileImage{.file = 0, .file_offset = 4096, .length = 4096, .first_tensor = 0, .end_tensor = 2},
       FileImage{.file = 1, .file_offset = 12288, .length = 8192, .first_tensor = 2, .end_tensor = 4}});
  EXPECT_EQ(e.kind, ErrorKind::invalid_argument);
  EXPECT_EQ(e.tensor, "b");
  EXPECT_NE(e.message.find("[4296, 9296)"), std::string::npos) << e.message;
  // c is file 1's: an image of file 0 cannot hold it.
  e = refused(
      {FileImage{.file = 0, .file_offset = 4096, .length = 16384, .first_tensor = 0, .end_tensor = 4}});
  EXPECT_EQ(e.kind, ErrorKind::invalid_argument);
  EXPECT_EQ(e.tensor, "c");
  // d is left out.
  e = refused(
      {FileImage{.file = 0, .file_offset = 4096, .length = 8192, .first_tensor = 0, .end_tensor = 2},
       FileImage{.file = 1, .file_offset = 12288, .length = 8192, .first_tensor = 2, .end_tensor = 3}});
  EXPECT_EQ(e.kind, ErrorKind::invalid_argument);
  EXPECT_NE(e.message.find("3 of 4 tensors"), std::string::npos) << e.message;
  // Out of order, and not whole pages.
  e = refused(
      {FileImage{.file = 1, .file_offset = 12288, .length = 8192, .first_tensor = 2, .end_tensor = 4},
       FileImage{.file = 0, .file_offset = 4096, .length = 8192, .first_tensor = 0, .end_tensor = 2}});
  EXPECT_EQ(e.kind, ErrorKind::invalid_argument);
  e = refused(
      {FileImage{.file = 0, .file_offset = 4000, .length = 8192, .first_tensor = 0, .end_tensor = 2},
       FileImage{.file = 1, .file_offset = 12288, .length = 8192, .first_tensor = 2, .end_tensor = 4}});
  EXPECT_EQ(e.kind, ErrorKind::invalid_argument);
  EXPECT_NE(e.message.find("whole pages"), std::string::npos) << e.message;
}

}  // namespace
}  // namespace ringload
