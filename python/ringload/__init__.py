"""ringload: model weights (safetensors, GGUF, APR v2) from disk into torch tensors or numpy arrays
through ringload's pipeline -- io_uring/O_DIRECT reads, overlapped copies, nothing left in the page
cache -- behind the API of ``safetensors``.

Switching from safetensors is one import line::

    from ringload.torch import load_file      # was: from safetensors.torch import load_file
    from ringload import safe_open            # was: from safetensors import safe_open

What safetensors does not have::

    tensors, report = ringload.load("model.gguf", progress=True)   # + a LoadReport
    for name, tensor in ringload.stream("model.safetensors"):      # each tensor as it lands
        ...
    ringload.inspect("model.gguf")                                 # = `ringload inspect --json`

Every tensor is a view on memory ringload allocated for its load (no second copy); that memory is
freed when the last tensor of the load is gone. dtypes without a framework equivalent come as raw
bits (README "Python").
"""

import os

from ringload import _export, _ringload
from ringload._errors import (ArgumentError, CancelledError, Error, FormatError, IOError, NotFoundError,
                              PermissionDeniedError, TensorNotFoundError)
from ringload._progress import ProgressBar
from ringload._ringload import LoadReport, TensorDigest
from ringload._safe_open import safe_open

__all__ = [
    "load", "stream", "inspect", "safe_open", "Stream", "LoadReport", "TensorDigest", "Error", "FormatError",
    "IOError", "NotFoundError", "PermissionDeniedError", "TensorNotFoundError", "ArgumentError",
    "CancelledError", "strategies",
]

_POLL_S = 0.1  # how often a progress bar is redrawn while waiting


def strategies():
    """Names ``strategy=`` accepts: "auto" and each strategy `ringload load --strategy` knows."""
    return list(_ringload.strategy_names())


def _start(path, fw, device, strategy, checksum, release, tensors):
    cuda = _export.cuda_index(device, fw)
    source = _ringload.Source(os.fspath(path))
    worker = _ringload.Worker(False)
    try:
        names = None if tensors is None else [str(t) for t in tensors]
        job = worker.start(source, cuda, strategy, bool(checksum), bool(release), names)
    except BaseException:
        worker.close()
        raise
    finally:
        source.close()  # the load holds its own share: the file closes when it ends
    return worker, job


def load(path, framework="pt", device="cpu", strategy="auto", checksum=False, progress=False, release=True,
         tensors=None):
    """Load every tensor of `path` (or only the names in `tensors`) -> ``(dict, LoadReport)``.

    path: one safetensors, GGUF or APR v2 file, or a whole checkpoint: a directory, an HF
        ``*.index.json``, or any file of a GGUF split set (one load over every file).
    framework: "pt" (torch tensors) or "np" (numpy arrays).
    device: "cpu", or "cuda"/"cuda:N" (torch only; through ringload's CUDA sink).
    strategy: "auto" or one of ringload.strategies() ("uring-direct", "mmap", "read", ...).
    checksum: SHA-256 of every tensor as it passes (report.digests[i].sha256).
    progress: draw a progress bar on stderr (bytes, GB/s, ETA).
    release: drop the file's pages from the page cache as tensors land (nothing left behind).

    The dict is in file order. The GIL is released for the whole load; Ctrl-C cancels it and raises
    KeyboardInterrupt with nothing left behind. Failures raise ringload.Error (FormatError for a
    malformed file, IOError / NotFoundError for I/O, TensorNotFoundError for a missing name).
    The report's attributes are the C++ LoadReport's: gb_per_s, wall_s, time_to_first_tensor_s,
    peak_rss_bytes, file_resident_pages_after, read_busy_s / copy_busy_s / release_busy_s,
    strategy (what ran), digests, ...
    """
    fw = _export.framework(framework)
    worker, job = _start(path, fw, device, strategy, checksum, release, tensors)
    try:
        bar = ProgressBar(os.path.basename(os.fspath(path))) if progress else None
        try:
            if bar is None:
                job.wait()
            else:
                while not job.wait(_POLL_S):
                    bar.update(*job.progress()[:2])
                bar.update(*job.progress()[:2], force=True)
        finally:
            if bar is not None:
                bar.close()
        report = job.result()
        block = job.block()
        out = _export.all_of(block, fw)
        report._host_range = block.host_range()
        return out, report
    finally:
        worker.close()


class Stream:
    """Iterator of ``(name, tensor)`` in file order, each as soon as it landed while later ones
    still load. ``report`` is set once the iteration ended; ``close()`` (or leaving a ``with``
    block, or dropping the iterator) cancels the rest of the load."""

    def __init__(self, path, framework="pt", device="cpu", strategy="auto", checksum=False, progress=False,
                 release=True, tensors=None):
        self._job = self._worker = self._block = self._bar = None
        self.report = None
        self._fw = _export.framework(framework)
        self._worker, self._job = _start(path, self._fw, device, strategy, checksum, release, tensors)
        self._bar = ProgressBar(os.path.basename(os.fspath(path))) if progress else None

    def __iter__(self):
        return self

    def __next__(self):
        if self._job is None:
            raise StopIteration
        try:
            index = self._next_index()
            if index < 0:
                self.report = self._job.result()  # raises the load's error, if any
                self.close()
                raise StopIteration
            if self._block is None:
                self._block = self._job.block()
            return self._block.name(index), _export.one(self._block, index, self._fw)
        except BaseException:
            self.close()
            raise

    def _next_index(self):
        if self._bar is None:
            return self._job.next_ready()
        while True:
            index = self._job.next_ready(_POLL_S)
            self._bar.update(*self._job.progress()[:2], force=index == -1)
            if index is not None:
                return index

    def close(self):
        """Cancels what is still loading and waits for it to stop; tensors already yielded stay."""
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        if self._job is not None:
            self._job.cancel()
            self._worker.close()
            self._job = self._worker = self._block = None

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        self.close()


def stream(path, framework="pt", device="cpu", strategy="auto", checksum=False, progress=False, release=True,
           tensors=None):
    """Like load(), but yields ``(name, tensor)`` in file order as each tensor lands, while later
    tensors still load: start on layer 0 while layer N loads. Returns a Stream (an iterator;
    ``.report`` after the end, ``.close()`` to stop early)."""
    return Stream(path, framework, device, strategy, checksum, progress, release, tensors)


def inspect(path):
    """The file's header, as ``ringload inspect --json`` prints it: ``{"path", "format",
    "file_size", "metadata", "tensors": [{"name", "dtype", "shape", "offset", "size"}]}`` (tensors
    sorted by offset, offsets absolute, GGUF shapes ne[0] first). Reads no tensor byte. A whole
    checkpoint (a directory, an ``*.index.json``, any GGUF split) gives a list of such dicts, one
    per file in load order, as the command does."""
    return _inspect(path, one_file=False)


def _inspect(path, one_file):
    source = _ringload.Source(os.fspath(path), one_file)
    try:
        if len(source.files) > 1:
            return [_inspect(f, one_file=True) for f in source.files]
        return {
            "path": source.path,
            "format": source.format,
            "file_size": source.file_size,
            "metadata": source.metadata(),
            "tensors": [{"name": n, "dtype": d, "shape": list(s), "offset": o, "size": z}
                        for n, d, s, o, z in source.tensors()],
        }
    finally:
        source.close()


def __getattr__(name):
    # ringload.torch / ringload.numpy import their framework: only when asked for.
    if name in ("torch", "numpy"):
        import importlib
        return importlib.import_module(f"ringload.{name}")
    raise AttributeError(f"module 'ringload' has no attribute {name!r}")
