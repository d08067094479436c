// Tensors of a TensorBlock as framework objects without copying a byte: a DLPack capsule (torch)
// or a numpy array whose base keeps the block alive. Which element type each ringload dtype gets
// is the table in tensor_export.cpp (README "Python": dtypes).
#pragma once

#include <cstddef>
#include <memory>

#include <pybind11/pybind11.h>

#include "tensor_block.hpp"

namespace ringload::python {

enum class Framework : std::uint8_t { torch, numpy };

// Raw bytes (1-D uint8 of the tensor's bytes) for block-quantized and sub-byte types, whose
// elements no framework has.
[[nodiscard]] bool exported_as_raw_bytes(DType dtype) noexcept;

// A "dltensor" capsule over tensor `index`: the managed tensor holds a share of the block, dropped
// by its deleter (called by the consumer, on any thread, with or without the GIL: it touches no
// Python object). BOOL comes as uint8 (torch 1.13's DLPack has no bool); the caller views it.
[[nodiscard]] pybind11::capsule to_dlpack(const std::shared_ptr<TensorBlock>& block, std::size_t index);

// A writable numpy array over tensor `index` whose base owns a share of the block. Host only.
[[nodiscard]] pybind11::object to_numpy(const std::shared_ptr<TensorBlock>& block, std::size_t index);

}  // namespace ringload::python
