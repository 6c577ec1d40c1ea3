"""What a compare of one modality plugs into the grid: how its data loads and splits, and how one strategy is
fitted on a subset and scored. The grid, results, resume, summary, advice and report are the runner's, once."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

from ..data.dataset import ImageSet
from ..data.duplicates import duplicate_warnings, leakage_warning, training_digests
from ..data.text import TextDataset
from .grid import LabelledSet, Size

__all__ = ["Loaded", "Modality", "data_warnings"]


@dataclass
class Loaded:
    """A modality's data as the grid draws from it.

    Attributes:
        pool: the training pool the nested subsets come from.
        test: the fixed test set every run is scored on.
        fingerprint: :func:`~headstart.compare.results.fingerprint` of the data; a resume refuses changed data.
        settings: the modality's own settings, recorded and checked on resume beside the grid's.
        data: the modality's own facts about the data for ``results.json`` and the report.
        skipped: files or rows left out while loading.
        warnings: duplicates and test leakage, shown with the summary.
    """

    pool: LabelledSet
    test: LabelledSet
    fingerprint: dict[str, Any]
    settings: dict[str, Any]
    data: dict[str, Any]
    skipped: int
    warnings: list[str]


@dataclass(frozen=True)
class Modality(ABC):
    """Images or texts in a compare: the options its runs share and what differs between modalities."""

    backbone: str
    epochs: int | None

    task: ClassVar[str]  # as headstart advise names it: image, text
    unit: ClassVar[str]  # what is labelled, plural: images, texts
    default_backbone: ClassVar[str]
    strategies: ClassVar[tuple[str, ...]]  # those compare can run
    default_strategies: ClassVar[tuple[str, ...]]
    default_sizes: ClassVar[tuple[Size, ...]]

    @abstractmethod
    def load(self, data: str | Path, test: str | Path | None, test_fraction: float) -> Loaded:
        """``data`` checked and split into pool and test (a fixed ``test_fraction`` of it, or ``test``)."""

    @abstractmethod
    def fit_and_score(self, strategy: str, subset: LabelledSet, loaded: Loaded, *, seed: int,
                      caches: Path) -> dict[str, Any]:
        """Fit ``strategy`` on ``subset`` (embeddings through ``caches/fit``, emptied first so ``fit``'s time counts
        them) and score it on ``loaded.test`` (through ``caches/test``): a :func:`~.results.run_record`."""

    @property
    def columns(self) -> dict[str, str]:
        """How ``headstart advise`` reads ``data`` (a table's columns), beyond the defaults."""
        return {}

    def before_runs(self, strategies: set[str], loaded: Loaded, caches: Path) -> None:
        """Work shared by the runs of ``strategies`` about to run, done once so no run's time counts it."""

    def after_runs(self, data: str | Path, loaded: Loaded, out: Path) -> None:
        """Pictures for the report beside the results in ``out``."""


def data_warnings(everything: ImageSet | TextDataset, pool: ImageSet | TextDataset,
                  test: ImageSet | TextDataset) -> list[str]:
    """Duplicates in the data, and test items with a training item's content."""
    leak = leakage_warning(training_digests(pool), test, role="test")
    return duplicate_warnings(everything) + ([leak] if leak else [])
