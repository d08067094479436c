"""Whole checkpoints through the Python package: a directory, an HF index, any GGUF split.

Every tensor is compared with an independent read of the shard that holds it (spec_readers), so a
tensor taken from the wrong shard, or at the wrong offset within it, fails."""

import json
import os
import subprocess

import numpy as np
import pytest

import ringload
import ringload.numpy
import ringload.torch
from conftest import CLI, FIXTURES
from expected import check, numpy_dtype
from spec_readers import read_any


def make_set(fmt, out, shards=3):
    if not CLI.exists():
        pytest.skip(f"{CLI} is not built")
    subprocess.run([str(CLI), "gen", "-q", "--format", fmt, "--size", "2MiB", "--tensors", "24", "--dtype", "F16",
                    "--shards", str(shards), str(out)], check=True)
    return out


def shard_files(directory, ext):
    return sorted(p for p in directory.iterdir() if p.suffix == ext)


def spec_of(files):
    """name -> (SpecTensor, its file) read independently from every shard."""
    tensors = {}
    for f in files:
        for t in read_any(f).tensors:
            assert t.name not in tensors, f"{t.name} in two shards"
            tensors[t.name] = (t, f)
    return tensors


@pytest.mark.parametrize("fmt,ext", [("safetensors", ".safetensors"), ("gguf", ".gguf")])
def test_every_path_of_a_set_loads_every_tensor_byte_exact(scratch, fmt, ext):
    directory = make_set(fmt, scratch / "set")
    files = shard_files(directory, ext)
    assert len(files) == 3
    spec = spec_of(files)
    # A safetensors shard alone is one model file; a GGUF split stands for its whole set.
    paths = [directory, directory / "model.safetensors.index.json" if fmt == "safetensors" else files[1]]
    for path in paths:
        got = ringload.numpy.load_file(path)
        assert sorted(got) == sorted(spec), path
        for name, (t, _) in spec.items():
            check(got[name], t, "np")
        tensors, report = ringload.load(path, framework="pt")
        for name, (t, _) in spec.items():
            check(tensors[name], t, "pt")
        assert report.bytes == sum(len(t.data) for t, _ in spec.values())
        assert report.file_resident_pages_after <= report.file_total_pages // 100, (path, report)


def test_stream_yields_in_load_order_shard_after_shard(scratch):
    directory = make_set("safetensors", scratch / "set")
    files = shard_files(directory, ".safetensors")
    spec = spec_of(files)
    names = [name for name, _ in ringload.stream(directory, framework="np")]
    # Load order: shard by shard (bytewise file names), then by offset within the shard.
    expected = [t.name for f in files for t in sorted(read_any(f).tensors, key=lambda t: t.offset)]
    assert names == expected
    assert set(names) == set(spec)


def test_safe_open_of_a_set_gets_tensors_and_slices_from_the_right_shard(scratch):
    directory = make_set("safetensors", scratch / "set")
    spec = spec_of(shard_files(directory, ".safetensors"))
    with ringload.safe_open(directory / "model.safetensors.index.json", framework="np") as f:
        assert sorted(f.keys()) == sorted(spec)
        for name, (t, _) in spec.items():
            check(f.get_tensor(name), t, "np")
            whole = np.frombuffer(t.data, dtype=numpy_dtype(t.dtype)).reshape(t.shape)
            part = f.get_slice(name)
            rows = max(1, t.shape[0] // 2)
            assert np.array_equal(part[:rows], whole[:rows]), name


def test_inspect_of_a_set_is_one_object_per_file_in_load_order(scratch):
    directory = make_set("gguf", scratch / "split")
    files = shard_files(directory, ".gguf")
    listed = ringload.inspect(files[2])  # any split opens the whole set
    assert isinstance(listed, list) and [d["path"] for d in listed] == [str(f) for f in files]
    for d, f in zip(listed, files):
        assert sorted(t["name"] for t in d["tensors"]) == sorted(t.name for t in read_any(f).tensors)
        assert d["file_size"] == os.path.getsize(f)
    assert isinstance(ringload.inspect(files[0].parent / files[0].name), list)


def test_a_set_with_a_missing_shard_raises_naming_it(scratch):
    directory = make_set("safetensors", scratch / "set")
    missing = shard_files(directory, ".safetensors")[1]
    missing.unlink()
    with pytest.raises(ringload.Error) as raised:
        ringload.numpy.load_file(directory)
    assert raised.value.kind == "missing_shard"
    assert missing.name in str(raised.value)


def test_the_real_sharded_fixture_as_directory_and_as_index():
    directory = FIXTURES / "sharded-safetensors-jl"
    if not directory.is_dir():
        pytest.skip(f"{directory} is absent")
    spec = spec_of(shard_files(directory, ".safetensors"))
    index = json.load(open(directory / "model.safetensors.index.json"))
    assert set(index["weight_map"]) == set(spec)
    for path in (directory, directory / "model.safetensors.index.json"):
        got = ringload.torch.load_file(path)
        assert sorted(got) == sorted(spec)
        for name, (t, _) in spec.items():
            check(got[name], t, "pt")
