"""Duplicates: exact ones by content digest (copies within a class, one image under two labels, test images that
are also training images) and near ones (resized, re-encoded, recoloured copies) by the cosine similarity of their
frozen embeddings. Reported as warnings; nothing is dropped."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import numpy as np

from .dataset import ImageSet
from .digest import file_digests

# Measured on Lite0's pooled embeddings (see the README): distinct images' nearest neighbours reach 0.964 among 5,000
# Fashion-MNIST images (no pair at 0.97); copies upscaled 1.7× score 0.96–1.00, brightened +20 0.75–1.00 and JPEG
# re-encoded (quality 60) photos 0.90–1.00 (median 0.975). Below NEAR_DUPLICATE_MIN_SIDE pixels an image holds too
# little for this: distinct 8-px digits reach 0.987. Above NEAR_DUPLICATE_MAX_IMAGES the all-pairs product is
# not cheap enough to run unasked.
NEAR_DUPLICATE_COSINE = 0.97
NEAR_DUPLICATE_MIN_SIDE = 24
NEAR_DUPLICATE_MAX_IMAGES = 10_000


def duplicate_warnings(images: ImageSet) -> list[str]:
    """Copies of one file's content inside ``images``: in the same class (counted twice in training) and
    across classes (a label conflict: one of the labels is wrong)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(file_digests(images.paths)):
        groups[digest].append(index)
    same, conflicts = [], []
    for members in groups.values():
        if len(members) > 1:
            labels = {images.labels[i] for i in members}
            (conflicts if len(labels) > 1 else same).append(members)
    warnings = []
    if same:
        extra = sum(len(m) - 1 for m in same)
        warnings.append(f"{extra} image(s) in {images.source} are exact copies of another image of the same class "
                        f"(e.g. {_pair(images, same[0])}); each copy counts again in training and can land on "
                        "both sides of the validation split. Remove the copies.")
    if conflicts:
        example = conflicts[0]
        names = sorted({images.classes[images.labels[i]] for i in example})
        warnings.append(f"{len(conflicts)} image(s) in {images.source} appear under more than one class "
                        f"(label conflict, e.g. {_pair(images, example)} in {' and '.join(map(repr, names))}); "
                        "keep each in its one right class.")
    return warnings


def leakage_warning(seen: Iterable[str], images: ImageSet, *, role: str) -> str | None:
    """A warning when images of ``images`` (the ``role`` set: validation, evaluation, test) have the content of
    images whose digests are ``seen`` (the training data), or ``None``."""
    seen = set(seen)
    leaked = [path for path, digest in zip(images.paths, file_digests(images.paths)) if digest in seen]
    if not leaked:
        return None
    return (f"{len(leaked)} of the {len(images)} {role} images in {images.source} are exact copies of training "
            f"images (e.g. {leaked[0]}): the {role} accuracy is not a test on unseen images. Remove them from one "
            "of the two sets.")


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
