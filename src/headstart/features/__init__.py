"""Features: running a backbone once over images to get embeddings."""

from .extract import extract_embeddings

__all__ = ["extract_embeddings"]
