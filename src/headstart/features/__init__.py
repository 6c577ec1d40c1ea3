"""Features: running a backbone once over images to get embeddings, cached on disk by content.

The engine and precision names load at once; the rest on first use, so the CLI's ``--help`` imports no torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_exports
from .names import ENGINES, PRECISIONS

_LAZY = {"EmbeddingCache": ".cache", "default_cache_dir": ".cache", "extract_embeddings": ".extract"}

if TYPE_CHECKING:
    from .cache import EmbeddingCache, default_cache_dir
    from .extract import extract_embeddings

__getattr__ = lazy_exports(__name__, _LAZY)


__all__ = ["ENGINES", "EmbeddingCache", "PRECISIONS", "default_cache_dir", "extract_embeddings"]
