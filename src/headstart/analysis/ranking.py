"""Which pretrained backbone suits this data: LogME of each one's frozen features, beside a cross-validated linear
probe, its learning curve and its cost, from embeddings the cache keeps (a second ranking embeds nothing new).

Image backbones are embedded exactly as ``--strategy frozen`` embeds them (pooled output, no TTA, fp32), so the
cached features serve a later ``headstart train`` too; texts go through :mod:`headstart.backbones.text`.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..errors import BackboneError, DataError
from ..features.cache import EmbeddingCache, describe_key, open_cache
from .learning_curve import Curve, learning_curve
from .transferability import logme

__all__ = ["BackboneScore", "Ranking", "image_backbones", "rank_backbones", "text_backbones"]


@dataclass
class BackboneScore:
    """One backbone's evidence; ``skipped`` says why there is none (no weights at hand)."""

    name: str
    logme: float | None = None
    probe_accuracy: float | None = None
    probe_std: float | None = None
    seconds_per_item: float | None = None
    dim: int | None = None
    embedded: int = 0
    curve: Curve | None = None
    skipped: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "curve": self.curve.to_dict() if self.curve else None}


@dataclass
class Ranking:
    """Backbones ranked by LogME (highest first; skipped ones last), for ``task`` (``image`` or ``text``) data."""

    task: str
    per_class: float
    num_classes: int
    scores: list[BackboneScore] = field(default_factory=list)

    @property
    def ranked(self) -> list[BackboneScore]:
        return [s for s in self.scores if s.skipped is None]

    @property
    def best(self) -> BackboneScore:
        return self.ranked[0]

    def to_dict(self) -> dict[str, Any]:
        return {"task": self.task, "per_class": self.per_class, "num_classes": self.num_classes,
                "scores": [s.to_dict() for s in self.scores]}


def image_backbones(names: str | Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The image backbones ``names`` means (``"all"``: the registry's), and a reason for each one ``"all"`` leaves
    out because its weights are not at hand (named explicitly, such a backbone is tried, hub included)."""
    from ..backbones import list_backbones, resolve_spec

    if names == "all" or names == ["all"]:
        rows = list_backbones(task="image")
        return [row["name"] for row in rows if row["offline"]], {
            row["name"]: "no weights at hand (not bundled): name it in --backbones with --weights FILE, or online to "
                         "fetch it from the hub" for row in rows if not row["offline"]}
    listed = _names(names)
    for name in listed:
        resolve_spec(name)  # an unknown name is an error (with close matches), not a skip
    return listed, {}


def text_backbones(names: str | Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """The text encoders ``names`` means (``"all"``: the bundled ones), and why any of those is not installed."""
    from ..backbones import list_backbones

    rows = {row["name"]: row for row in list_backbones(task="text")}
    listed = list(rows) if names == "all" or names == ["all"] else _names(names)
    missing = {n: f"no weights at hand: {rows[n]['weights']}" for n in listed if n in rows and not rows[n]["offline"]}
    return [n for n in listed if n not in missing], missing


def rank_backbones(data: Any, backbones: str | Sequence[str] = "all", *, task: str = "image", in_chans: int = 3,
                   weights: dict[str, str | Path] | None = None, cache: bool | str | Path | EmbeddingCache = True,
                   folds: int = 5,
                   seed: int = 0, progress: bool = True) -> Ranking:
    """Rank ``backbones`` (``"all"`` or names) of ``task`` on ``data`` (an :class:`~headstart.data.dataset.ImageSet`
    or a :class:`~headstart.data.text.TextDataset`) by LogME, each with its probe accuracy (the learning curve's
    full-size point, ``folds``-fold cross-validated), the curve itself and seconds per embedding.

    Backbones without weights at hand are kept as skipped rows with the reason; ``weights`` maps a backbone name
    to a local weights file. Raises :class:`DataError` for fewer than two classes or a class with one example,
    :class:`BackboneError` when no backbone is left."""
    labels = np.asarray(data.labels)
    names, skipped = (image_backbones if task == "image" else text_backbones)(backbones)
    classes, counts = np.unique(labels, return_counts=True)
    if len(classes) < 2 or counts.min() < 2:
        raise DataError(f"ranking backbones needs two or more classes with two or more examples each; got "
                        f"{len(classes)} class(es), the smallest with {counts.min()} example(s).",
                        path=getattr(data, "source", None), fix="Add labelled examples of at least two classes.")
    store = open_cache(cache)
    scores = []
    for name in names:
        try:
            features, seconds, embedded = (_embed_images if task == "image" else _embed_texts)(
                name, data, store, in_chans=in_chans, weights=(weights or {}).get(name), progress=progress)
        except BackboneError as error:
            skipped[name] = error.problem
            continue
        curve = learning_curve(features, labels, folds=folds, seed=seed)
        scores.append(BackboneScore(name, logme(features, labels), curve.accuracy[-1], curve.accuracy_std[-1],
                                    seconds, features.shape[1], embedded, curve))
    if not scores:
        raise BackboneError(f"none of the backbones ({', '.join(skipped) or 'none named'}) has weights at hand.",
                            fix="Name a bundled one (headstart backbones), or pass --weights FILE with it.")
    scores.sort(key=lambda s: -s.logme)
    return Ranking(task, float(np.median(counts)), len(classes),
                   scores + [BackboneScore(name, skipped=reason) for name, reason in skipped.items()])


def _embed_images(name: str, images: Any, store: EmbeddingCache | None, *, in_chans: int,
                  weights: str | Path | None, progress: bool) -> tuple[np.ndarray, float, int]:
    """Pooled frozen features (as ``--strategy frozen`` caches them), seconds per image, images newly embedded."""
    from ..backbones import load_backbone
    from ..features import extract_embeddings
    from ..features.extract import extractor_description

    backbone = load_backbone(name, in_chans=in_chans, weights=weights)
    before = store.written if store is not None else 0
    started = time.perf_counter()
    features = extract_embeddings(backbone, images, cache=store, progress=progress)
    elapsed = time.perf_counter() - started
    embedded = store.written - before if store is not None else len(images)
    key = describe_key(extractor_description(backbone, stage=None, tta=False, precision="fp32", background="white"))
    recorded = store.seconds_per_item(key) if store is not None else None
    return features, recorded if recorded is not None else elapsed / len(images), embedded


def _embed_texts(name: str, texts: Any, store: EmbeddingCache | None, *, in_chans: int,
                 weights: str | Path | None, progress: bool) -> tuple[np.ndarray, float, int]:
    """Text embeddings (transformers through the cache), seconds per text, texts newly embedded."""
    from ..backbones.text import SentenceTransformerEncoder, load_text_encoder

    encoder = load_text_encoder(name)
    cached = isinstance(encoder, SentenceTransformerEncoder) and store is not None
    if cached:
        encoder.cache = store
    before = store.written if cached else 0
    started = time.perf_counter()
    features = encoder.encode(texts.texts, progress=progress)
    elapsed = time.perf_counter() - started
    recorded = store.seconds_per_item(describe_key({"text_encoder": encoder.fingerprint})) if cached else None
    return (features, recorded if recorded is not None else elapsed / len(texts.texts),
            store.written - before if cached else len(texts.texts))


def _names(names: str | Sequence[str]) -> list[str]:
    listed = [n.strip() for n in (names.split(",") if isinstance(names, str) else names) if n.strip()]
    if not listed:
        raise BackboneError("no backbone named.", fix="Pass --backbones all, or names such as "
                                                      "efficientnet_lite0,efficientnet_lite1.")
    return list(dict.fromkeys(listed))
