#!/usr/bin/env python3
"""Prints the per-file-system rows of fs-summary.md from fs-<name>.json (fs-bench.sh's output):
what auto ran as, its median GB/s, the best explicit strategy's (auto itself not a candidate), and
auto / best."""
import json
import pathlib
import sys

here = pathlib.Path(__file__).resolve().parent
names = sys.argv[1:] or ["ext4", "xfs", "btrfs", "btrfs-zstd", "tmpfs"]
print("| file system | cache | auto ran as | auto GB/s (min-max) | best other strategy | its GB/s (min-max) | auto / best | auto cached after |")
print("|---|---|---|---|---|---|---|---|")
for name in names:
    doc = json.loads((here / f"fs-{name}.json").read_text())
    rows = [r for r in doc["results"] if r.get("median")]
    for cache in sorted({r["cache"] for r in rows}):
        these = [r for r in rows if r["cache"] == cache]
        auto = next(r for r in these if r["strategy"] == "auto")
        best = max((r for r in these if r["strategy"] != "auto"), key=lambda r: r["median"]["gb_per_s"])
        def rate(r):
            return f'{r["median"]["gb_per_s"]:.2f} ({r["min"]["gb_per_s"]:.2f}-{r["max"]["gb_per_s"]:.2f})'
        cached = auto["median"]["file_resident_pages_after"] / max(auto["median"]["file_total_pages"], 1)
        print(f'| {name} | {cache} | {auto["ran_as"]} | {rate(auto)} | {best["strategy"]} | {rate(best)} | '
              f'{auto["median"]["gb_per_s"] / best["median"]["gb_per_s"]:.2f} | {100 * cached:.1f}% |')
