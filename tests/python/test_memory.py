"""Zero copy and lifetimes: tensors are views on the memory the load allocated, which lives as long
as the last of them and no longer."""

import gc
import os

import numpy as np
import pytest

import ringload
import ringload.torch
from child import run
from expected import raw_bytes
from spec_readers import read_any

MiB = 1 << 20


def anonymous_mapping_around(begin, end):
    """The /proc/self/maps line of an anonymous mapping that holds [begin, end), or None."""
    for line in open("/proc/self/maps"):
        fields = line.split()
        lo, hi = (int(x, 16) for x in fields[0].split("-"))
        if lo <= begin and end <= hi:
            return line if len(fields) < 6 else None
    return None


@pytest.mark.parametrize("cache", ["warm", "cold"])
def test_torch_tensors_point_into_the_one_host_allocation(gen, cache):
    path = gen("safetensors", "BF16", size="64MiB")
    if cache == "cold":  # O_DIRECT reads land in the tensors' place (a file image), no staging copy
        fd = os.open(path, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
    else:
        path.read_bytes()
    tensors, report = ringload.load(path)
    begin, end = report._host_range
    assert anonymous_mapping_around(begin, end) is not None, "the host sink's memory is not one anonymous mapping"
    nbytes = 0
    for name, t in tensors.items():
        assert begin <= t.data_ptr() and t.data_ptr() + t.numel() * t.element_size() <= end, name
        nbytes += t.numel() * t.element_size()
    if cache == "cold":
        assert report.bytes_read_in_place == report.bytes_read > 0, report.strategy
        # One image of the file's tensor bytes: the header's tail before them, the last page after.
        assert nbytes <= end - begin <= nbytes + 2 * 4096
    else:
        assert report.bytes_read_in_place == 0, report.strategy  # copied from the page cache
        # One allocation of the tensors' bytes plus at most 64 bytes of alignment each: no second copy.
        assert nbytes <= end - begin <= nbytes + 64 * len(tensors)
    assert report.bytes == nbytes


def test_numpy_arrays_point_into_the_one_host_allocation(gen):
    arrays, report = ringload.load(gen("gguf", "Q4_K", size="16MiB"), framework="np")
    begin, end = report._host_range
    for name, a in arrays.items():
        address = a.__array_interface__["data"][0]
        assert begin <= address and address + a.nbytes <= end, name
        assert a.flags.writeable and not a.flags.owndata, name


def test_rss_grows_by_the_model_once_not_twice(gen):
    path = gen("safetensors", "F16", size="512MiB")
    result = run(f"""
        ringload.load({str(path)!r})  # warm-up: first-use costs of torch and the extension
        gc.collect()
        before = rss()
        tensors, report = ringload.load({str(path)!r})
        print(json.dumps({{"grown": rss() - before, "bytes": report.bytes,
                          "resident": report.file_resident_pages_after, "pages": report.file_total_pages}}))
    """)
    # The tensors are resident once (the load wrote them); no heap copy, ring freed, file released.
    assert 0.95 * result["bytes"] <= result["grown"] <= 1.2 * result["bytes"], result
    assert result["resident"] <= result["pages"] // 100, result


def test_tensor_outlives_its_dict_report_and_file(gen, scratch):
    src = gen("safetensors", "F32", size="4MiB", tensors=8)
    path = scratch / "outlives.safetensors"
    path.write_bytes(src.read_bytes())
    spec = {t.name: t for t in read_any(path).tensors}
    tensors, report = ringload.load(path)
    name, kept = next(iter(tensors.items()))
    del tensors, report
    path.unlink()
    gc.collect()
    assert raw_bytes(kept) == spec[name].data


def test_tensor_outlives_its_safe_open_handle(gen):
    path = gen("gguf", "F16", size="4MiB", tensors=8)
    spec = {t.name: t for t in read_any(path).tensors}
    with ringload.safe_open(path, framework="np") as f:
        name = f.offset_keys()[-1]
        kept = f.get_tensor(name)
        sliced = f.get_slice(name)[:1]
    del f
    gc.collect()
    assert raw_bytes(kept) == spec[name].data
    assert raw_bytes(sliced) == spec[name].data[:sliced.nbytes]


def test_yielded_tensor_outlives_a_stream_closed_early(gen):
    path = gen("safetensors", "BF16", size="64MiB")
    spec = read_any(path).tensors
    s = ringload.stream(path)
    name, first = next(s)
    s.close()  # cancels the rest; the memory stays for `first`
    del s
    gc.collect()
    assert name == spec[0].name and raw_bytes(first) == spec[0].data


def test_memory_goes_with_the_last_view_and_50_loads_leave_rss_at_baseline(gen):
    path = gen("safetensors", "BF16", size="256MiB")
    result = run(f"""
        path = {str(path)!r}
        ringload.load(path); gc.collect()
        baseline = rss()
        tensors, report = ringload.load(path)
        one = max(tensors.values(), key=lambda t: t.numel())
        del tensors, report; gc.collect()
        held_by_one = rss() - baseline          # one view keeps the whole block
        del one; gc.collect()
        after_last = rss() - baseline
        for _ in range(50):
            tensors, report = ringload.load(path)
            del tensors, report
        gc.collect()
        print(json.dumps({{"held_by_one": held_by_one, "after_last": after_last, "after_50": rss() - baseline}}))
    """)
    assert result["held_by_one"] >= 200 * MiB, result
    assert abs(result["after_last"]) <= 32 * MiB, result
    assert abs(result["after_50"]) <= 32 * MiB, result
