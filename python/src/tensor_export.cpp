#include "tensor_export.hpp"

#include <Python.h>

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <vector>

#include <pybind11/numpy.h>

#include "dlpack.hpp"
#include "errors.hpp"

namespace py = pybind11;

namespace ringload::python {
namespace {

// How one element type reaches each framework. torch goes by DLPack codes; torch 1.13 has no
// uint16/32/64 or float8, so those come as the same-width signed integer / uint8 holding the raw
// bits (ringload/torch.py views them as the real dtype where a newer torch has it). numpy has no
// bfloat16 or float8: the raw bits under uint16 / uint8.
struct ElementType {
  dlpack::DataType torch;
  const char* numpy;
};

constexpr dlpack::DataType dl(dlpack::TypeCode code, std::uint8_t bits) { return {code, bits, 1}; }

std::optional<ElementType> element_type(DType dtype) noexcept {
  using dlpack::kBfloat, dlpack::kComplex, dlpack::kFloat, dlpack::kInt, dlpack::kUInt;
  switch (dtype) {
    case DType::F64: return ElementType{dl(kFloat, 64), "<f8"};
    case DType::F32: return ElementType{dl(kFloat, 32), "<f4"};
    case DType::F16: return ElementType{dl(kFloat, 16), "<f2"};
    case DType::BF16: return ElementType{dl(kBfloat, 16), "<u2"};
    case DType::C64: return ElementType{dl(kComplex, 64), "<c8"};
    case DType::I64: return ElementType{dl(kInt, 64), "<i8"};
    case DType::I32: return ElementType{dl(kInt, 32), "<i4"};
    case DType::I16: return ElementType{dl(kInt, 16), "<i2"};
    case DType::I8: return ElementType{dl(kInt, 8), "|i1"};
    case DType::U64: return ElementType{dl(kInt, 64), "<u8"};
    case DType::U32: return ElementType{dl(kInt, 32), "<u4"};
    case DType::U16: return ElementType{dl(kInt, 16), "<u2"};
    case DType::U8: return ElementType{dl(kUInt, 8), "|u1"};
    case DType::BOOL: return ElementType{dl(kUInt, 8), "|b1"};
    case DType::F8_E4M3:
    case DType::F8_E5M2:
    case DType::F8_E8M0:
    case DType::F8_E4M3FNUZ:
    case DType::F8_E5M2FNUZ: return ElementType{dl(kUInt, 8), "|u1"};
    default: return std::nullopt;  // sub-byte and block types: raw bytes
  }
}

constexpr ElementType kRawBytes{dl(dlpack::kUInt, 8), "|u1"};

struct Layout {
  ElementType type;
  std::vector<std::int64_t> shape;
  std::vector<std::int64_t> strides;  // in elements
};

Layout layout_of(const BlockTensor& t) {
  const auto element = element_type(t.dtype);
  Layout layout{element.value_or(kRawBytes), {}, {}};
  std::vector<std::uint64_t> dims = element ? t.shape : std::vector<std::uint64_t>{t.size};
  for (const std::uint64_t d : dims) {
    if (d > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
      throw py::value_error("tensor '" + t.name + "' has a dimension of " + std::to_string(d) +
                            ", beyond what a framework tensor can index (2^63 - 1)");
    }
    layout.shape.push_back(static_cast<std::int64_t>(d));
  }
  layout.strides.assign(layout.shape.size(), 1);
  for (std::size_t i = layout.shape.size(); i-- > 1;) {
    layout.strides[i - 1] = layout.strides[i] * layout.shape[i];
  }
  return layout;
}

// Owns what a DLPack consumer borrows: the shape arrays and a share of the block.
struct ExportedTensor {
  dlpack::ManagedTensor managed{};
  std::shared_ptr<TensorBlock> owner;
  Layout layout;
};

void delete_exported(dlpack::ManagedTensor* self) {
  const std::unique_ptr<ExportedTensor> exported(static_cast<ExportedTensor*>(self->manager_ctx));
}

// A capsule nobody consumed still carries its name "dltensor": the tensor is still ours to free.
void destroy_unused_capsule(PyObject* capsule) {
  if (PyCapsule_IsValid(capsule, dlpack::kCapsuleName) == 0) return;
  auto* managed = static_cast<dlpack::ManagedTensor*>(PyCapsule_GetPointer(capsule, dlpack::kCapsuleName));
  if (managed != nullptr) managed->deleter(managed);
}

}  // namespace

bool exported_as_raw_bytes(DType dtype) noexcept { return !element_type(dtype).has_value(); }

py::capsule to_dlpack(const std::shared_ptr<TensorBlock>& block, std::size_t index) {
  const BlockTensor& t = block->tensor(index);
  const Destination destination = block->destination(index);
  auto exported = std::make_unique<ExportedTensor>();
  exported->owner = block;
  exported->layout = layout_of(t);
  dlpack::Tensor& dl_tensor = exported->managed.dl_tensor;
  // A tensor without bytes has no destination; DLPack consumers still want a non-null pointer.
  dl_tensor.data = destination.data != nullptr ? destination.data : static_cast<void*>(exported.get());
  const auto device = block->cuda_device();
  dl_tensor.device = device ? dlpack::Device{dlpack::kCuda, *device} : dlpack::Device{dlpack::kCpu, 0};
  dl_tensor.ndim = static_cast<std::int32_t>(exported->layout.shape.size());
  dl_tensor.dtype = exported->layout.type.torch;
  dl_tensor.shape = exported->layout.shape.data();
  dl_tensor.strides = exported->layout.strides.data();
  dl_tensor.byte_offset = 0;
  exported->managed.manager_ctx = exported.get();
  exported->managed.deleter = delete_exported;
  PyObject* capsule = PyCapsule_New(&exported->managed, dlpack::kCapsuleName, destroy_unused_capsule);
  if (capsule == nullptr) throw py::error_already_set();
  (void)exported.release();  // now owned by the capsule, then by its consumer
  return py::reinterpret_steal<py::capsule>(capsule);
}

py::object to_numpy(const std::shared_ptr<TensorBlock>& block, std::size_t index) {
  if (block->cuda_device()) {
    throw py::value_error("numpy arrays live in host memory; load with device=\"cpu\" for numpy");
  }
  const BlockTensor& t = block->tensor(index);
  const Destination destination = block->destination(index);
  const Layout layout = layout_of(t);
  const py::dtype dtype(layout.type.numpy);
  std::vector<py::ssize_t> shape(layout.shape.begin(), layout.shape.end());
  std::vector<py::ssize_t> strides;
  strides.reserve(layout.strides.size());
  for (const std::int64_t s : layout.strides) strides.push_back(s * dtype.itemsize());
  auto share = std::make_unique<std::shared_ptr<TensorBlock>>(block);
  const py::capsule base(share.get(), [](void* p) {
    const std::unique_ptr<std::shared_ptr<TensorBlock>> owned(static_cast<std::shared_ptr<TensorBlock>*>(p));
  });
  (void)share.release();                                                     // owned by the capsule now
  if (destination.data == nullptr) return py::array(dtype, shape, strides);  // no bytes to share
  return py::array(dtype, shape, strides, destination.data, base);
}

}  // namespace ringload::python
