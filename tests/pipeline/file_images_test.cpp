// plan_file_images and ImageMap: tensors grouped into file images the way plan_file groups them
// into chunks, so that every chunk plan_file makes lies inside one image (the property the
// pipeline's reads straight into the destination rest on), checked on random layouts; images
// refused where they would waste memory or cannot mirror the file (slices).
#include "pipeline/file_images.hpp"

#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "pipeline/plan.hpp"

namespace ringload {
namespace {

constexpr std::uint64_t kPage = 4096;
constexpr std::uint64_t kGap = 64 * 1024;

struct Layout {
  std::vector<TensorInfo> tensors;
  std::vector<std::uint64_t> file_sizes;
};

// `tensors` of `size` bytes each in one file, `gap` bytes apart, the first at `start`.
Layout evenly(std::uint32_t tensors, std::uint64_t size, std::uint64_t gap, std::uint64_t start = 100) {
  Layout l;
  std::uint64_t at = start;
  for (std::uint32_t i = 0; i < tensors; ++i) {
    l.tensors.push_back(
        TensorInfo{.name = fmt::format("t{}", i), .shape = {size}, .offset = at, .size = size});
    at += size + gap;
  }
  l.file_sizes.push_back(at);
  return l;
}

// The plan points into `l`: keep it alive while the plan is used.
Plan select(const Layout& l, std::span<const std::string> names = {}) {
  PlanOptions options;
  options.tensor_names = names;
  auto plan = select_tensors(l.tensors, l.file_sizes.size(), options, "f");
  EXPECT_TRUE(plan) << plan.error().to_string();
  return plan ? std::move(plan).value() : Plan{};
}

PlanOptions chunking(std::uint64_t slot) {
  PlanOptions options;
  options.slot_size = slot;
  options.alignment = kPage;
  options.max_gap = kGap;
  return options;
}

TEST(FileImages, ContiguousTensorsShareOneImageAlignedAroundThem) {
  const Layout layout = evenly(5, 10'000, 0);
  Plan plan = select(layout);
  const auto images = plan_file_images(plan, kPage, kGap);
  ASSERT_TRUE(images);
  ASSERT_EQ(images->size(), 1U);
  const FileImage& image = images->front();
  EXPECT_EQ(image.file, 0U);
  EXPECT_EQ(image.file_offset, 0U);                                     // 100 rounded down
  EXPECT_EQ(image.length, (100 + 50'000 + kPage - 1) / kPage * kPage);  // 50,100 rounded up
  EXPECT_EQ(image.first_tensor, 0U);
  EXPECT_EQ(image.end_tensor, 5U);
}

TEST(FileImages, AHoleAboveMaxGapStartsANewImageOneAtMostDoesNot) {
  // Holes of max_gap + 1 split, holes of exactly max_gap join.
  const Layout spaced = evenly(3, 200 << 10, kGap + 1);
  Plan split = select(spaced);
  const auto apart = plan_file_images(split, kPage, kGap);
  ASSERT_TRUE(apart);
  ASSERT_EQ(apart->size(), 3U);
  for (std::uint32_t k = 0; k < 3; ++k) {
    EXPECT_EQ((*apart)[k].first_tensor, k);
    EXPECT_EQ((*apart)[k].end_tensor, k + 1);
    EXPECT_EQ((*apart)[k].file_offset % kPage, 0U);
    EXPECT_LE((*apart)[k].file_offset, split.tensors[k].file_offset);
    EXPECT_GE((*apart)[k].file_offset + (*apart)[k].length,
              split.tensors[k].file_offset + split.tensors[k].size);
  }
  // Joined, the holes count against the images' memory: 2 MiB tensors make them cheap enough.
  const Layout close = evenly(3, 2 << 20, kGap);
  Plan joined = select(close);
  const auto together = plan_file_images(joined, kPage, kGap);
  ASSERT_TRUE(together);
  EXPECT_EQ(together->size(), 1U);
}

TEST(FileImages, EmptyTensorsJoinTheImageOpenWhenTheyCome) {
  Layout l = evenly(3, 8192, 0);
  l.tensors.insert(l.tensors.begin(), TensorInfo{.name = "empty-first", .offset = 0, .size = 0});
  l.tensors.push_back(TensorInfo{.name = "empty-last", .offset = l.file_sizes[0], .size = 0});
  Plan plan = select(l);
  const auto images = plan_file_images(plan, kPage, kGap);
  ASSERT_TRUE(images);
  ASSERT_EQ(images->size(), 1U);
  EXPECT_EQ(images->front().first_tensor, 0U);
  EXPECT_EQ(images->front().end_tensor, 5U);
}

TEST(FileImages, AFileOfEmptyTensorsGetsAnEmptyImage) {
  Layout l;
  l.tensors = {TensorInfo{.name = "a", .offset = 64, .size = 0},
               TensorInfo{.name = "b", .offset = 64, .size = 0}};
  l.file_sizes = {64};
  Plan plan = select(l);
  const auto images = plan_file_images(plan, kPage, kGap);
  ASSERT_TRUE(images);
  ASSERT_EQ(images->size(), 1U);
  EXPECT_EQ(images->front().length, 0U);
  EXPECT_EQ(images->front().end_tensor, 2U);
}

TEST(FileImages, RefusedWhenTheHolesWouldCostMoreThanASixteenth) {
  // Every other 4 KiB tensor of a file: the images would hold the skipped ones too (2x).
  Layout l = evenly(64, 4096, 0, 0);
  std::vector<std::string> names;
  for (std::uint32_t i = 0; i < 64; i += 2) names.push_back(fmt::format("t{}", i));
  Plan plan = select(l, names);
  EXPECT_FALSE(plan_file_images(plan, kPage, kGap));
  // All of them: no hole, one image.
  Plan all = select(l);
  EXPECT_TRUE(plan_file_images(all, kPage, kGap));
}

TEST(FileImages, RefusedForATensorDeliveredAsSeveralRuns) {
  Layout l;
  l.tensors = {
      TensorInfo{.name = "w", .dtype = DType::F32, .shape = {64, 64}, .offset = 0, .size = 64 * 64 * 4}};
  l.file_sizes = {64 * 64 * 4};
  const std::vector<SliceRule> rules = {SliceRule{.pattern = "w", .dim = 1}};
  PlanOptions options;
  options.slices = rules;
  options.slice_rank = 1;
  options.slice_world = 2;
  auto plan = select_tensors(l.tensors, 1, options, "f");
  ASSERT_TRUE(plan) << plan.error().to_string();
  EXPECT_FALSE(plan_file_images(*plan, kPage, kGap));
}

// Random files (several per load, tensors of 0 to 300 KiB, holes of 0 to 3 x max_gap, a random
// name filter): every chunk plan_file cuts with the same alignment and max_gap lies inside one
// image, and each tensor inside the image that holds it.
TEST(FileImages, EveryChunkLiesInsideOneImage) {
  std::mt19937_64 rng(20261203);
  for (int round = 0; round < 200; ++round) {
    Layout l;
    const std::uint32_t files = 1 + static_cast<std::uint32_t>(rng() % 3);
    for (std::uint32_t f = 0; f < files; ++f) {
      std::uint64_t at = rng() % 10'000;
      const std::uint32_t count = 1 + static_cast<std::uint32_t>(rng() % 12);
      for (std::uint32_t i = 0; i < count; ++i) {
        const std::uint64_t size = rng() % 5 == 0 ? 0 : 1 + rng() % (300 << 10);
        l.tensors.push_back(TensorInfo{
            .name = fmt::format("f{}t{}", f, i), .shape = {size}, .offset = at, .size = size, .file = f});
        at += size + (rng() % 2 == 0 ? 0 : rng() % (3 * kGap));
      }
      l.file_sizes.push_back(at + rng() % 5000);
    }
    std::vector<std::string> names;
    if (rng() % 3 == 0) {
      for (const TensorInfo& t : l.tensors) {
        if (rng() % 4 != 0) names.push_back(t.name);
      }
      if (names.empty()) names.push_back(l.tensors.front().name);
    }
    Plan plan = select(l, names);
    const auto images = plan_file_images(plan, kPage, kGap);
    if (!images) continue;  // holes too costly: the load stages instead
    HostSink sink;
    ImageTarget* target = sink.image_target();
    ASSERT_NE(target, nullptr);
    ASSERT_TRUE(target->prepare_images(plan.tensors, *images)) << "round " << round;
    const ImageMap map(*images, *target);
    const std::uint64_t slot = (rng() % 2 == 0 ? 64 : 256) << 10;
    for (std::uint32_t f = 0; f < files; ++f)
      ASSERT_TRUE(plan_file(plan, f, l.file_sizes[f], chunking(slot)));
    for (const Chunk& c : plan.chunks) {
      const auto place = map.place(c);
      ASSERT_EQ(place.size(), c.length) << "round " << round << ": chunk at " << c.file_offset << " of file "
                                        << c.file << " (" << c.length << " bytes) lies in no one image";
      EXPECT_EQ(reinterpret_cast<std::uintptr_t>(place.data()) % kPage, 0U);
      // Every piece lands where its tensor's destination says.
      for (const Piece& p : c.pieces) {
        const Destination d = sink.destination(p.tensor);
        EXPECT_EQ(place.data() + p.chunk_offset, static_cast<std::byte*>(d.data) + p.tensor_offset);
      }
    }
  }
}

TEST(FileImages, AChunkOutsideEveryImageHasNoPlace) {
  const Layout l = evenly(2, 8192, 0);  // outlives the plan, which points into it
  Plan plan = select(l);
  const auto images = plan_file_images(plan, kPage, kGap);
  ASSERT_TRUE(images);
  HostSink sink;
  ASSERT_TRUE(sink.image_target()->prepare_images(plan.tensors, *images));
  const ImageMap map(*images, *sink.image_target());
  EXPECT_TRUE(map.place(Chunk{.file = 0, .file_offset = 0, .length = kPage}).size() == kPage);
  EXPECT_TRUE(map.place(Chunk{.file = 1, .file_offset = 0, .length = kPage}).empty()) << "another file";
  EXPECT_TRUE(map.place(Chunk{.file = 0, .file_offset = 4 * kPage, .length = 16 * kPage}).empty())
      << "runs past the image's end";
}

}  // namespace
}  // namespace ringload
