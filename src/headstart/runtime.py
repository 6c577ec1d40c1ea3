"""Where and how tensors run: device choice, CPU threads, data-loader workers."""

from __future__ import annotations

import os
import platform
from typing import Any

import torch


def pick_device(device: str = "auto") -> torch.device:
    """``auto`` -> CUDA when present, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def loader_workers() -> int:
    """Decode workers beside the forward pass: one per two cores, at least one, at most four."""
    return max(1, min(4, (os.cpu_count() or 2) // 2))


def describe_machine() -> dict[str, Any]:
    """The device, cores and versions that timings were taken on."""
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else \
        f"CPU ({platform.processor() or platform.machine()})"
    return {"device": device, "cpu_count": os.cpu_count(), "torch_threads": torch.get_num_threads(),
            "torch": torch.__version__, "python": platform.python_version(), "platform": platform.platform()}
