"""ringload's exceptions: one class per kind of failure, each also the builtin it is a case of.

``except ringload.Error`` catches every failure. Each error carries the C++ ``ringload::Error``'s
fields: ``kind`` (the ErrorKind's name, e.g. ``"truncated"``), ``path``, ``tensor`` (``""`` when
the error is not about one tensor) and ``offset`` (absolute byte offset, or ``None``); ``str(e)``
names the file, tensor and byte offset and says what was expected.
"""

# Kinds that mean the file's bytes are wrong (include/ringload/error.hpp).
_FORMAT_KINDS = frozenset({
    "truncated", "bad_magic", "unsupported_version", "unsupported_feature", "header_too_large",
    "malformed_header", "invalid_name", "duplicate_name", "unknown_dtype", "invalid_shape",
    "size_mismatch", "overflow", "out_of_bounds", "overlap", "gap", "misaligned", "unsorted_index",
    "checksum_mismatch", "decompression",
    # A whole checkpoint's files that do not fit together.
    "misplaced_tensor", "unlisted_tensor", "malformed_index", "split_count_mismatch", "split_out_of_sequence",
    "split_tensor_count", "ambiguous_checkpoint",
})


class Error(Exception):
    """Every ringload failure. Attributes: kind, path, tensor, offset, message."""

    kind = "io"
    path = ""
    tensor = ""
    offset = None
    message = ""
    _text = None

    def __str__(self):
        return self._text if self._text is not None else super().__str__()


class FormatError(Error, ValueError):
    """The file is not a valid APR v2, safetensors or GGUF file (malformed, truncated, ...)."""


class IOError(Error, OSError):  # noqa: A001 - the contract's name; the builtin stays reachable as OSError
    """A system call failed (``errno`` is set), the file is missing or unreadable, memory or a
    device was lacking."""


class NotFoundError(IOError, FileNotFoundError):
    """The file does not exist (what safetensors raises, FileNotFoundError, catches it too)."""


class PermissionDeniedError(IOError, PermissionError):
    """The file exists but cannot be opened."""


class TensorNotFoundError(Error, KeyError):
    """The file has no tensor of that name."""


class ArgumentError(Error, ValueError):
    """An argument that makes no sense (an unknown strategy, a slice outside the tensor, ...)."""


class CancelledError(Error):
    """The load was cancelled (Ctrl-C raises KeyboardInterrupt instead)."""


def _class_for(kind, tensor):
    if kind in _FORMAT_KINDS:
        return FormatError
    if kind == "not_found":
        return TensorNotFoundError if tensor else NotFoundError
    if kind == "missing_shard":  # a file the checkpoint's index or split set names is not there
        return NotFoundError
    if kind == "permission_denied":
        return PermissionDeniedError
    if kind == "invalid_argument":
        return ArgumentError
    if kind == "cancelled":
        return CancelledError
    return IOError  # io, out_of_memory, no_device


def _from_native(kind, path, tensor, offset, message, os_errno, text):
    """Called by the extension with a ringload::Error's fields; returns the exception to raise."""
    cls = _class_for(kind, tensor)
    if issubclass(cls, OSError):
        # OSError's own (errno, strerror, filename) arguments, so e.errno and e.filename work.
        error = cls(os_errno or None, message, path)
    else:
        error = cls(text)
    error.kind, error.path, error.tensor, error.offset = kind, path, tensor, offset
    error.message, error._text = message, text
    return error
