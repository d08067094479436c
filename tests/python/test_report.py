"""LoadReport, inspect() and the progress bar."""

import hashlib
import json
import re
import subprocess

import pytest

import ringload
from conftest import CLI, fixture_files
from spec_readers import read_any

REPORT_ATTRIBUTES = {  # the C++ LoadReport's fields (include/ringload/pipeline.hpp) and their types
    "path": str, "requested": str, "strategy": str, "io_engine": str, "io_engine_reason": str, "sink": str, "bytes": int, "bytes_read": int, "tensors": int,
    "wall_s": float, "gb_per_s": float, "time_to_first_tensor_s": float, "read_busy_s": float,
    "copy_busy_s": float, "release_busy_s": float, "cpu_user_s": float, "cpu_system_s": float,
    "peak_rss_bytes": int, "storage_bytes_read": int, "anon_rss_before_bytes": int, "anon_rss_after_bytes": int,
    "file_resident_pages_after": int, "file_total_pages": int, "staging_bytes": int, "staging_huge_pages": bool,
    "staging_registered": bool, "staging_pinned": bool, "warnings": list, "digests": list,
}


def test_report_has_every_field_and_adds_up(gen):
    path = gen("safetensors", "BF16", size="16MiB")
    spec = read_any(path)
    tensors, report = ringload.load(path, checksum=True)
    for name, kind in REPORT_ATTRIBUTES.items():
        assert isinstance(getattr(report, name), kind), name
    assert report.path == str(path) and report.sink == "host" and report.requested == "auto"
    assert report.strategy in ringload.strategies() and report.strategy != "auto"
    assert report.tensors == len(spec.tensors)
    assert report.bytes == sum(len(t.data) for t in spec.tensors)
    assert report.bytes_read >= report.bytes
    assert report.gb_per_s == pytest.approx(report.bytes / report.wall_s / 1e9, rel=1e-6)
    assert 0 <= report.time_to_first_tensor_s <= report.wall_s
    assert report.file_total_pages == (path.stat().st_size + 4095) // 4096
    assert report.file_resident_pages_after <= report.file_total_pages // 100
    # Digests: file order, offsets and sizes of the spec's table, SHA-256 of the file's bytes.
    assert [(d.name, d.offset, d.size) for d in report.digests] == [(t.name, t.offset, len(t.data))
                                                                   for t in spec.tensors]
    assert [d.sha256 for d in report.digests] == [hashlib.sha256(t.data).hexdigest() for t in spec.tensors]


@pytest.mark.parametrize("strategy", ["read", "mmap", "mmap-pipelined", "uring", "uring-direct", "pread-direct"])
def test_each_strategy_runs_as_asked_and_loads_the_same_bytes(gen, strategy):
    path = gen("gguf", "Q6_K", size="8MiB")
    spec = read_any(path)
    tensors, report = ringload.load(path, framework="np", strategy=strategy)
    assert report.requested == strategy
    assert report.strategy == strategy or report.warnings, "a fallback must say why"
    assert [a.tobytes() for a in tensors.values()] == [t.data for t in spec.tensors]


def test_storage_bytes_read_counts_reads_from_storage_not_cache_hits(gen):
    path = gen("safetensors", "F16", size="8MiB")
    _, report = ringload.load(path, strategy="uring", release=False)  # leaves the file cached
    _, cached = ringload.load(path, strategy="mmap-pipelined")  # served by the page cache
    assert cached.storage_bytes_read < cached.bytes // 10
    try:
        _, direct = ringload.load(path, strategy="pread-direct")  # O_DIRECT: from storage, cache or not
    except ringload.Error as e:
        pytest.skip(f"O_DIRECT does not work here: {e}")
    assert direct.storage_bytes_read >= direct.bytes


def test_release_false_leaves_the_file_cached(gen):
    path = gen("safetensors", "F16", size="8MiB")
    _, report = ringload.load(path, strategy="uring", release=False)
    assert report.file_resident_pages_after >= report.file_total_pages * 9 // 10
    _, report = ringload.load(path, strategy="uring")
    assert report.file_resident_pages_after <= report.file_total_pages // 100


def test_tensors_loads_only_those(gen):
    path = gen("apr", "APR_Q8", size="2MiB", tensors=6)
    spec = read_any(path).tensors
    tensors, report = ringload.load(path, tensors=[spec[4].name, spec[1].name])
    assert list(tensors) == [spec[1].name, spec[4].name]
    assert report.tensors == 2 and report.bytes == len(spec[1].data) + len(spec[4].data)


INSPECTED = fixture_files("*.gguf")[:3] + fixture_files("*.safetensors")[:3]


@pytest.mark.parametrize("path", INSPECTED, ids=[p.name for p in INSPECTED])
def test_inspect_is_the_cli_json(path):
    cli = json.loads(subprocess.run([str(CLI), "inspect", "--json", str(path)], check=True, capture_output=True,
                                    text=True).stdout)
    assert ringload.inspect(path) == cli


def test_inspect_of_generated_files_is_the_cli_json(gen):
    for fmt in ("safetensors", "gguf", "apr"):
        path = gen(fmt, "F16", size="64KiB", tensors=3)
        cli = json.loads(subprocess.run([str(CLI), "inspect", "--json", str(path)], check=True,
                                        capture_output=True, text=True).stdout)
        assert ringload.inspect(path) == cli, fmt


def test_safetensors_metadata_is_a_str_dict_or_none(gen):
    hadamards = [p for p in fixture_files("hadamards.safetensors")]
    if hadamards:
        with ringload.safe_open(hadamards[0], framework="np") as f:
            metadata = f.metadata()
        assert metadata == read_any(hadamards[0]).metadata
        assert all(isinstance(k, str) and isinstance(v, str) for k, v in metadata.items())
    path = gen("safetensors", "F16", size="64KiB", tensors=2)
    with ringload.safe_open(path, framework="np") as f:
        assert f.metadata() == read_any(path).metadata


def test_gguf_metadata_is_its_key_values(gen):
    path = gen("gguf", "F16", size="64KiB", tensors=2)
    with ringload.safe_open(path, framework="pt") as f:
        assert f.metadata() == pytest.approx(read_any(path).metadata)


def test_progress_draws_a_bar_on_stderr(gen, capfd):
    path = gen("safetensors", "F16", size="64MiB")
    ringload.load(path, progress=True)
    err = capfd.readouterr().err
    last = err.rstrip("\n").split("\r")[-1]
    assert re.search(r"100%\|#+\| \S+ [MG]B/\S+ [MG]B \[\d\d:\d\d<\S+, \d+\.\d\d GB/s\]$", last), err
    assert err.endswith("\n")
    list(ringload.stream(path, progress=True))
    assert "100%|" in capfd.readouterr().err
