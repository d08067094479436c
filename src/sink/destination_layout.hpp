// Where the tensors of one load go inside one allocation: in load (file) order, each starting on
// an `alignment` boundary, so a chunk of neighbouring tensors lands in neighbouring bytes (one
// copy, not one per tensor). It also checks what a sink is handed — each index 0..n-1 once in
// prepare(), every write inside its tensor — the same way for every sink, so those checks are
// tested on machines without a GPU.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "ringload/error.hpp"
#include "ringload/sink.hpp"

namespace ringload {

class DestinationLayout {
 public:
  DestinationLayout() = default;
  // invalid_argument for an index out of range or repeated, or sizes that do not fit 64 bits.
  static Result<DestinationLayout> make(std::span<const SinkTensor> tensors, std::uint64_t alignment,
                                        std::string_view sink);
  // The file-image layout (ImageTarget): image k at the first `page` boundary after image k - 1,
  // each tensor at its file position inside its image. invalid_argument, naming the tensor, when
  // the images do not cover each tensor once, in order, inside its own file's bytes.
  static Result<DestinationLayout> in_images(std::span<const SinkTensor> tensors,
                                             std::span<const FileImage> images, std::uint64_t page,
                                             std::string_view sink);

  [[nodiscard]] std::uint64_t total_bytes() const noexcept { return total_; }
  [[nodiscard]] std::size_t count() const noexcept { return entries_.size(); }
  [[nodiscard]] std::uint64_t offset(std::uint32_t index) const noexcept { return entries_[index].offset; }
  [[nodiscard]] std::uint64_t size(std::uint32_t index) const noexcept { return entries_[index].size; }
  [[nodiscard]] const std::string& name(std::uint32_t index) const noexcept { return entries_[index].name; }
  // Where image `image` starts (in_images layouts).
  [[nodiscard]] std::size_t image_count() const noexcept { return images_.size(); }
  [[nodiscard]] std::uint64_t image_offset(std::uint32_t image) const noexcept {
    return images_[image].offset;
  }
  [[nodiscard]] std::uint64_t image_length(std::uint32_t image) const noexcept {
    return images_[image].length;
  }
  [[nodiscard]] bool contains(std::uint32_t index, std::uint64_t offset, std::uint64_t length) const noexcept;
  // invalid_argument for an unknown index; out_of_bounds naming the tensor for a range past its end.
  [[nodiscard]] Result<void> check_write(std::uint32_t index, std::uint64_t offset,
                                         std::uint64_t length) const;

 private:
  struct Entry {
    std::uint64_t offset = 0;
    std::uint64_t size = 0;
    std::string name;
  };
  struct Image {
    std::uint64_t offset = 0;
    std::uint64_t length = 0;
  };
  // Checks each index 0..n-1 appears once; the tensors by index.
  static Result<std::vector<const SinkTensor*>> by_index(std::span<const SinkTensor> tensors,
                                                         std::string_view sink);

  std::vector<Entry> entries_;  // by tensor index
  std::vector<Image> images_;   // in_images layouts only
  std::uint64_t total_ = 0;
  std::string sink_;
};

}  // namespace ringload
