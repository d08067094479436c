#!/usr/bin/env python3
"""Times the peers ringload measures itself against on a GPU machine, on one safetensors file:
safetensors.torch.load_file(path, device="cuda") and safe_open(path, framework="pt",
device="cuda") reading every tensor, each cold (page cache dropped first) and warm, interleaved,
N repeats. Prints one JSON document (medians/min/max in seconds and GB/s, GB = 1e9 bytes).

Usage: python3 bench/peers/safetensors_cuda.py FILE [--repeat 5]
Needs torch with CUDA and safetensors (both installed on the GPU machines); root for cold runs
(/proc/sys/vm/drop_caches), else it falls back to posix_fadvise(DONTNEED) and says so.
"""
import argparse
import json
import os
import statistics
import sys
import time


def evict(path):
    """Drop the file from the page cache; returns how."""
    os.sync()
    try:
        with open("/proc/sys/vm/drop_caches", "w") as f:
            f.write("3\n")
        return "drop_caches"
    except OSError:
        fd = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)
        return "fadvise"


def warm(path):
    with open(path, "rb") as f:
        while f.read(64 << 20):
            pass


def run_load_file(path):
    import torch
    from safetensors.torch import load_file

    torch.cuda.synchronize()
    start = time.perf_counter()
    tensors = load_file(path, device="cuda")
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    size = sum(t.numel() * t.element_size() for t in tensors.values())
    del tensors
    torch.cuda.empty_cache()
    return elapsed, size


def run_safe_open(path):
    import torch
    from safetensors import safe_open

    torch.cuda.synchronize()
    start = time.perf_counter()
    size = 0
    kept = []
    with safe_open(path, framework="pt", device="cuda") as f:
        for name in f.keys():
            t = f.get_tensor(name)
            size += t.numel() * t.element_size()
            kept.append(t)
    torch.cuda.synchronize()
    elapsed = time.perf_counter() - start
    del kept
    torch.cuda.empty_cache()
    return elapsed, size


def summary(samples):
    walls = [s[0] for s in samples]
    size = samples[0][1]
    med = statistics.median(walls)
    return {
        "runs_s": walls,
        "median_s": med,
        "min_s": min(walls),
        "max_s": max(walls),
        "median_gb_per_s": size / med / 1e9,
        "bytes": size,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("file")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    import torch

    if not torch.cuda.is_available():
        sys.exit("no CUDA device visible to torch")
    peers = {"load_file": run_load_file, "safe_open": run_safe_open}
    results = {f"{name}/{cache}": [] for name in peers for cache in ("cold", "warm")}
    eviction = None
    for _ in range(args.repeat):
        for name, fn in peers.items():
            for cache in ("cold", "warm"):
                if cache == "cold":
                    eviction = evict(args.file)
                else:
                    warm(args.file)
                results[f"{name}/{cache}"].append(fn(args.file))
    print(json.dumps({
        "file": args.file,
        "file_size": os.path.getsize(args.file),
        "device": torch.cuda.get_device_name(0),
        "torch": torch.__version__,
        "eviction": eviction,
        "repeat": args.repeat,
        "results": {k: summary(v) for k, v in results.items()},
    }, indent=2))


if __name__ == "__main__":
    main()
