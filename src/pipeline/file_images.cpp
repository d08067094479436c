#include "pipeline/file_images.hpp"

#include <algorithm>

#include "base/checked.hpp"

namespace ringload {
namespace {

// Memory past the tensors' bytes that images may take: 1/16 (6 %), plus two blocks per image.
bool images_pay(std::span<const FileImage> images, std::uint64_t tensor_bytes, std::uint64_t alignment) {
  std::uint64_t total = 0;
  for (const FileImage& image : images) total += image.length;
  return total <= tensor_bytes + tensor_bytes / 16 + 2 * alignment * images.size();
}

// Groups one file's tensors into images (appended to `images`); false for a sliced tensor.
bool add_file_images(const Plan& plan, std::uint32_t f, std::uint64_t alignment, std::uint64_t max_gap,
                     std::vector<FileImage>& images) {
  const PlannedFile& file = plan.files[f];
  if (file.end_tensor == file.first_tensor) return true;
  // Empty tensors join the image open when they come (the first one, before any bytes).
  FileImage open{.file = f, .first_tensor = file.first_tensor};
  bool any = false;
  std::uint64_t end = 0;  // the open image's last tensor byte (unaligned)
  auto close = [&] { open.length = align_up(end, alignment).value_or(end) - open.file_offset; };
  for (std::uint32_t i = file.first_tensor; i < file.end_tensor; ++i) {
    const SinkTensor& t = plan.tensors[i];
    const TensorRuns& runs = plan.runs[i];
    if (runs.count > 1 || (runs.count == 1 && runs.run_bytes != t.size)) return false;
    if (t.size == 0) continue;
    const bool joins = any && read_through(end, t.file_offset, alignment, max_gap);
    if (any && !joins) {
      close();
      open.end_tensor = i;
      images.push_back(open);
      open = FileImage{.file = f, .first_tensor = i};
    }
    if (!any || !joins) open.file_offset = align_down(t.file_offset, alignment);
    any = true;
    end = std::max(end, t.file_offset + t.size);
  }
  if (any) close();
  open.end_tensor = file.end_tensor;
  images.push_back(open);
  return true;
}

}  // namespace

std::optional<std::vector<FileImage>> plan_file_images(const Plan& plan, std::uint64_t alignment,
                                                       std::uint64_t max_gap) {
  if (alignment == 0 || !is_power_of_two(alignment)) return std::nullopt;
  std::vector<FileImage> images;
  for (std::uint32_t f = 0; f < plan.files.size(); ++f) {
    if (!add_file_images(plan, f, alignment, max_gap, images)) return std::nullopt;
  }
  if (!images_pay(images, plan.bytes, alignment)) return std::nullopt;
  return images;
}

std::span<std::byte> ImageMap::place(const Chunk& c) const noexcept {
  // The last image of c's file starting at or before it.
  const auto after =
      std::upper_bound(images_.begin(), images_.end(), c, [](const Chunk& chunk, const FileImage& image) {
        return chunk.file < image.file || (chunk.file == image.file && chunk.file_offset < image.file_offset);
      });
  if (after == images_.begin()) return {};
  const FileImage& image = *std::prev(after);
  if (image.file != c.file || c.file_offset - image.file_offset > image.length ||
      c.length > image.length - (c.file_offset - image.file_offset)) {
    return {};
  }
  const auto memory = target_.image(static_cast<std::uint32_t>(std::prev(after) - images_.begin()));
  if (memory.size() != image.length) return {};
  return memory.subspan(c.file_offset - image.file_offset, c.length);
}

}  // namespace ringload
