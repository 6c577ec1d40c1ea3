"""Where and how tensors run: device choice, CPU threads, data-loader workers."""

from __future__ import annotations

import os

import torch


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def loader_workers() -> int:
    """Decode workers beside the forward pass: one per two cores, at least one, at most four."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))
