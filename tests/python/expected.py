"""What each dtype must become, from issue 12's contract (not from ringload's code): the
framework's dtype of the same name; raw bits under a same-width integer where the framework lacks
it; 1-D uint8 of the raw bytes for sub-byte and block-quantized types."""

import numpy as np
import torch

_ELEMENT_TYPES = {
    # ringload dtype: (torch 1.13 dtype, numpy dtype, bytes per element)
    "F64": (torch.float64, np.float64, 8),
    "F32": (torch.float32, np.float32, 4),
    "F16": (torch.float16, np.float16, 2),
    "BF16": (torch.bfloat16, np.uint16, 2),
    "C64": (torch.complex64, np.complex64, 8),
    "I64": (torch.int64, np.int64, 8),
    "I32": (torch.int32, np.int32, 4),
    "I16": (torch.int16, np.int16, 2),
    "I8": (torch.int8, np.int8, 1),
    "U64": (torch.int64, np.uint64, 8),
    "U32": (torch.int32, np.uint32, 4),
    "U16": (torch.int16, np.uint16, 2),
    "U8": (torch.uint8, np.uint8, 1),
    "BOOL": (torch.bool, np.bool_, 1),
    "F8_E4M3": (torch.uint8, np.uint8, 1),
    "F8_E5M2": (torch.uint8, np.uint8, 1),
    "F8_E8M0": (torch.uint8, np.uint8, 1),
    "F8_E4M3FNUZ": (torch.uint8, np.uint8, 1),
    "F8_E5M2FNUZ": (torch.uint8, np.uint8, 1),
}


def is_raw(dtype):
    return dtype not in _ELEMENT_TYPES


def torch_dtype(dtype):
    return _ELEMENT_TYPES[dtype][0] if dtype in _ELEMENT_TYPES else torch.uint8


def numpy_dtype(dtype):
    return np.dtype(_ELEMENT_TYPES[dtype][1] if dtype in _ELEMENT_TYPES else np.uint8)


def shape(spec_tensor):
    return [len(spec_tensor.data)] if is_raw(spec_tensor.dtype) else list(spec_tensor.shape)


def raw_bytes(tensor):
    """The bytes of a torch tensor or numpy array, as laid out in memory (row-major)."""
    if isinstance(tensor, np.ndarray):
        return np.ascontiguousarray(tensor).tobytes()
    flat = tensor.contiguous().reshape(-1)
    return flat.view(torch.uint8).numpy().tobytes() if flat.numel() else b""


def check(tensor, spec_tensor, framework):
    """Asserts that `tensor` is `spec_tensor` (shape, dtype, every byte)."""
    name = spec_tensor.name
    if framework == "pt":
        assert isinstance(tensor, torch.Tensor), name
        assert tensor.dtype == torch_dtype(spec_tensor.dtype), (name, spec_tensor.dtype, tensor.dtype)
        assert list(tensor.shape) == shape(spec_tensor), (name, list(tensor.shape))
    else:
        assert isinstance(tensor, np.ndarray), name
        assert tensor.dtype == numpy_dtype(spec_tensor.dtype), (name, spec_tensor.dtype, tensor.dtype)
        assert list(tensor.shape) == shape(spec_tensor), (name, list(tensor.shape))
    assert raw_bytes(tensor) == spec_tensor.data, f"{name}: bytes differ"
