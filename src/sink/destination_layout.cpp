#include "sink/destination_layout.hpp"

#include <fmt/format.h>

#include "base/checked.hpp"

namespace ringload {

namespace {

std::string tensor_name(const SinkTensor& t) {
  return t.info != nullptr ? t.info->name : fmt::format("#{}", t.index);
}

Error image_error(std::string_view sink, std::string message, const SinkTensor* t) {
  return make_error(ErrorKind::invalid_argument, fmt::format("{} sink: file images: {}", sink, message),
                    std::nullopt, t != nullptr ? tensor_name(*t) : std::string{});
}

}  // namespace

Result<std::vector<const SinkTensor*>> DestinationLayout::by_index(std::span<const SinkTensor> tensors,
                                                                   std::string_view sink) {
  std::vector<const SinkTensor*> by_index(tensors.size(), nullptr);
  for (const SinkTensor& t : tensors) {
    if (t.index >= tensors.size() || by_index[t.index] != nullptr) {
      return make_error(
          ErrorKind::invalid_argument,
          fmt::format("{} sink: prepare() got tensor index {}, {} (expected each of 0..{} once: "
                      "the position in the load's tensor list)",
                      sink, t.index, t.index >= tensors.size() ? "out of range" : "repeated",
                      tensors.size() - 1));
    }
    by_index[t.index] = &t;
  }
  return by_index;
}

Result<DestinationLayout> DestinationLayout::make(std::span<const SinkTensor> tensors,
                                                  std::uint64_t alignment, std::string_view sink) {
  DestinationLayout layout;
  layout.sink_ = std::string(sink);
  layout.entries_.resize(tensors.size());
  const auto by_index = RINGLOAD_TRY(DestinationLayout::by_index(tensors, sink));
  std::uint64_t total = 0;
  for (std::uint32_t i = 0; i < by_index.size(); ++i) {
    const SinkTensor& t = *by_index[i];
    std::string name = tensor_name(t);
    const auto start = align_up(total, alignment);
    const auto end = start ? checked_add(*start, t.size) : std::nullopt;
    if (!end) {
      return make_error(ErrorKind::invalid_argument,
                        fmt::format("{} sink: tensor #{} of {} ({} bytes) does not fit one allocation", sink,
                                    i, tensors.size(), t.size),
                        std::nullopt, name);
    }
    layout.entries_[i] = Entry{*start, t.size, std::move(name)};
    total = *end;
  }
  layout.total_ = total;
  return layout;
}

Result<DestinationLayout> DestinationLayout::in_images(std::span<const SinkTensor> tensors,
                                                       std::span<const FileImage> images, std::uint64_t page,
                                                       std::string_view sink) {
  DestinationLayout layout;
  layout.sink_ = std::string(sink);
  layout.entries_.resize(tensors.size());
  const auto by_index = RINGLOAD_TRY(DestinationLayout::by_index(tensors, sink));
  std::uint64_t total = 0;
  std::uint32_t next = 0;  // the next tensor an image must start with
  for (std::size_t k = 0; k < images.size(); ++k) {
    const FileImage& image = images[k];
    if (image.first_tensor != next || image.end_tensor < image.first_tensor ||
        image.end_tensor > tensors.size()) {
      return image_error(sink,
                         fmt::format("image {} holds tensors [{}, {}); expected to start at {} of {}", k,
                                     image.first_tensor, image.end_tensor, next, tensors.size()),
                         nullptr);
    }
    const auto start = align_up(total, page);
    const auto end = start ? checked_add(*start, image.length) : std::nullopt;
    if (!end || image.file_offset % page != 0 || image.length % page != 0) {
      return image_error(sink,
                         fmt::format("image {} (file bytes {} + {}) is not whole pages or does not fit", k,
                                     image.file_offset, image.length),
                         nullptr);
    }
    for (std::uint32_t i = image.first_tensor; i < image.end_tensor; ++i) {
      const SinkTensor& t = *by_index[i];
      const bool other_file = t.info != nullptr && t.info->file != image.file;
      if (t.size > 0 && (other_file || t.file_offset < image.file_offset ||
                         t.file_offset - image.file_offset > image.length ||
                         t.size > image.length - (t.file_offset - image.file_offset))) {
        return image_error(
            sink,
            fmt::format("the tensor's file bytes [{}, {}) lie outside image {} (file {}, bytes "
                        "[{}, {}))",
                        t.file_offset, t.file_offset + t.size, k, image.file, image.file_offset,
                        image.file_offset + image.length),
            &t);
      }
      const std::uint64_t at = t.size > 0 ? *start + (t.file_offset - image.file_offset) : *start;
      layout.entries_[i] = Entry{at, t.size, tensor_name(t)};
    }
    layout.images_.push_back(Image{*start, image.length});
    next = image.end_tensor;
    total = *end;
  }
  if (next != tensors.size()) {
    return image_error(sink, fmt::format("the images hold {} of {} tensors", next, tensors.size()), nullptr);
  }
  layout.total_ = total;
  return layout;
}

bool DestinationLayout::contains(std::uint32_t index, std::uint64_t offset,
                                 std::uint64_t length) const noexcept {
  return index < entries_.size() && offset <= entries_[index].size && length <= entries_[index].size - offset;
}

Result<void> DestinationLayout::check_write(std::uint32_t index, std::uint64_t offset,
                                            std::uint64_t length) const {
  if (index >= entries_.size()) {
    return make_error(ErrorKind::invalid_argument,
                      fmt::format("{} sink: write to tensor index {}, but prepare() set up {} tensors", sink_,
                                  index, entries_.size()));
  }
  if (!contains(index, offset, length)) {
    // Never let a bad range through: on a device it would land silently in a neighbour's memory.
    return make_error(ErrorKind::out_of_bounds,
                      fmt::format("{} sink: write of {} bytes at offset {} runs past the end of the {}-byte "
                                  "destination",
                                  sink_, length, offset, entries_[index].size),
                      std::nullopt, entries_[index].name);
  }
  return {};
}

}  // namespace ringload
