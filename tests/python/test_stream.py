"""stream(): tensors in file order, each as soon as it landed, while later ones still load."""

import os

import pytest
import torch  # noqa: F401 - imported before any timing: its first import takes seconds

import ringload
from expected import check
from spec_readers import read_any


def test_yields_in_file_order_with_a_report_at_the_end(gen):
    path = gen("gguf", "Q8_0", size="32MiB")
    spec = read_any(path)
    s = ringload.stream(path, framework="np")
    names = []
    for (name, tensor), expected in zip(s, spec.tensors):
        check(tensor, expected, "np")
        names.append(name)
    assert names == [t.name for t in spec.tensors]
    assert s.report is not None and s.report.tensors == len(spec.tensors)


def test_first_tensor_comes_while_the_rest_still_loads(gen):
    path = gen("safetensors", "BF16", size="256MiB", tensors=64)
    fd = os.open(path, os.O_RDONLY)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)  # cold: the disk sets the pace
    os.close(fd)
    s = ringload.stream(path)
    next(s)
    still_loading = not s._job.finished
    rest = sum(1 for _ in s)
    assert still_loading, "the first tensor came only after the whole load"
    assert rest == 63
    assert 0 <= s.report.time_to_first_tensor_s < s.report.wall_s


def test_a_subset_streams_only_the_named_tensors(gen):
    path = gen("apr", "F32", size="1MiB", tensors=10)
    spec = read_any(path).tensors
    wanted = [spec[7].name, spec[2].name]
    got = [name for name, _ in ringload.stream(path, tensors=wanted)]
    assert got == [spec[2].name, spec[7].name]  # file order, whatever the order asked


def test_breaking_out_cancels_the_rest(gen):
    path = gen("safetensors", "F16", size="256MiB", tensors=64)
    with ringload.stream(path) as s:
        for i, _ in enumerate(s):
            if i == 2:
                break
    assert s._job is None and s.report is None
    assert list(s) == []


def test_a_stream_of_a_missing_tensor_raises_its_error(gen, scratch):
    path = scratch / "subset.safetensors"
    path.write_bytes(gen("safetensors", "F32", size="1MiB", tensors=4).read_bytes())
    with pytest.raises(ringload.TensorNotFoundError) as raised:
        list(ringload.stream(path, tensors=["no such tensor"]))
    assert raised.value.kind == "not_found" and raised.value.tensor == "no such tensor"
    assert raised.value.path == str(path)
