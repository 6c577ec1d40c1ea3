"""``compare`` for text: the same grid, results, resume and report as for images, run by ``TextClassifier``."""

from __future__ import annotations

import hashlib
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from ..data.text import TextDataset, load_text_dataset
from ..errors import ConfigError
from ..features import EmbeddingCache
from ..runtime import describe_machine
from .grid import Size, check_sizes, check_test_classes, nested_subset, parse_sizes, split_test, \
    validation_subset
from .memory import PeakMemory
from .advice import write_advice
from .report import write_report
from .results import ResultStore, run_record
from .summary import summarize_runs

__all__ = ["DEFAULT_TEXT_SIZES", "DEFAULT_TEXT_STRATEGIES", "compare_text"]

DEFAULT_TEXT_STRATEGIES = ("scratch", "frozen", "prototype", "knn", "full", "auto")
DEFAULT_TEXT_SIZES = (4, 8, 16, 64, "all")
TEXT_EMBEDDING_STRATEGIES = ("frozen", "prototype", "knn")
SPLIT_SEED = 0


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
        data = self.dataset
        texts = TextDataset([data.texts[i] for i in indices], [data.labels[i] for i in indices], data.classes,
                            data.source, data.report)
        return LabelledTexts(texts, [self.labels[i] for i in indices], self.classes)


def compare_text(data: str | Path, *, backbone: str = "minilm",
                 strategies: Sequence[str] = DEFAULT_TEXT_STRATEGIES,
                 per_class: str | Sequence[Size] = DEFAULT_TEXT_SIZES, seeds: int = 3, test: str | Path | None = None,
                 test_fraction: float = 0.3, epochs: int | None = None, out: str | Path = "headstart-compare",
                 resume: bool = False, progress: bool = True, text_column: str = "text",
                 label_column: str = "label") -> tuple[ResultStore, int, int, Path, list[str]]:
    """Every text strategy on nested stratified subsets of ``data``, scored on one fixed test set.

    Called by :func:`headstart.compare.compare` for text data; returns (store, executed, reused, report, summary).
    """
    from ..text.classifier import TEXT_STRATEGIES

    unknown = [s for s in strategies if s not in TEXT_STRATEGIES]
    if unknown:
        raise ConfigError(f"{unknown[0]!r} is not a text strategy.",
                          fix=f"Pass --strategies as a comma-separated list of {', '.join(TEXT_STRATEGIES)}.")
    sizes = parse_sizes(per_class)
    if seeds < 1:
        raise ConfigError(f"--seeds must be at least 1, got {seeds}.", fix="Pass --seeds 3.")
    columns = {"text_column": text_column, "label_column": label_column}
    everything = load_text_dataset(data, **columns)
    texts = LabelledTexts.of(everything, everything.classes)
    if test is None:
        pool, test_set = split_test(texts, test_fraction, SPLIT_SEED)
    else:
        pool = texts
        test_set = LabelledTexts.of(load_text_dataset(test, **columns, min_classes=1), everything.classes)
        check_test_classes(test_set)
    check_sizes(pool, sizes, after_split=test is None)
    settings = {"backbone": backbone, "test": str(test) if test is not None else None,
                "test_fraction": None if test is not None else test_fraction, "split_seed": SPLIT_SEED,
                "classes": pool.classes, "epochs": epochs, **columns}
    meta = {"task": "text", "unit": "texts", "settings": settings,
            "fingerprint": _fingerprint(data, *([test] if test is not None else [])),
            "grid": {"strategies": list(strategies), "per_class": sizes, "seeds": seeds},
            "data": {"source": str(data), "pool": pool.class_counts(), "test": test_set.class_counts(),
                     "skipped": everything.report.rows - everything.report.kept,
                     "loading": everything.report.summary()},
            "machine": describe_machine()}
    store = ResultStore.open(out, meta, resume=resume)
    todo, reused = store.missing(sizes, seeds, strategies)
    caches = store.out / "embedding-cache"

    def run_one(strategy: str, size: Size, seed: int) -> dict[str, Any]:
        subset = pool.subset(nested_subset(pool, size, seed))
        return _run(strategy, subset, test_set, backbone=backbone, seed=seed, epochs=epochs, caches=caches)

    store.run_missing(todo, run_one, progress=progress)
    write_advice(data, store.out, backbone=backbone, task="text", cache=caches / "test", resume=resume, **columns)
    report = write_report(store.runs, store.meta, store.out)
    return store, len(todo), reused, report, summarize_runs(store.runs, unit="texts")


def _run(strategy: str, subset: LabelledTexts, test: LabelledTexts, *, backbone: str, seed: int,
         epochs: int | None, caches: Path) -> dict[str, Any]:
    """Fit one text classifier on the whole ``subset`` and score it on ``test``; ``auto`` as ``headstart train``
    runs it (cross-fitting over the subset, the grid's ``epochs`` not passed), recording the strategy it kept.

    ``fit`` embeds with an emptied cache, so its time counts every embedding of the subset; the test set's
    embeddings, the same for every run, come from a second cache."""
    from ..text.classifier import TextClassifier

    EmbeddingCache(caches / "fit").clear()
    clf = TextClassifier(backbone, strategy, epochs=None if strategy == "auto" else epochs, seed=seed,
                         cache=caches / "fit", progress=False)
    with PeakMemory() as memory:
        started = time.perf_counter()
        val = None if strategy == "auto" else validation_subset(subset, trained=strategy == "full")
        clf.fit(subset.dataset, val=None if val is None else val.dataset)
        seconds = time.perf_counter() - started
    clf.cache = caches / "test"
    report = clf.evaluate(test.dataset)
    training = clf.training_
    epochs_run = training.get("epochs_run", training.get("epochs"))
    counts = {"train_images": len(subset), "fit_train_images": training["train_texts"],
              "val_images": training["val_texts"], "test_images": len(test)}
    return run_record(report, seconds=seconds, train_seconds=training["seconds"],
                      per_second=len(subset) * (epochs_run or 1) / max(training["seconds"], 1e-9),
                      epochs_run=epochs_run, trainable_parameters=training["trainable_parameters"], memory=memory,
                      counts=counts, subset_key="\n".join(subset.dataset.texts), image_size=None,
                      truncated_texts=training.get("truncated_texts", 0),
                      **({"chosen_strategy": clf.strategy_} if strategy == "auto" else {}))


def _fingerprint(*paths: str | Path) -> dict[str, Any]:
    """A digest of the data files' (or folders' files') names and contents."""
    digest = hashlib.sha256()
    files = 0
    for path in map(Path, paths):
        for file in sorted(path.rglob("*")) if path.is_dir() else [path]:
            if file.is_file():
                digest.update(f"{file}\0".encode())
                digest.update(hashlib.sha256(file.read_bytes()).digest())
                files += 1
    return {"files": files, "sha256": digest.hexdigest()}
