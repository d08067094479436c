// The memory behind the tensors Python gets: one load's destinations (a sink's) or one slice's
// bytes. Shared (std::shared_ptr) by whatever fills it and by every tensor view exported from it,
// so the memory goes with the last of them, whatever order they die in.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "ringload/dtype.hpp"
#include "ringload/model.hpp"
#include "ringload/sink.hpp"

namespace ringload::python {

// One tensor as Python sees it. `shape` is row-major (outermost first): GGUF's ne[] reversed.
struct BlockTensor {
  std::string name;
  DType dtype = DType::U8;
  std::vector<std::uint64_t> shape;
  std::uint64_t size = 0;  // bytes
};

// Row-major shape of a tensor of `format` (GGUF lists ne[0], the innermost dim, first).
[[nodiscard]] std::vector<std::uint64_t> row_major_shape(Format format, const TensorInfo& info);

class TensorBlock {
 public:
  // Destinations of a load into `sink`; tensors are recorded when the load prepares the sink.
  TensorBlock(std::unique_ptr<Sink> sink, Format format, std::optional<int> cuda_device);
  // One tensor whose bytes live in `bytes` (a slice).
  TensorBlock(BlockTensor tensor, std::vector<std::byte> bytes);
  TensorBlock(const TensorBlock&) = delete;
  TensorBlock& operator=(const TensorBlock&) = delete;
  ~TensorBlock();

  // Called by the load (its io thread) before any tensor is ready.
  void record(std::span<const SinkTensor> tensors);

  [[nodiscard]] Sink* sink() noexcept { return sink_.get(); }
  [[nodiscard]] std::size_t count() const noexcept { return tensors_.size(); }
  [[nodiscard]] const BlockTensor& tensor(std::size_t index) const { return tensors_.at(index); }
  [[nodiscard]] Destination destination(std::size_t index) const;
  // CUDA device of the destinations, nullopt for host memory.
  [[nodiscard]] std::optional<int> cuda_device() const noexcept { return cuda_device_; }
  // The host sink's one allocation: where every tensor must point (the zero-copy check). Without a
  // host sink: the span of the tensors themselves; {0, 0} on a device or with no bytes at all.
  [[nodiscard]] std::pair<std::uintptr_t, std::uintptr_t> host_range() const;

 private:
  std::unique_ptr<Sink> sink_;
  std::vector<std::byte> bytes_;
  Format format_ = Format::safetensors;
  std::optional<int> cuda_device_;
  std::vector<BlockTensor> tensors_;
};

// What the pipeline is handed: forwards every call to the block's sink, except discard().
// A failed or cancelled load discards its sink, which would free tensors that a stream already
// handed to Python; here the memory instead goes when the block does (the load drops its share at
// once, so with no tensor handed out it is freed right away, as before).
class BlockSink final : public Sink {
 public:
  explicit BlockSink(TensorBlock& block) : block_(block), inner_(*block.sink()) {}

  [[nodiscard]] std::string_view name() const override { return inner_.name(); }
  [[nodiscard]] std::optional<int> staging_device() const override { return inner_.staging_device(); }
  [[nodiscard]] PlainWriter* plain_writer() noexcept override { return inner_.plain_writer(); }
  [[nodiscard]] ImageTarget* image_target() noexcept override;
  Result<void> prepare(std::span<const SinkTensor> tensors) override;
  Result<void> write(std::uint32_t index, std::uint64_t offset, std::span<const std::byte> bytes,
                     std::uint32_t slot) override {
    return inner_.write(index, offset, bytes, slot);
  }
  Result<void> slot_written(std::uint32_t slot) override { return inner_.slot_written(slot); }
  Result<bool> slot_idle(std::uint32_t slot) override { return inner_.slot_idle(slot); }
  Result<void> wait_slot_idle(std::uint32_t slot) override { return inner_.wait_slot_idle(slot); }
  Result<void> finish() override { return inner_.finish(); }
  [[nodiscard]] Destination destination(std::uint32_t index) const override {
    return inner_.destination(index);
  }
  void discard() noexcept override {}

 private:
  // Records the tensors, as prepare() does, before the inner sink lays them out as images.
  class Images final : public ImageTarget {
   public:
    Images(TensorBlock& block, ImageTarget& inner) : block_(block), inner_(inner) {}
    Result<void> prepare_images(std::span<const SinkTensor> tensors,
                                std::span<const FileImage> images) override;
    [[nodiscard]] std::span<std::byte> image(std::uint32_t image) noexcept override {
      return inner_.image(image);
    }

   private:
    TensorBlock& block_;
    ImageTarget& inner_;
  };

  TensorBlock& block_;
  Sink& inner_;
  std::optional<Images> images_;
};

}  // namespace ringload::python
