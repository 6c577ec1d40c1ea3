"""Features: running a backbone once over images to get embeddings, cached on disk by content."""

from .cache import EmbeddingCache, default_cache_dir
from .engine import ENGINES, PRECISIONS
from .extract import extract_embeddings

__all__ = ["ENGINES", "EmbeddingCache", "PRECISIONS", "default_cache_dir", "extract_embeddings"]
