#!/usr/bin/python3
"""Loading one safetensors file into torch tensors from Python, every way, cold and warm.

    /usr/bin/python3 bench/results/2026-12-03-cpp-2vcpu/python_load_bench.py [--size 2GiB] [--repeat 5]

Generates the model with `ringload gen` under /var/tmp (deleted at the end), then runs each loader
in a fresh child process, interleaved, --repeat times cold (pages dropped with FADV_DONTNEED and
residency checked) and warm (the file read once before), and prints medians (min-max):
  ringload.torch.load_file   the Python package (auto strategy, host sink, torch tensors)
  ringload load (CLI)        the same pipeline from C++ (`ringload load --json`, its wall_s)
  read + torch.frombuffer    readinto() one bytearray, tensors as views of it (one heap copy)
  numpy.memmap copy          np.array(memmap[a:b]) per tensor, then torch.from_numpy (a copy out of
                             the page cache, the file left cached)
safetensors itself is not in Debian bookworm, so it is not among them. GB = 10^9 bytes.
"""

import argparse
import ctypes
import json
import mmap
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BUILD = os.environ.get("RINGLOAD_BUILD", os.path.join(ROOT, "build"))
CLI = os.path.join(BUILD, "tools", "ringload", "ringload")

CHILD = r"""
import json, os, sys, time
import numpy as np, torch
sys.path.insert(0, sys.argv[3])
import ringload.torch
path, loader = sys.argv[1], sys.argv[2]

def rss():
    for line in open("/proc/self/status"):
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024

DTYPES = {"BF16": torch.bfloat16, "F32": torch.float32, "F16": torch.float16}

def header(f):
    n = int.from_bytes(f.read(8), "little")
    meta = json.loads(f.read(n))
    meta.pop("__metadata__", None)
    return 8 + n, meta

def read_frombuffer():
    with open(path, "rb", buffering=0) as f:
        start, meta = header(f)
        f.seek(0)
        buf = bytearray(os.fstat(f.fileno()).st_size)
        f.readinto(buf)
    out = {}
    for name, t in meta.items():
        a, b = t["data_offsets"]
        dtype = DTYPES[t["dtype"]]
        count = (b - a) // torch.tensor([], dtype=dtype).element_size()
        out[name] = torch.frombuffer(buf, dtype=dtype, count=count, offset=start + a).reshape(t["shape"])
    return out

def memmap_copy():
    with open(path, "rb") as f:
        start, meta = header(f)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, t in meta.items():
        a, b = t["data_offsets"]
        out[name] = torch.from_numpy(np.array(mm[start + a:start + b])).view(DTYPES[t["dtype"]]).reshape(t["shape"])
    del mm
    return out

loaders = {"ringload.torch.load_file": lambda: ringload.torch.load_file(path),
           "read + torch.frombuffer": read_frombuffer, "numpy.memmap copy": memmap_copy}
before = rss()
t0 = time.perf_counter()
tensors = loaders[loader]()
wall = time.perf_counter() - t0
nbytes = sum(t.numel() * t.element_size() for t in tensors.values())
print(json.dumps({"wall_s": wall, "bytes": nbytes, "rss_grown": rss() - before}))
"""


def resident_pages(path):
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_long]
    fd = os.open(path, os.O_RDONLY)
    size = os.fstat(fd).st_size
    address = libc.mmap(None, size, mmap.PROT_READ, mmap.MAP_SHARED, fd, 0)
    os.close(fd)
    pages = (size + 4095) // 4096
    vec = (ctypes.c_ubyte * pages)()
    libc.mincore(ctypes.c_void_p(address), ctypes.c_size_t(size), vec)
    libc.munmap(ctypes.c_void_p(address), ctypes.c_size_t(size))
    return sum(v & 1 for v in vec), pages


def evict(path):
    fd = os.open(path, os.O_RDONLY)
    os.fsync(fd)
    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
    os.close(fd)
    resident, pages = resident_pages(path)
    assert resident == 0, f"{resident} of {pages} pages still cached after FADV_DONTNEED"


def warm(path):
    with open(path, "rb", buffering=0) as f:
        while f.read(64 << 20):
            pass


def run_one(path, loader):
    if loader == "ringload load (CLI)":
        out = subprocess.run([CLI, "load", "--json", path], check=True, capture_output=True, text=True).stdout
        doc = json.loads(out)
        report = doc[0] if isinstance(doc, list) else doc
        # The CLI's own figures: wall_s of the load (after the header is parsed), anonymous RSS.
        result = {"wall_s": report["wall_s"], "bytes": report["bytes"],
                  "rss_grown": report["anon_rss_after"] - report["anon_rss_before"]}
    else:
        out = subprocess.run([sys.executable, "-c", CHILD, path, loader, os.path.join(BUILD, "python")],
                             check=True, capture_output=True, text=True).stdout
        result = json.loads(out.strip().splitlines()[-1])
    result["cached_pages_after"], result["pages"] = resident_pages(path)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size", default="2GiB")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", help="write every run here")
    args = parser.parse_args()
    loaders = ["ringload.torch.load_file", "ringload load (CLI)", "read + torch.frombuffer", "numpy.memmap copy"]
    os.makedirs("/var/tmp/ringload-pybench", exist_ok=True)
    path = f"/var/tmp/ringload-pybench/model-{args.size}.safetensors"
    subprocess.run([CLI, "gen", "-q", "--format", "safetensors", "--size", args.size, path], check=True)
    runs = []
    try:
        for rep in range(args.repeat):
            for cache in ("cold", "warm"):
                for loader in loaders:
                    evict(path)
                    if cache == "warm":
                        warm(path)
                    result = run_one(path, loader)
                    result.update(loader=loader, cache=cache, repeat=rep)
                    runs.append(result)
                    print(f"# {rep} {cache:4} {loader:26} {result['wall_s']:.3f} s", file=sys.stderr, flush=True)
    finally:
        os.unlink(path)
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"size": args.size, "repeat": args.repeat, "runs": runs}, f, indent=1)
    print(f"{args.size} safetensors (BF16, ringload gen), {args.repeat} runs each, fresh child process per run, "
          "medians (min-max); GB = 1e9 bytes")
    print(f"{'loader':26} {'cache':5} {'seconds':>20} {'GB/s':>18} {'x CLI':>6} {'RSS grown GB':>13} {'cached after':>13}")
    for cache in ("cold", "warm"):
        cli = statistics.median(r["wall_s"] for r in runs if r["cache"] == cache and r["loader"] == loaders[1])
        for loader in loaders:
            mine = [r for r in runs if r["cache"] == cache and r["loader"] == loader]
            walls = [r["wall_s"] for r in mine]
            rates = [r["bytes"] / r["wall_s"] / 1e9 for r in mine]
            med = statistics.median(walls)
            cached = statistics.median(r["cached_pages_after"] / r["pages"] for r in mine)
            grown = statistics.median(r["rss_grown"] for r in mine) / 1e9
            print(f"{loader:26} {cache:5} {med:8.3f} ({min(walls):.2f}-{max(walls):.2f}) "
                  f"{statistics.median(rates):6.2f} ({min(rates):.2f}-{max(rates):.2f}) {cli / med:6.2f} "
                  f"{grown:13.2f} {cached * 100:12.1f}%")


if __name__ == "__main__":
    main()
