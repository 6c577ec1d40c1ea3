"""Duplicates: exact ones by content digest (copies within a class, one image or text under two labels, test items
that are also training items) and near ones (resized, re-encoded, recoloured copies) by the cosine similarity of their
frozen embeddings. Reported as warnings; nothing is dropped."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Iterable

import numpy as np

from .dataset import ImageSet
from .digest import file_digests, text_digests
from .text import TextDataset

# Measured on Lite0's pooled embeddings (benchmarks/near_duplicates.py): distinct images' nearest neighbours reach
# 0.965 among 5,000 Fashion-MNIST images and 0.935 among 100 LFW faces; upscaled copies score 0.94-1.00 (median
# 0.99), JPEG quality-60 re-encodes of photos 0.90-1.00 (median 0.985). Below NEAR_DUPLICATE_MIN_SIDE pixels an
# image holds too little for this: distinct 8-px digits reach 0.987. Above NEAR_DUPLICATE_MAX_IMAGES the all-pairs
# product is not cheap enough to run unasked.
NEAR_DUPLICATE_COSINE = 0.97
NEAR_DUPLICATE_MIN_SIDE = 24
NEAR_DUPLICATE_MAX_IMAGES = 10_000


@dataclass(frozen=True)
class _Items:
    """What duplicate detection needs of images or texts: a content digest, a name and a class name per item."""

    digests: list[str]
    names: list[str]
    labels: list[str]
    source: str
    noun: str


def _items(data: ImageSet | TextDataset) -> _Items:
    if isinstance(data, TextDataset):
        names = [f"text {i + 1} ({_excerpt(text)})" for i, text in enumerate(data.texts)]
        return _Items(text_digests(data.texts), names, list(data.labels), data.source, "text")
    return _Items(file_digests(data.paths), [str(p) for p in data.paths], [data.classes[i] for i in data.labels],
                  data.source, "image")


def duplicate_warnings(data: ImageSet | TextDataset) -> list[str]:
    """Copies of one content (a file's bytes; a text's words) inside ``data``: in the same class (counted twice in
    training) and across classes (a label conflict: one of the labels is wrong)."""
    items = _items(data)
    groups: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(items.digests):
        groups[digest].append(index)
    same, conflicts = [], []
    for members in groups.values():
        if len(members) > 1:
            labels = {items.labels[i] for i in members}
            (conflicts if len(labels) > 1 else same).append(members)
    warnings = []
    if same:
        extra = sum(len(m) - 1 for m in same)
        warnings.append(f"{extra} {items.noun}(s) in {items.source} are exact copies of another {items.noun} of the "
                        f"same class (e.g. {items.names[same[0][0]]} = {items.names[same[0][1]]}); each copy counts "
                        "again in training and can land on both sides of the validation split. Remove the copies.")
    if conflicts:
        example = conflicts[0]
        names = sorted({items.labels[i] for i in example})
        warnings.append(f"{len(conflicts)} {items.noun}(s) in {items.source} appear under more than one class "
                        f"(label conflict, e.g. {items.names[example[0]]} = {items.names[example[1]]} in "
                        f"{' and '.join(map(repr, names))}); keep each in its one right class.")
    return warnings


def training_digests(data: ImageSet | TextDataset) -> list[str]:
    """The sorted distinct content digests of ``data``: what a model keeps to recognise its training data later."""
    return sorted(set(_items(data).digests))


def leakage_warning(seen: Iterable[str], data: ImageSet | TextDataset, *, role: str) -> str | None:
    """A warning when items of ``data`` (the ``role`` set: validation, evaluation, test) have the content of
    training items whose digests are ``seen``, or ``None``."""
    seen, items = set(seen), _items(data)
    leaked = [name for name, digest in zip(items.names, items.digests) if digest in seen]
    if not leaked:
        return None
    return (f"{len(leaked)} of the {len(items.digests)} {role} {items.noun}s in {items.source} are exact copies of "
            f"training {items.noun}s (e.g. {leaked[0]}): the {role} accuracy is not a test on unseen "
            f"{items.noun}s. Remove them from one of the two sets.")


def _excerpt(text: str, length: int = 40) -> str:
    words = " ".join(text.split())
    return repr(words if len(words) <= length else words[:length - 1] + "…")


def near_duplicate_warnings(images: ImageSet, embeddings: np.ndarray, *, native_side: int) -> list[str]:
    """Pairs of ``images`` whose (pooled, frozen) ``embeddings`` have cosine similarity of at least
    :data:`NEAR_DUPLICATE_COSINE` but different file contents: near copies in the same class and across classes
    (a label conflict). Nothing is checked for images under :data:`NEAR_DUPLICATE_MIN_SIDE` pixels (their
    ``native_side``) or sets over :data:`NEAR_DUPLICATE_MAX_IMAGES`."""
    if native_side < NEAR_DUPLICATE_MIN_SIDE or not 1 < len(images) <= NEAR_DUPLICATE_MAX_IMAGES:
        return []
    unit = embeddings / np.maximum(np.linalg.norm(embeddings, axis=1, keepdims=True), 1e-12)
    digests = file_digests(images.paths)
    same, conflicts = [], []
    for start in range(0, len(unit), 1024):
        similarity = unit[start:start + 1024] @ unit.T
        for row, column in zip(*np.nonzero(similarity >= NEAR_DUPLICATE_COSINE)):
            first, second = start + int(row), int(column)
            if first < second and digests[first] != digests[second]:  # exact copies are reported already
                (same if images.labels[first] == images.labels[second] else conflicts).append([first, second])
    warnings = []
    if same:
        warnings.append(f"{len(same)} pair(s) of images in {images.source} look like copies of each other (resized, "
                        f"re-encoded or recoloured; e.g. {_pair(images, same[0])}): a copy counts twice in training "
                        "and can land on both sides of the validation split. Check them and remove the copies.")
    if conflicts:
        example = conflicts[0]
        names = [images.classes[images.labels[i]] for i in example]
        warnings.append(f"{len(conflicts)} pair(s) of images in {images.source} look like copies of each other but "
                        f"are labelled differently (e.g. {_pair(images, example)} in {' and '.join(map(repr, names))}"
                        "): check them; one of the labels may be wrong.")
    return warnings


def _pair(images: ImageSet, members: list[int]) -> str:
    return f"{images.paths[members[0]]} = {images.paths[members[1]]}"
