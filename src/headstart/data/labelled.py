"""What every labelled set (images or texts) shares: the stratified validation split and class weights, computed
from its labels alone, so both modalities split and weight alike."""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from typing import ClassVar, Protocol, Self, TypeVar

import numpy as np

from ..errors import DataError


class Labelled(Protocol):
    """A labelled set a classifier learns from (``ImageSet``, ``TextDataset``)."""

    noun: ClassVar[str]  # what one item is called in messages: "image", "text"
    source: str

    def __len__(self) -> int: ...

    def label_names(self) -> list[str]: ...  # each item's class name

    def subset(self, indices: Sequence[int]) -> Self: ...  # the items at ``indices``, in that order


L = TypeVar("L", bound=Labelled)


def stratified_split(data: L, fraction: float, seed: int) -> tuple[L, L]:
    """A seeded, stratified train/validation split of ``data``, every class on both sides (:func:`split_indices`)."""
    train, val = split_indices(data.label_names(), fraction, seed, source=data.source, noun=data.noun)
    return data.subset(train), data.subset(val)


def split_indices(labels: Sequence[Hashable], fraction: float, seed: int, *, source: str,
                  noun: str) -> tuple[list[int], list[int]]:
    """Sorted training and validation indices of a seeded, stratified split with every class on both sides.

    ``source`` and ``noun`` (``image``, ``text``) name the data in errors: a class of one item, or too few items
    to hold out one per class."""
    if not 0.0 < fraction < 1.0:
        raise DataError(f"the validation fraction must be between 0 and 1, got {fraction}.",
                        fix="Pass --val-fraction 0.2 (val_fraction=0.2), or separate validation data (--val).")
    counts = Counter(labels)
    name, count = min(counts.items(), key=lambda item: item[1])
    if count < 2:
        raise DataError(f"class {name!r} has {count} {noun}; a train/validation split needs at least 2 per class.",
                        path=source, fix=f"Add {noun}s to that class, or pass separate validation data (--val).")
    n_val = max(len(counts), round(fraction * len(labels)))
    if n_val >= len(labels):
        raise DataError(f"{len(labels)} {noun}s are too few to hold out {n_val} for validation.", path=source,
                        fix=f"Add {noun}s, or pass separate validation data (--val).")
    from sklearn.model_selection import train_test_split  # loads in seconds: only when splitting

    train, val = train_test_split(np.arange(len(labels)), test_size=n_val, random_state=seed, stratify=list(labels))
    return sorted(int(i) for i in train), sorted(int(i) for i in val)


def inverse_frequency_weights(label_ids: Sequence[int], num_classes: int) -> np.ndarray:
    """Class weights ``n / (k * count)`` (a class without examples counts as one), 1.0 on balanced data."""
    counts = np.maximum(np.bincount(np.asarray(label_ids, dtype=np.int64), minlength=num_classes), 1).astype(float)
    return counts.sum() / (num_classes * counts)
