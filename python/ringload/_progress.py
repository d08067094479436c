"""A tqdm-style progress bar on stderr, drawn by hand (tqdm is not a dependency)."""

import sys
import time


def _bytes(n):
    for unit, scale in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return f"{n:.0f} B"


def _clock(seconds):
    seconds = int(seconds)
    minutes, seconds = divmod(seconds, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}:{minutes:02d}:{seconds:02d}" if hours else f"{minutes:02d}:{seconds:02d}"


class ProgressBar:
    """``label:  42%|############                | 1.20 GB/2.15 GB [00:01<00:01, 1.92 GB/s]``"""

    WIDTH = 30
    INTERVAL_S = 0.1

    def __init__(self, label, stream=None):
        self._label = label
        self._stream = stream if stream is not None else sys.stderr
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def update(self, done_bytes, total_bytes, force=False):
        now = time.monotonic()
        if not force and self._drawn and now - self._last < self.INTERVAL_S:
            return
        self._last = now
        elapsed = now - self._start
        fraction = 1.0 if total_bytes == 0 else min(1.0, done_bytes / total_bytes)
        rate = done_bytes / elapsed if elapsed > 0 else 0.0
        eta = _clock((total_bytes - done_bytes) / rate) if rate > 0 else "?"
        filled = int(fraction * self.WIDTH)
        bar = "#" * filled + " " * (self.WIDTH - filled)
        line = (f"{self._label}: {fraction * 100:3.0f}%|{bar}| {_bytes(done_bytes)}/{_bytes(total_bytes)} "
                f"[{_clock(elapsed)}<{eta}, {rate / 1e9:.2f} GB/s]")
        self._stream.write("\r" + line)
        self._stream.flush()
        self._drawn = True

    def close(self):
        if self._drawn:
            self._stream.write("\n")
            self._stream.flush()
            self._drawn = False
