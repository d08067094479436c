"""Failures: the exception type, its fields, its message, and nothing left behind -- Ctrl-C included."""

import errno
import os
import threading

import pytest

import ringload
import ringload.numpy
import ringload.torch
from child import run
from conftest import FIXTURES
from spec_readers import read_any

MiB = 1 << 20


def process_state():
    return sorted(os.listdir("/proc/self/fd")), threading.active_count(), len(os.listdir("/proc/self/task"))


ENTRY_POINTS = {
    "load": lambda p: ringload.load(p),
    "torch.load_file": lambda p: ringload.torch.load_file(p),
    "numpy.load_file": lambda p: ringload.numpy.load_file(p),
    "stream": lambda p: list(ringload.stream(p)),
    "safe_open": lambda p: ringload.safe_open(p, framework="pt"),
    "inspect": lambda p: ringload.inspect(p),
}


@pytest.mark.parametrize("entry", ENTRY_POINTS)
def test_missing_file_is_file_not_found(entry, scratch):
    path = str(scratch / "no-such-model.safetensors")
    before = process_state()
    with pytest.raises(FileNotFoundError) as raised:
        ENTRY_POINTS[entry](path)
    e = raised.value
    assert isinstance(e, ringload.NotFoundError) and isinstance(e, ringload.IOError) and isinstance(e, ringload.Error)
    assert (e.kind, e.path, e.tensor, e.errno, e.filename) == ("not_found", path, "", errno.ENOENT, path)
    assert path in str(e)
    assert process_state() == before


# Each defect read off the file's bytes against ../shared/formats (kind, byte offset of the fault).
MALFORMED = {
    "ollama-test-truncated-6B.gguf": ("truncated", 4),  # "GGUF" + 2 of the version's 4 bytes
    "emel-seed-magic-only-4B.gguf": ("truncated", 4),  # the magic alone
    "realizar-empty-0B.gguf": ("truncated", 0),
    "bitnet-seed-f2eadcec-version0.gguf": ("unsupported_version", 4),
    "bitnet-crash-69e8aa74-absurd-ntensors.gguf": ("truncated", 8),  # tensor_count far beyond the file
    "presentar-aprender-shell-base-APRN.apr": ("bad_magic", 0),  # APR v1 'APRN'
    "realizar-mnist_784x2-APRN.apr": ("bad_magic", 0),
    "presentar-sentiment_mini-APR0v1.apr": ("unsupported_version", 4),  # 'APR\0' + version 1
}


@pytest.mark.parametrize("name", sorted(MALFORMED))
def test_malformed_fixture_is_a_format_error_naming_file_and_offset(name):
    path = FIXTURES / "malformed" / name
    if not path.exists():
        pytest.skip(f"{path} is absent")
    kind, offset = MALFORMED[name]
    before = process_state()
    for entry in ENTRY_POINTS.values():
        with pytest.raises(ringload.FormatError) as raised:
            entry(path)
        e = raised.value
        assert isinstance(e, ValueError)
        assert (e.kind, e.path, e.offset) == (kind, str(path), offset)
        assert str(path) in str(e) and f"byte {offset}" in str(e)
    assert process_state() == before


@pytest.mark.parametrize("fmt", ["safetensors", "gguf"])
def test_truncated_file_names_the_first_tensor_past_the_end(gen, scratch, fmt):
    intact = gen(fmt, "BF16", size="1MiB", tensors=4)
    path = scratch / f"truncated.{fmt}"
    cut = intact.stat().st_size * 6 // 10
    path.write_bytes(intact.read_bytes()[:cut])
    first_past_end = next(t for t in read_any(intact).tensors if t.offset + len(t.data) > cut)
    before = process_state()
    with pytest.raises(ringload.FormatError) as raised:
        ringload.load(path)
    e = raised.value
    assert (e.kind, e.path, e.tensor, e.offset) == ("truncated", str(path), first_past_end.name, first_past_end.offset)
    assert first_past_end.name in str(e) and str(path) in str(e)
    assert process_state() == before


