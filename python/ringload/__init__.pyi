import os
from typing import Any, Dict, Iterator, List, Optional, Sequence, Tuple, Union

PathLike = Union[str, os.PathLike]
Device = Union[str, int, Any]  # "cpu", "cuda", "cuda:N", an int N or a torch.device

class Error(Exception):
    kind: str
    path: str
    tensor: str
    offset: Optional[int]
    message: str

class FormatError(Error, ValueError): ...
class IOError(Error, OSError): ...
class NotFoundError(IOError, FileNotFoundError): ...
class PermissionDeniedError(IOError, PermissionError): ...
class TensorNotFoundError(Error, KeyError): ...
class ArgumentError(Error, ValueError): ...
class CancelledError(Error): ...

class TensorDigest:
    name: str
    offset: int
    size: int
    sha256: str

class LoadReport:
    path: str
    requested: str
    strategy: str
    sink: str
    bytes: int
    bytes_read: int
    bytes_read_in_place: int
    tensors: int
    wall_s: float
    gb_per_s: float
    time_to_first_tensor_s: float
    read_busy_s: float
    copy_busy_s: float
    release_busy_s: float
    cpu_user_s: float
    cpu_system_s: float
    peak_rss_bytes: int
    storage_bytes_read: int
    anon_rss_before_bytes: int
    anon_rss_after_bytes: int
    file_resident_pages_after: int
    file_total_pages: int
    staging_bytes: int
    staging_huge_pages: bool
    staging_registered: bool
    staging_pinned: bool
    warnings: List[str]
    digests: List[TensorDigest]

def strategies() -> List[str]: ...
def load(
    path: PathLike,
    framework: str = "pt",
    device: Device = "cpu",
    strategy: str = "auto",
    checksum: bool = False,
    progress: bool = False,
    release: bool = True,
    tensors: Optional[Sequence[str]] = None,
) -> Tuple[Dict[str, Any], LoadReport]: ...

class Stream(Iterator[Tuple[str, Any]]):
    report: Optional[LoadReport]
    def __next__(self) -> Tuple[str, Any]: ...
    def close(self) -> None: ...
    def __enter__(self) -> "Stream": ...
    def __exit__(self, *exc_info: Any) -> None: ...

def stream(
    path: PathLike,
    framework: str = "pt",
    device: Device = "cpu",
    strategy: str = "auto",
    checksum: bool = False,
    progress: bool = False,
    release: bool = True,
    tensors: Optional[Sequence[str]] = None,
) -> Stream: ...
def inspect(path: PathLike) -> Union[Dict[str, Any], List[Dict[str, Any]]]: ...

class _Slice:
    bytes_read: int
    def get_shape(self) -> List[int]: ...
    def get_dtype(self) -> str: ...
    def __len__(self) -> int: ...
    def __getitem__(self, key: Any) -> Any: ...

class safe_open:
    def __init__(self, filename: PathLike, framework: str, device: Device = "cpu") -> None: ...
    def __enter__(self) -> "safe_open": ...
    def __exit__(self, *exc_info: Any) -> None: ...
    def close(self) -> None: ...
    def keys(self) -> List[str]: ...
    def offset_keys(self) -> List[str]: ...
    def metadata(self) -> Optional[Dict[str, Any]]: ...
    def get_tensor(self, name: str) -> Any: ...
    def get_slice(self, name: str) -> _Slice: ...
