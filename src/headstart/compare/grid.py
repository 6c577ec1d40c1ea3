"""The grid of a compare: one fixed test split, nested stratified training subsets, their sizes."""

from __future__ import annotations

from typing import Protocol, Self, Sequence

import numpy as np
from ..errors import ConfigError, DataError
from ..strategies import AUTO, STRATEGIES

__all__ = ["COMPARED_STRATEGIES", "LabelledSet", "SPLIT_SEED", "Size", "baseline_first", "check_sizes",
           "check_test_classes", "nested_subset", "parse_sizes", "parse_strategies", "split_test", "validation_subset"]

Size = int | str  # examples per class, or "all"
SPLIT_SEED = 0  # of the fixed test split
# ``auto`` runs `headstart advise` on each subset and fits what it recommends, so compare can score the advice.
COMPARED_STRATEGIES = (*STRATEGIES, AUTO)


class LabelledSet(Protocol):
    """What the grid draws subsets from: images (``ImageSet``) or texts (``compare.text.LabelledTexts``);
    ``labels[i]`` indexes ``classes``."""

    labels: list[int]
    classes: list[str]

    @property
    def source(self) -> str: ...

    def __len__(self) -> int: ...

    def class_counts(self) -> dict[str, int]: ...

    def subset(self, indices: Sequence[int]) -> Self: ...


def baseline_first(strategies: Sequence[str]) -> tuple[str, ...]:
    """``strategies`` in table order, but ``scratch`` (the baseline the summary measures against) first and ``auto``
    (scored against the rest) last."""
    return tuple(sorted(strategies, key=lambda name: (name != "scratch", name == "auto")))


def parse_strategies(strategies: str | Sequence[str], choices: Sequence[str] = COMPARED_STRATEGIES,
                     modality: str = "image") -> list[str]:
    """Strategy names from ``"scratch,frozen"`` or a list, checked against ``choices`` (those of ``modality``)
    and de-duplicated."""
    names = [s.strip() for s in (strategies.split(",") if isinstance(strategies, str) else strategies)]
    names = list(dict.fromkeys(n for n in names if n))
    unknown = [n for n in names if n not in choices]
    if unknown or not names:
        name = unknown[0] if unknown else None
        problem = ("no strategies given." if name is None else f"{name!r} is not a {modality} strategy."
                   if name in COMPARED_STRATEGIES else f"unknown strategy {name!r}.")
        raise ConfigError(problem, fix=f"Pass --strategies as a comma-separated list of {', '.join(choices)}.")
    return names


def parse_sizes(per_class: str | Sequence[int | str]) -> list[Size]:
    """Training sizes from ``"5,10,all"`` or a list: whole counts ascending, then ``"all"``."""
    items = per_class.split(",") if isinstance(per_class, str) else list(per_class)
    sizes: set[int] = set()
    want_all = False
    for item in items:
        text = str(item).strip().lower()
        if text == "all":
            want_all = True
        elif text.isdigit() and int(text) > 0:
            sizes.add(int(text))
        elif text:
            raise ConfigError(f"--per-class takes whole numbers above 0 or 'all', got {item!r}.",
                              fix="Pass e.g. --per-class 5,10,25,all.")
    if not sizes and not want_all:
        raise ConfigError("no training sizes given.", fix="Pass e.g. --per-class 5,10,25,all.")
    return [*sorted(sizes), *(["all"] if want_all else [])]


def split_test(images: LabelledSet, test_fraction: float, seed: int = 0) -> tuple[LabelledSet, LabelledSet]:
    """A fixed, seeded per-class split into (training pool, test set); every class on both sides."""
    if not 0.0 < test_fraction < 1.0:
        raise ConfigError(f"the test fraction must be between 0 and 1, got {test_fraction}.",
                          fix="Pass --test-fraction 0.3, or a separate --test DIR.")
    rng = np.random.default_rng(seed)
    labels = np.asarray(images.labels)
    pool: list[int] = []
    test: list[int] = []
    for label, name in enumerate(images.classes):
        members = rng.permutation(np.flatnonzero(labels == label))
        n_test = int(round(test_fraction * len(members)))
        if n_test == 0 or n_test >= len(members):
            side = "no test images" if n_test == 0 else "no training images"
            raise DataError(f"class {name!r} has {len(members)} image(s); a test fraction of {test_fraction} "
                            f"leaves it {side}.", path=images.source,
                            fix="Add images to that class, change --test-fraction, or pass a separate --test DIR.")
        test += members[:n_test].tolist()
        pool += members[n_test:].tolist()
    return images.subset(sorted(pool)), images.subset(sorted(test))


def check_test_classes(test: LabelledSet) -> None:
    """Refuse a test set that leaves a class without images: its recall could not be measured."""
    empty = [name for name, n in test.class_counts().items() if n == 0]
    if empty:
        raise DataError(f"the test data has no images of class {empty[0]!r}"
                        f"{f' (nor of {len(empty) - 1} more)' if len(empty) > 1 else ''}.", path=test.source,
                        fix="Add test images of every training class, or use --test-fraction instead of --test.")


def check_sizes(pool: LabelledSet, sizes: Sequence[Size], *, after_split: bool) -> None:
    """Refuse sizes larger than the smallest class of the training pool, naming that class."""
    counts = pool.class_counts()
    largest = max((s for s in sizes if s != "all"), default=0)
    short = {name: n for name, n in counts.items() if n < largest}
    if short:
        name = min(short, key=short.get)
        where = " left for training after the test split" if after_split else ""
        raise DataError(f"--per-class {largest} is more than class {name!r} has: {counts[name]} image(s){where}.",
                        path=pool.source, fix=f"Pass sizes up to {counts[name]}, or 'all' to use every image.")


def nested_subset(pool: LabelledSet, size: Size, seed: int) -> list[int]:
    """Indices of ``size`` images per class drawn with ``seed``: one seeded permutation per class,
    its first ``size`` images, so a smaller size's subset is always inside a larger one's."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(pool.labels)
    chosen: list[int] = []
    for label in range(len(pool.classes)):
        order = rng.permutation(np.flatnonzero(labels == label))
        chosen += (order if size == "all" else order[:size]).tolist()
    return sorted(chosen)


def validation_subset(subset: LabelledSet, *, trained: bool) -> LabelledSet | None:
    """What ``fit`` validates on in one run of the grid (images, or texts with the same interface). Strategies
    trained for epochs hold out ``fit``'s own stratified 20% for early stopping and the best epoch (``None``) when
    every class has two examples, else reuse the subset; the others learn from the whole subset (their validation
    score is only reported, so one example per class is enough)."""
    if trained:
        return None if min(subset.class_counts().values()) >= 2 else subset
    first: dict[int, int] = {}
    for index, label in enumerate(subset.labels):
        first.setdefault(label, index)
    return subset.subset(sorted(first.values()))
