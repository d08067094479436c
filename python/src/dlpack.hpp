// The DLPack ABI (dmlc/dlpack v0.x, `DLManagedTensor`, capsule name "dltensor"): what
// torch.utils.dlpack.from_dlpack takes. Debian ships no dlpack header, and the ABI is a handful
// of C structs frozen by the spec, so they are written out here.
#pragma once

#include <cstdint>

namespace ringload::python::dlpack {

enum DeviceType : std::int32_t { kCpu = 1, kCuda = 2 };

enum TypeCode : std::uint8_t { kInt = 0, kUInt = 1, kFloat = 2, kBfloat = 4, kComplex = 5 };

struct Device {
  std::int32_t device_type;
  std::int32_t device_id;
};

struct DataType {
  std::uint8_t code;
  std::uint8_t bits;
  std::uint16_t lanes;
};

struct Tensor {
  void* data;
  Device device;
  std::int32_t ndim;
  DataType dtype;
  std::int64_t* shape;
  std::int64_t* strides;  // in elements
  std::uint64_t byte_offset;
};

struct ManagedTensor {
  Tensor dl_tensor;
  void* manager_ctx;
  void (*deleter)(ManagedTensor* self);
};

// A consumer renames the capsule to this once it owns the tensor (and will call the deleter).
inline constexpr const char* kCapsuleName = "dltensor";
inline constexpr const char* kUsedCapsuleName = "used_dltensor";

}  // namespace ringload::python::dlpack
