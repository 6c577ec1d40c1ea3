"""Features: running a backbone once over images to get embeddings, cached on disk by content.

The engine and precision names load at once; the rest on first use, so the CLI's ``--help`` imports no torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .names import ENGINES, PRECISIONS

_LAZY = {"EmbeddingCache": ".cache", "default_cache_dir": ".cache", "extract_embeddings": ".extract"}

if TYPE_CHECKING:
    from .cache import EmbeddingCache, default_cache_dir
    from .extract import extract_embeddings


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(_LAZY[name], __name__), name)
    globals()[name] = value
    return value


__all__ = ["ENGINES", "EmbeddingCache", "PRECISIONS", "default_cache_dir", "extract_embeddings"]
