#include "tensor_block.hpp"

#include <algorithm>
#include <limits>

namespace ringload::python {

std::vector<std::uint64_t> row_major_shape(Format format, const TensorInfo& info) {
  std::vector<std::uint64_t> shape = info.shape;
  if (format == Format::gguf) std::reverse(shape.begin(), shape.end());
  return shape;
}

TensorBlock::TensorBlock(std::unique_ptr<Sink> sink, Format format, std::optional<int> cuda_device)
    : sink_(std::move(sink)), format_(format), cuda_device_(cuda_device) {}

TensorBlock::TensorBlock(BlockTensor tensor, std::vector<std::byte> bytes) : bytes_(std::move(bytes)) {
  tensors_.push_back(std::move(tensor));
}

// The sink's destructor frees its memory (munmap, or cudaFreeAsync on the device's stream).
TensorBlock::~TensorBlock() = default;

void TensorBlock::record(std::span<const SinkTensor> tensors) {
  tensors_.assign(tensors.size(), BlockTensor{});
  for (const SinkTensor& t : tensors) {
    if (t.index >= tensors_.size() || t.info == nullptr) continue;  // the sink's own checks report it
    tensors_[t.index] = BlockTensor{t.info->name, t.info->dtype, row_major_shape(format_, *t.info), t.size};
  }
}

Destination TensorBlock::destination(std::size_t index) const {
  if (sink_) return sink_->destination(static_cast<std::uint32_t>(index));
  return Destination{const_cast<std::byte*>(bytes_.data()), bytes_.size(),
                     false};  // NOLINT: exported writable, like safetensors' tensors
}

std::pair<std::uintptr_t, std::uintptr_t> TensorBlock::host_range() const {
  if (cuda_device_) return {0, 0};
  std::uintptr_t first = std::numeric_limits<std::uintptr_t>::max();
  std::uintptr_t last = 0;
  for (std::size_t i = 0; i < tensors_.size(); ++i) {
    const Destination d = destination(i);
    if (d.data == nullptr || d.size == 0) continue;
    const auto begin = reinterpret_cast<std::uintptr_t>(d.data);
    first = std::min(first, begin);
    last = std::max(last, begin + d.size);
  }
  if (first > last) return {0, 0};
  // The host sink's own account of its one allocation, not derived from the tensors (with file
  // images, the first tensor sits past the header's tail in the first page).
  if (const auto* host = dynamic_cast<const HostSink*>(sink_.get())) {
    const auto base = reinterpret_cast<std::uintptr_t>(host->allocation().data());
    return {base, base + host->allocation().size()};
  }
  return {first, last};
}

Result<void> BlockSink::prepare(std::span<const SinkTensor> tensors) {
  block_.record(tensors);
  return inner_.prepare(tensors);
}

ImageTarget* BlockSink::image_target() noexcept {
  ImageTarget* inner = inner_.image_target();
  if (inner == nullptr) return nullptr;
  if (!images_) images_.emplace(block_, *inner);
  return &*images_;
}

Result<void> BlockSink::Images::prepare_images(std::span<const SinkTensor> tensors,
                                               std::span<const FileImage> images) {
  block_.record(tensors);
  return inner_.prepare_images(tensors, images);
}

}  // namespace ringload::python
