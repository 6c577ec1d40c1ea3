"""Exact duplicates by content digest: copies within a class, one image under two labels, and test images
that are also training images (leakage). Reported as warnings; nothing is dropped."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

from .dataset import ImageSet
from .digest import file_digests


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


def _pair(images: ImageSet, members: list[int]) -> str:
    return f"{images.paths[members[0]]} = {images.paths[members[1]]}"
