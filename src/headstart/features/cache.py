"""An on-disk embedding cache: one entry per (image content, extractor), written atomically.

Keys: the BLAKE2 digest of the file's bytes (a changed file under the same name is a new entry)
and an extractor key (backbone, its weights, stage, preprocessing, test-time augmentation,
precision). Each entry is its own ``.npy`` file written to a temporary name and renamed into
place, so an interrupted write leaves nothing readable behind and two processes writing the same
entry at once both leave a whole file. What is read back is checked (a float32 vector of the
extractor's recorded length and dtype, every value finite); anything else counts as absent, so it is computed
again and overwritten. Besides pooled embeddings (float32), the cache keeps the frozen prefix activations of
``partial`` fine-tuning (float16, flattened; see ``training.prefix``) and what ``advise`` measures at each stage
(float32; see ``analysis.similarity``).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, Iterable, Sequence

import numpy as np

from ..atomic import write_atomically, write_text_atomically
from ..data.digest import file_digest, file_digests

__all__ = ["EmbeddingCache", "default_cache_dir", "describe_key", "file_digest", "file_digests", "open_cache"]


STALE_TEMPORARY_SECONDS = 3600  # a cache entry is written in milliseconds: an hour-old temporary file is orphaned


def default_cache_dir() -> Path:
    """``$HEADSTART_CACHE``, else ``$XDG_CACHE_HOME/headstart``, else ``~/.cache/headstart``."""
    if os.environ.get("HEADSTART_CACHE"):
        return Path(os.environ["HEADSTART_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "headstart"


def open_cache(setting: "bool | str | Path | EmbeddingCache") -> "EmbeddingCache | None":
    """The cache a ``cache=`` setting names: ``True`` the default folder, ``False`` (or ``None``, what this returns
    for ``False``) none, a cache itself, else that folder."""
    if setting is False or setting is None:
        return None
    if isinstance(setting, EmbeddingCache):
        return setting
    return EmbeddingCache(None if setting is True else setting)


def describe_key(description: dict[str, Any]) -> str:
    """A short stable key for an extractor description."""
    text = json.dumps(description, sort_keys=True, default=str)
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


class EmbeddingCache:
    """Embeddings on disk under ``root/embeddings/<extractor key>/<digest[:2]>/<digest>.npy``; ``written`` counts
    the entries this object has written (what was computed rather than read back)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self._dims: dict[str, int | None] = {}
        self._dtypes: dict[str, str] = {}
        self.written = 0
        self._registered: set[tuple[str, int]] = set()

    def _entry(self, extractor: str, digest: str) -> Path:
        return self.root / "embeddings" / extractor / digest[:2] / f"{digest}.npy"

    def _meta_path(self, extractor: str) -> Path:
        return self.root / "embeddings" / extractor / "extractor.json"

    def _meta(self, extractor: str) -> dict[str, Any]:
        try:
            meta = json.loads(self._meta_path(extractor).read_text())
        except (OSError, ValueError):  # not written yet, or damaged
            return {}
        return meta if isinstance(meta, dict) else {}

    def register(self, extractor: str, description: dict[str, Any], *, dim: int, dtype: str = "float32") -> None:
        """Record what an extractor key means (for ``headstart cache info``), its embeddings' length and dtype; the
        first time in a process, also remove temporary files that writers killed mid-write left behind (older
        than :data:`STALE_TEMPORARY_SECONDS`, so another process's write in progress is left alone)."""
        if (extractor, dim) in self._registered:
            return
        meta = self._meta(extractor)
        if meta.get("dim") != dim or meta.get("dtype", "float32") != dtype:
            write_text_atomically(self._meta_path(extractor),
                                  json.dumps({**description, "dim": dim, "dtype": dtype}, indent=2, default=str))
        self._dims[extractor] = dim
        self._dtypes[extractor] = dtype
        self._registered.add((extractor, dim))
        stale = time.time() - STALE_TEMPORARY_SECONDS
        for leftover in (self.root / "embeddings" / extractor).glob("*/.*.tmp"):
            with contextlib.suppress(OSError):  # gone already, or another process's to finish
                if leftover.stat().st_mtime < stale:
                    leftover.unlink()

    def record_cost(self, extractor: str, seconds: float, count: int) -> None:
        """Add ``seconds`` spent computing ``count`` embeddings to the extractor's running totals (the cost
        ``headstart advise --backbones`` reports when every embedding comes from the cache)."""
        meta = self._meta(extractor)
        if meta and count:
            write_text_atomically(self._meta_path(extractor), json.dumps(
                {**meta, "embed_seconds": meta.get("embed_seconds", 0.0) + seconds,
                 "embedded": meta.get("embedded", 0) + count}, indent=2, default=str))

    def seconds_per_item(self, extractor: str) -> float | None:
        """Mean seconds per embedding over everything extractor ``extractor`` computed (``None``: not recorded)."""
        meta = self._meta(extractor)
        return meta["embed_seconds"] / meta["embedded"] if meta.get("embedded") else None

    def get(self, extractor: str, digest: str) -> np.ndarray | None:
        """The cached embedding, or ``None`` when absent or not a whole one (damaged, wrong length, NaN/inf)."""
        if extractor not in self._dims:
            meta = self._meta(extractor)
            self._dims[extractor] = meta.get("dim")
            self._dtypes[extractor] = meta.get("dtype", "float32")
        try:
            embedding = np.load(self._entry(extractor, digest), allow_pickle=False)
        except (OSError, ValueError, EOFError):  # absent, or damaged by something outside headstart
            return None
        dim = self._dims[extractor]
        whole = embedding.dtype == self._dtypes.get(extractor, "float32") and embedding.ndim == 1 and (
            dim is None or len(embedding) == dim)
        return embedding if whole and np.isfinite(embedding).all() else None

    def put(self, extractor: str, digest: str, embedding: np.ndarray) -> None:
        write_atomically(self._entry(extractor, digest), lambda s: np.save(s, embedding, allow_pickle=False))
        self.written += 1

    def put_many(self, extractor: str, items: Iterable[tuple[str, np.ndarray]]) -> None:
        for digest, embedding in items:
            self.put(extractor, digest, embedding)

    def embedded_before(self, paths: Sequence[str | Path]) -> list[bool]:
        """Whether each file's current content has an embedding under any extractor (so it decodes)."""
        extractors = [folder.name for folder in (self.root / "embeddings").glob("*") if folder.is_dir()]
        if not extractors:
            return [False] * len(paths)
        return [any(self._entry(key, digest).exists() for key in extractors) for digest in file_digests(paths)]

    def graph_path(self, key: str) -> Path:
        """Where an exported inference graph for extractor ``key`` lives."""
        return self.root / "graphs" / f"{key}.onnx"

    def info(self) -> dict[str, Any]:
        """Entries and bytes per extractor, and in all."""
        extractors = []
        for folder in sorted((self.root / "embeddings").glob("*")):
            files = list(folder.glob("*/*.npy"))
            extractors.append({"key": folder.name, "entries": len(files),
                               "bytes": sum(f.stat().st_size for f in files), "extractor": self._meta(folder.name)})
        graphs = list((self.root / "graphs").glob("*.onnx"))
        return {"root": str(self.root), "extractors": extractors,
                "entries": sum(e["entries"] for e in extractors),
                "bytes": sum(e["bytes"] for e in extractors) + sum(g.stat().st_size for g in graphs),
                "graphs": len(graphs)}

    def clear(self, *, keep_graphs: bool = False) -> int:
        """Delete every cached embedding (and exported graph); return how many bytes were freed."""
        before = self.info()["bytes"]
        for sub in ("embeddings",) if keep_graphs else ("embeddings", "graphs"):
            shutil.rmtree(self.root / sub, ignore_errors=True)
        return before - self.info()["bytes"]
