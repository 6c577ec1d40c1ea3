"""Content digests: a file's (the identity of an image for the embedding cache and duplicate detection) and a
text's (for duplicate detection)."""

from __future__ import annotations

import functools
import hashlib
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence


def file_digest(path: str | Path) -> str:
    """BLAKE2b-128 of the file's content.

    Remembered for this process by the file's identity and change times (device, inode, size, mtime and
    ctime in ns), so a ``fit`` that checks its images against the cache and then embeds them reads each
    file once. Any write to the file changes its ctime, which no user tool can set back."""
    stat = os.stat(path)
    return _content_digest(os.fspath(path), (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns,
                                             stat.st_ctime_ns))


@functools.lru_cache(maxsize=1 << 17)
def _content_digest(path: str, identity: tuple[int, ...]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def file_digests(paths: Sequence[str | Path], workers: int = 4) -> list[str]:
    with ThreadPoolExecutor(workers) as pool:
        return list(pool.map(file_digest, paths))


def text_digests(texts: Sequence[str]) -> list[str]:
    """BLAKE2b-128 of each text's words (whitespace runs made one space, ends stripped): texts that differ only in
    spacing or line breaks are the same text."""
    return [hashlib.blake2b(" ".join(text.split()).encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
            for text in texts]
