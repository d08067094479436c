"""``safe_open``: safetensors' lazy handle, over ringload."""

import operator
import os

from ringload import _export, _ringload


class safe_open:  # noqa: N801 - safetensors' name
    """Open a model file lazily: ``keys()``, ``metadata()``, ``get_tensor(name)``,
    ``get_slice(name)``. A context manager, as in safetensors::

        with ringload.safe_open("model.safetensors", framework="pt") as f:
            for name in f.keys():
                tensors[name] = f.get_tensor(name)

    get_tensor loads one tensor through ringload's pipeline (one staging ring and io thread per
    handle, kept between calls). get_slice(name)[...] reads only the slice's bytes.
    """

    def __init__(self, filename, framework, device="cpu"):
        self._source = self._worker = None
        self._fw = _export.framework(framework)
        self._cuda = _export.cuda_index(device, self._fw)
        self._source = _ringload.Source(os.fspath(filename))

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        self.close()

    def close(self):
        """Closes the file and stops the handle's io thread; tensors already returned stay."""
        if self._worker is not None:
            self._worker.close()
            self._worker = None
        if self._source is not None:
            self._source.close()
            self._source = None

    def _opened(self):
        if self._source is None:
            raise ValueError("the file was closed")
        return self._source

    def keys(self):
        """Tensor names, sorted (as safetensors' keys()); offset_keys() gives file order."""
        return sorted(self._opened().tensor_names())

    def offset_keys(self):
        """Tensor names in file order."""
        return list(self._opened().tensor_names())

    def metadata(self):
        """safetensors: the ``__metadata__`` dict[str, str], or None without one (as safetensors).
        GGUF: its key/value pairs; APR: its JSON metadata object."""
        source = self._opened()
        metadata = source.metadata()
        if source.format == "safetensors" and not metadata:
            return None  # ringload keeps no difference between an absent and an empty map
        return metadata

    def get_tensor(self, name):
        """Tensor `name`, loaded through the pipeline into memory of its own (no second copy)."""
        source = self._opened()
        if self._worker is None:
            self._worker = _ringload.Worker(True)
        job = self._worker.start(source, self._cuda, "auto", False, True, [str(name)])
        job.wait()
        job.result()  # raises the load's error
        return _export.one(job.block(), 0, self._fw)

    def get_slice(self, name):
        """A lazy view of tensor `name`: get_shape(), get_dtype(), and ``[...]`` indexing that
        reads only the selected bytes."""
        return _Slice(self._opened(), str(name), self._fw)


class _Slice:
    """safetensors' PySafeSlice. Block-quantized and sub-byte tensors (no element type in any
    framework) index their raw bytes, as get_tensor returns them; get_shape() still gives the
    logical shape and get_dtype() the ringload dtype ("Q4_K", "F4", ...)."""

    def __init__(self, source, name, fw):
        self._source, self._name, self._fw = source, name, fw
        self._dtype, shape, raw, size = source.tensor_view(name)
        self._shape = list(shape)
        self._index_shape = [size] if raw else self._shape
        self.bytes_read = 0  # file bytes the last [...] read

    def get_shape(self):
        return list(self._shape)

    def get_dtype(self):
        return self._dtype

    def __len__(self):
        return self._index_shape[0] if self._index_shape else 0

    def __getitem__(self, key):
        selections, shape = _selection(key, self._index_shape)
        block, self.bytes_read = self._source.read_slice(self._name, selections, True)
        tensor = _export.one(block, 0, self._fw)
        return tensor.reshape(shape)


def _selection(key, dims):
    """([(start, count, step)] per dim, result shape) for an index of ints, slices and one Ellipsis."""
    key = key if isinstance(key, tuple) else (key,)
    if sum(k is Ellipsis for k in key) > 1:
        raise IndexError("an index can only have a single ellipsis ('...')")
    if Ellipsis in key:
        at = key.index(Ellipsis)
        key = key[:at] + (slice(None),) * (len(dims) - len(key) + 1) + key[at + 1:]
    if len(key) > len(dims):
        raise IndexError(f"too many indices: the tensor has {len(dims)} dims, the index {len(key)}")
    key = key + (slice(None),) * (len(dims) - len(key))
    selections, shape = [], []
    for dim, (k, size) in enumerate(zip(key, dims)):
        if isinstance(k, slice):
            start, stop, step = k.indices(size)
            if step < 1:
                raise ValueError(f"dim {dim}: step {step}: only positive steps are supported")
            count = len(range(start, stop, step))
            selections.append((start if count else 0, count, step))
            shape.append(count)
            continue
        try:
            i = operator.index(k)
        except TypeError:
            raise TypeError(f"dim {dim}: index {k!r} is not an int, a slice or '...'") from None
        if not -size <= i < size:
            raise IndexError(f"dim {dim}: index {i} is out of bounds for size {size}")
        selections.append((i % size, 1, 1))
    return selections, shape
