"""get_slice(name)[...]: equal to numpy slicing of the whole tensor, reading only the slice's bytes."""

import numpy as np
import pytest
import torch

import ringload
from expected import raw_bytes

KEYS = [
    np.s_[:], np.s_[3], np.s_[-1], np.s_[2:9], np.s_[2:9, :], np.s_[:, 5:17], np.s_[::3], np.s_[1:20:4, ::7],
    np.s_[..., 2], np.s_[5, ...], np.s_[4:4], np.s_[100:], np.s_[-5:, -3:], np.s_[7, 11],
]


def rchar():
    """Bytes this process read through read(2)/pread(2) (/proc/self/io), counted by the kernel."""
    for line in open("/proc/self/io"):
        if line.startswith("rchar:"):
            return int(line.split()[1])


@pytest.fixture(scope="module")
def matrix(gen):
    path = gen("safetensors", "F32", size="4MiB", tensors=4)
    with ringload.safe_open(path, framework="np") as f:
        matrices = [n for n in f.keys() if len(f.get_slice(n).get_shape()) == 2]
        name = max(matrices, key=lambda n: np.prod(f.get_slice(n).get_shape()))
        return path, name, f.get_tensor(name)


@pytest.mark.parametrize("key", KEYS, ids=[str(k) for k in KEYS])
def test_slice_equals_numpy_slicing_and_reads_only_its_bytes(matrix, key):
    path, name, whole = matrix
    expected = whole[key]
    with ringload.safe_open(path, framework="np") as f:
        s = f.get_slice(name)
        assert s.get_shape() == list(whole.shape) and s.get_dtype() == "F32"
        probe = rchar()
        own = rchar() - probe  # reading /proc/self/io counts too
        before = rchar()
        got = s[key]
        read = rchar() - before - own
    assert got.dtype == expected.dtype and got.shape == expected.shape
    assert got.tobytes() == expected.tobytes()  # bytes: generated F32 data holds NaNs
    assert s.bytes_read == expected.nbytes
    assert read == expected.nbytes  # the kernel's count: not a byte more


def test_torch_slices_equal_torch_slicing(gen):
    path = gen("gguf", "BF16", size="1MiB", tensors=4)
    with ringload.safe_open(path, framework="pt") as f:
        for name in f.keys():
            whole = f.get_tensor(name)
            s = f.get_slice(name)
            key = np.s_[1:3] if whole.dim() == 1 else np.s_[1:3, ::5]
            got = s[key]
            assert got.dtype == whole.dtype and got.shape == whole[key].shape, name
            assert raw_bytes(got) == raw_bytes(whole[key]), name


def test_block_quantized_slices_index_raw_bytes_and_keep_the_logical_shape(gen):
    path = gen("gguf", "Q4_K", size="1MiB", tensors=4)
    table = {t["name"]: t for t in ringload.inspect(path)["tensors"]}
    with ringload.safe_open(path, framework="np") as f:
        name = next(n for n in f.keys() if table[n]["dtype"] == "Q4_K")
        s = f.get_slice(name)
        assert s.get_dtype() == "Q4_K" and s.get_shape() == list(reversed(table[name]["shape"]))
        whole = f.get_tensor(name)
        assert whole.dtype == np.uint8 and whole.shape == (table[name]["size"],)
        assert s[144:288].tobytes() == whole[144:288].tobytes() and s.bytes_read == 144


def test_bad_indices_raise(matrix):
    path, name, whole = matrix
    with ringload.safe_open(path, framework="np") as f:
        s = f.get_slice(name)
        with pytest.raises(IndexError):
            s[whole.shape[0]]
        with pytest.raises(IndexError):
            s[0, 0, 0]
        with pytest.raises(ValueError):
            s[::-1]
        with pytest.raises(TypeError):
            s[None]
