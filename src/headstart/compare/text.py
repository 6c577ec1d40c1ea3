"""Texts in a compare: ``TextClassifier`` runs on subsets of a table or folders of labelled texts."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Iterable, Sequence

import numpy as np

from ..data.text import TextDataset, load_text_dataset
from ..features import EmbeddingCache
from ..strategies import TEXT_STRATEGIES
from .grid import SPLIT_SEED, Size, baseline_first, check_test_classes, split_test, validation_subset
from .memory import PeakMemory
from .modality import Loaded, Modality, data_warnings
from .results import fingerprint, run_record

if TYPE_CHECKING:
    from .runner import CompareResult

__all__ = ["DEFAULT_TEXT_SIZES", "DEFAULT_TEXT_STRATEGIES", "LabelledTexts", "Texts", "compare_text"]

DEFAULT_TEXT_STRATEGIES = baseline_first(TEXT_STRATEGIES)
DEFAULT_TEXT_SIZES: tuple[Size, ...] = (4, 8, 16, 64, "all")


@dataclass
class LabelledTexts:
    """Texts with integer labels: the view of a :class:`TextDataset` that the compare grid draws subsets from."""

    dataset: TextDataset
    labels: list[int]
    classes: list[str]

    @classmethod
    def of(cls, dataset: TextDataset, classes: list[str]) -> "LabelledTexts":
        index = {name: i for i, name in enumerate(classes)}
        return cls(dataset, [index[label] for label in dataset.labels], classes)

    @property
    def source(self) -> str:
        return self.dataset.source

    def __len__(self) -> int:
        return len(self.labels)

    def class_counts(self) -> dict[str, int]:
        counts = np.bincount(self.labels, minlength=len(self.classes))
        return {name: int(n) for name, n in zip(self.classes, counts)}

    def subset(self, indices: Sequence[int]) -> "LabelledTexts":
        return LabelledTexts(self.dataset.subset(indices), [self.labels[i] for i in indices], self.classes)


@dataclass(frozen=True)
class Texts(Modality):
    """Texts in a compare; ``text_column`` and ``label_column`` name the columns of a table of texts."""

    text_column: str = "text"
    label_column: str = "label"

    task: ClassVar[str] = "text"
    unit: ClassVar[str] = "texts"
    default_backbone: ClassVar[str] = "minilm"
    strategies: ClassVar[tuple[str, ...]] = TEXT_STRATEGIES
    default_strategies: ClassVar[tuple[str, ...]] = DEFAULT_TEXT_STRATEGIES
    default_sizes: ClassVar[tuple[Size, ...]] = DEFAULT_TEXT_SIZES

    @property
    def columns(self) -> dict[str, str]:
        return {"text_column": self.text_column, "label_column": self.label_column}

    def load(self, data: str | Path, test: str | Path | None, test_fraction: float) -> Loaded:
        everything = load_text_dataset(data, **self.columns)
        texts = LabelledTexts.of(everything, everything.classes)
        if test is None:
            pool, test_set = split_test(texts, test_fraction, SPLIT_SEED)
        else:
            pool = texts
            test_set = LabelledTexts.of(load_text_dataset(test, **self.columns, min_classes=1), everything.classes)
            check_test_classes(test_set)
        return Loaded(pool, test_set, fingerprint(_entries(data, *([test] if test is not None else []))),
                      settings=self.columns, data={"loading": everything.report.summary()},
                      skipped=everything.report.rows - everything.report.kept,
                      warnings=data_warnings(everything, pool.dataset, test_set.dataset))

    def fit_and_score(self, strategy: str, subset: LabelledTexts, loaded: Loaded, *, seed: int,
                      caches: Path) -> dict[str, Any]:
        """As the base method; ``auto`` runs as ``headstart train`` runs it (cross-fitting over the subset, the
        grid's ``epochs`` not passed) and records the strategy it kept."""
        from ..text.classifier import TextClassifier

        EmbeddingCache(caches / "fit").clear()
        clf = TextClassifier(self.backbone, strategy, epochs=None if strategy == "auto" else self.epochs, seed=seed,
                             cache=caches / "fit", progress=False)
        with PeakMemory() as memory:
            started = time.perf_counter()
            val = self.validation(strategy, subset)
            clf.fit(subset.dataset, val=None if val is None else val.dataset)
            seconds = time.perf_counter() - started
        clf.cache = caches / "test"
        test: LabelledTexts = loaded.test
        report = clf.evaluate(test.dataset)
        training = clf.training_
        epochs_run = training.get("epochs_run", training.get("epochs"))
        return run_record(report, unit=self.unit, seconds=seconds, train_seconds=training["seconds"],
                          per_second=len(subset) * (epochs_run or 1) / max(training["seconds"], 1e-9),
                          epochs_run=epochs_run, trainable_parameters=training["trainable_parameters"],
                          memory=memory,
                          counts=(len(subset), training["train_texts"], training["val_texts"], len(test)),
                          subset_key="\n".join(subset.dataset.texts), image_size=None,
                          truncated_texts=training.get("truncated_texts", 0),
                          **({"chosen_strategy": clf.strategy_} if strategy == "auto" else {}))

    @staticmethod
    def validation(strategy: str, subset: LabelledTexts) -> LabelledTexts | None:
        """What ``fit`` validates on (:func:`~.grid.validation_subset`); ``None`` for ``auto``, which cross-fits
        over the whole subset instead."""
        return None if strategy == "auto" else validation_subset(subset, trained=strategy == "full")


def compare_text(data: str | Path, *, backbone: str = Texts.default_backbone,
                 strategies: str | Sequence[str] = DEFAULT_TEXT_STRATEGIES,
                 per_class: str | Sequence[Size] = DEFAULT_TEXT_SIZES, seeds: int = 3, test: str | Path | None = None,
                 test_fraction: float = 0.3, epochs: int | None = None, out: str | Path = "headstart-compare",
                 resume: bool = False, progress: bool = True, text_column: str = "text",
                 label_column: str = "label") -> CompareResult:
    """:func:`headstart.compare` on texts (``task="text"``)."""
    from .runner import compare

    return compare(data, task="text", backbone=backbone, strategies=strategies, per_class=per_class, seeds=seeds,
                   test=test, test_fraction=test_fraction, epochs=epochs, out=out, resume=resume, progress=progress,
                   text_column=text_column, label_column=label_column)


def _entries(*paths: str | Path) -> Iterable[bytes]:
    """What identifies each data file (each file of a folder) for the fingerprint: its name and a digest of it."""
    for path in map(Path, paths):
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                yield f"{file}\0".encode() + hashlib.sha256(file.read_bytes()).digest()
