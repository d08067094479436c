"""Shared fixtures of the Python package's tests.

Run with Debian's interpreter, from the repository root, after the README's build:
    PYTHONPATH=build/python /usr/bin/python3 -m pytest tests/python
RINGLOAD_BUILD (default build/) names the build tree: its python/ is put on sys.path and its
tools/ringload/ringload generates the test models. RINGLOAD_FIXTURES (default ../shared/fixtures)
holds the real model files; tests that need them skip when they are absent.
"""

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BUILD = Path(os.environ.get("RINGLOAD_BUILD", ROOT / "build")).resolve()
sys.path.insert(0, str(BUILD / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))
FIXTURES = Path(os.environ.get("RINGLOAD_FIXTURES", ROOT.parent / "shared" / "fixtures")).resolve()
CLI = BUILD / "tools" / "ringload" / "ringload"


def fixture_files(pattern="*"):
    """Every valid model file in the fixtures folder (malformed/ excluded, sharded shards included)."""
    if not FIXTURES.is_dir():
        return []
    files = [p for p in FIXTURES.glob(pattern) if p.suffix in (".safetensors", ".gguf", ".apr")]
    files += [p for p in (FIXTURES / "sharded-safetensors-jl").glob("*.safetensors")]
    return sorted(files)


@pytest.fixture(scope="session")
def disk_tmp():
    """A folder on a real disk (not tmpfs): O_DIRECT and page-cache release need one.
    RINGLOAD_TEST_TMP, else build/tests/tmp/python."""
    path = Path(os.environ.get("RINGLOAD_TEST_TMP", BUILD / "tests" / "tmp")) / "python"
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def scratch(disk_tmp, request):
    """An empty folder on disk_tmp for one test, removed after it."""
    import shutil
    path = disk_tmp / f"scratch-{request.node.name}".replace("/", "_")[:120]
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir()
    yield path
    shutil.rmtree(path, ignore_errors=True)


@pytest.fixture(scope="session")
def gen(disk_tmp):
    """gen(format, dtype="F32", size="1MiB", tensors=0, seed=1, compress="none") -> Path of a model
    written by `ringload gen` (cached for the session)."""
    if not CLI.exists():
        pytest.skip(f"{CLI} is not built")
    made = {}

    def make(fmt, dtype="F32", size="1MiB", tensors=0, seed=1, compress="none"):
        key = (fmt, dtype, size, tensors, seed, compress)
        if key not in made:
            ext = {"safetensors": "safetensors", "gguf": "gguf", "apr": "apr"}[fmt]
            out = disk_tmp / f"gen-{fmt}-{dtype}-{size}-{tensors}-{seed}-{compress}.{ext}"
            if not out.exists():
                cmd = [str(CLI), "gen", "-q", "--format", fmt, "--dtype", dtype, "--size", size, "--seed", str(seed)]
                if tensors:
                    cmd += ["--tensors", str(tensors)]
                if compress != "none":
                    cmd += ["--compress", compress]
                subprocess.run(cmd + [str(out)], check=True)
                # Written back before any test loads it: the kernel keeps dirty pages cached
                # whatever FADV_DONTNEED says, which would read as pages a load left behind.
                fd = os.open(out, os.O_RDONLY)
                os.fsync(fd)
                os.close(fd)
            made[key] = out
        return made[key]

    yield make
    for path in made.values():
        path.unlink(missing_ok=True)
