// Reading straight into the destination: when the sink can lay its destinations out as images of
// the file (Sink::image_target), a chunk that lies inside one image is read into its place there
// instead of into a staging slot, so nothing copies it afterwards (the staging copy, and the
// zeroed-then-overwritten destination's second pass through the cache, are gone). Chunks outside
// every image (a file whose alignment differs from the first one's) still go through the ring.
// Owner: the io thread.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <vector>

#include "pipeline/plan.hpp"
#include "ringload/sink.hpp"

namespace ringload {

// The images of a load's tensors: per file, tensors (load order) whose gaps the plan reads through
// anyway (read_through, the rule chunks extend by) share one image, the aligned stretch around
// them; so every chunk plan_file makes with the same alignment and max_gap lies inside one image.
// nullopt when images do not pay: a tensor delivered as several runs (a slice of an inner dim),
// or images that would hold more than 1/16 beyond the tensors' bytes (a name filter leaving holes
// of up to max_gap between small tensors).
[[nodiscard]] std::optional<std::vector<FileImage>> plan_file_images(const Plan& plan,
                                                                     std::uint64_t alignment,
                                                                     std::uint64_t max_gap);

// The images as the sink laid them out, and where a chunk lands in them.
class ImageMap {
 public:
  ImageMap(std::vector<FileImage> images, ImageTarget& target)
      : images_(std::move(images)), target_(target) {}

  [[nodiscard]] std::span<const FileImage> images() const noexcept { return images_; }
  // The memory chunk `c`'s `length` bytes are read into, or empty when it lies in no one image.
  [[nodiscard]] std::span<std::byte> place(const Chunk& c) const noexcept;

 private:
  std::vector<FileImage> images_;  // by (file, file_offset)
  ImageTarget& target_;
};

}  // namespace ringload