def test_bad_arguments_are_value_errors(gen):
    path = gen("safetensors", "F32", size="64KiB", tensors=2)
    with pytest.raises(ValueError, match="strategy 'fastest'"):
        ringload.load(path, strategy="fastest")
    with pytest.raises(ValueError, match="framework 'tf'"):
        ringload.load(path, framework="tf")
    with pytest.raises(ValueError, match="numpy arrays live in host memory"):
        ringload.load(path, framework="np", device="cuda:0")
    with pytest.raises(ringload.TensorNotFoundError) as raised:
        ringload.safe_open(path, framework="pt").get_tensor("nope")
    assert isinstance(raised.value, KeyError) and raised.value.tensor == "nope"


def test_cuda_without_a_device_is_an_io_error(gen):
    path = gen("safetensors", "F32", size="64KiB", tensors=2)
    try:
        import torch
        if torch.cuda.is_available():
            pytest.skip("a GPU is present")
    except ImportError:
        pass
    with pytest.raises(ringload.IOError) as raised:
        ringload.load(path, device="cuda:0")
    assert raised.value.kind == "no_device"


INTERRUPT = """
    import ctypes, mmap, signal
    path = {path!r}

    def cached_pages():
        libc = ctypes.CDLL(None, use_errno=True)
        libc.mmap.restype = ctypes.c_void_p
        libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int,
                              ctypes.c_long]
        fd = os.open(path, os.O_RDONLY)
        size = os.fstat(fd).st_size
        address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
        os.close(fd)
        vec = (ctypes.c_ubyte * ((size + 4095) // 4096))()
        assert libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vec) == 0
        libc.munmap(ctypes.c_void_p(address), ctypes.c_size_t(size))
        return sum(v & 1 for v in vec)

    def evict():
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)

    ringload.load(path, tensors=[ringload.inspect(path)["tensors"][0]["name"]])  # first-use costs
    gc.collect()
    evict()
    fds_before, threads_before, rss_before = fds(), threads(), rss()
    sent = []
    def interrupt():
        sent.append(time.monotonic())
        os.kill(os.getpid(), signal.SIGINT)
    timer = threading.Timer({delay}, interrupt)
    timer.start()
    outcome = "finished"
    try:
        {call}
    except KeyboardInterrupt:
        outcome = "interrupted"
        latency = time.monotonic() - sent[0]
    timer.join()
    gc.collect()
    print(json.dumps({{"outcome": outcome, "latency_s": latency if outcome == "interrupted" else None,
                      "fds": fds() == fds_before, "threads": [threads_before, threads()],
                      "mapped": len(maps_naming(path)), "cached_pages": cached_pages(),
                      "rss_grown": rss() - rss_before}}))
"""


@pytest.mark.parametrize("call", ["ringload.load(path)", "list(ringload.stream(path))",
                                  "ringload.safe_open(path, 'pt').get_tensor('model.embed_tokens.weight')"],
                         ids=["load", "stream", "safe_open"])
def test_ctrl_c_cancels_within_100ms_and_leaves_nothing(gen, call):
    # 2 GiB: still loading 0.15 s in at this machine kind's 4.3 GB/s disk ceiling.
    path = gen("safetensors", "BF16", size="2GiB", tensors=8)
    result = run(INTERRUPT.format(path=str(path), delay=0.15, call=call))
    assert result["outcome"] == "interrupted", "the load ended before the SIGINT came: use a larger file"
    assert result["latency_s"] < 0.1, result
    assert result["fds"], result
    assert result["threads"][0] == result["threads"][1], result
    assert result["mapped"] == 0, result
    assert result["cached_pages"] <= 256, result  # the cancelled load released what it read
    assert abs(result["rss_grown"]) <= 32 * MiB, result
