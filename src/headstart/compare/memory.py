"""Peak memory of a block of work: resident-set growth of this process, and CUDA's own peak."""

from __future__ import annotations

import os
import threading
from pathlib import Path

import torch

__all__ = ["PeakMemory"]

_STATM = Path("/proc/self/statm")
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss_bytes() -> int | None:
    try:
        return int(_STATM.read_text().split()[1]) * _PAGE
    except (OSError, IndexError, ValueError):
        return None  # not Linux: no cheap way to read the resident set


class PeakMemory:
    """``with PeakMemory() as m: ...`` then ``m.rss_mb`` (peak resident-set growth over the start, sampled
    every ``interval`` s; data-loader worker processes not included; ``None`` off Linux) and ``m.gpu_mb``
    (``torch.cuda.max_memory_allocated`` during the block; ``None`` without CUDA)."""

    def __init__(self, interval: float = 0.02):
        self.interval = interval
        self.rss_mb: float | None = None
        self.gpu_mb: float | None = None
        self._stop = threading.Event()
        self._start = self._peak = _rss_bytes()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(self.interval):
            self._peak = max(self._peak, _rss_bytes() or 0)

    def __enter__(self) -> "PeakMemory":
        if torch.cuda.is_available():
            torch.cuda.reset_peak_memory_stats()
        if self._start is not None:
            self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._start is not None:
            self._stop.set()
            self._thread.join()
            self._peak = max(self._peak, _rss_bytes() or 0)
            self.rss_mb = round((self._peak - self._start) / 2**20, 1)
        if torch.cuda.is_available():
            self.gpu_mb = round(torch.cuda.max_memory_allocated() / 2**20, 1)
