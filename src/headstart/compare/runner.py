"""``compare``: every strategy on the same nested training subsets, scored on one fixed test set.

One runner for images and texts: the grid, results, resume, summary, advice and report are here; what differs
between the modalities (:class:`.images.Images`, :class:`.text.Texts`) plugs in as a :class:`.modality.Modality`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .. import distributed as dist
from ..data.text import data_task
from ..errors import ConfigError
from ..runtime import describe_machine
from ..validation import FRACTION, IMAGE_SIZE, NON_NEGATIVE, POSITIVE_INT, validate
from .advice import write_advice
from .grid import SPLIT_SEED, Size, check_sizes, nested_subset, parse_sizes, parse_strategies
from .images import DEFAULT_SIZES, DEFAULT_STRATEGIES, Images
from .modality import Modality
from .report import write_report
from .results import ResultStore
from .summary import aggregate, summarize_runs
from .text import Texts

__all__ = ["CompareResult", "DEFAULT_SIZES", "DEFAULT_STRATEGIES", "compare"]

DEFAULT_TIME_BUDGET = 45.0  # seconds of training per trained run: ~3,000 images at 64 px on 2 CPU cores


@dataclass
class CompareResult:
    """What a compare produced: every run (this call's and resumed ones), the report and its summary."""

    out: Path
    runs: list[dict[str, Any]]
    executed: int
    reused: int
    report: Path
    summary: list[str]
    unit: str = "images"  # what was labelled: images, texts

    def table(self) -> list[dict[str, Any]]:
        """Mean and spread over seeds per (strategy, size)."""
        return aggregate(self.runs, self.unit)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "report": str(self.report), "executed": self.executed,
                "reused": self.reused, "summary": self.summary, "table": self.table(), "runs": self.runs}


def compare(data: str | Path, *, backbone: str | None = None, strategies: str | Sequence[str] | None = None,
            per_class: str | Sequence[Size] | None = None, seeds: int = 3, test: str | Path | None = None,
            test_fraction: float = 0.3, image_size: int | None = None, epochs: int | None = None,
            time_budget: float | None = DEFAULT_TIME_BUDGET, out: str | Path = "headstart-compare",
            resume: bool = False, progress: bool = True, accelerator: str = "auto", devices: int = 1,
            num_nodes: int = 1, distributed: str = "auto", task: str = "auto", text_column: str = "text",
            label_column: str = "label") -> CompareResult:
    """Train every strategy on nested stratified subsets of ``data`` and score each on one test set.

    Args:
        data: labelled images (class folders or a CSV of path,label) or labelled texts (CSV/TSV/JSONL with a
            text column, or class folders of .txt); the training pool, or pool + test split.
        backbone: registry name shared by every strategy (default ``efficientnet_lite0``; ``minilm`` for text).
        strategies: names, a list or ``"scratch,frozen"`` (default: every strategy of the modality's table,
            ``scratch`` first; for text also ``auto``). Images also take ``auto``: each subset gets what
            ``headstart advise`` recommends for it, which scores the advice against the rest.
        per_class: training examples per class, e.g. ``(5, 10, "all")``; each seed's smaller subsets lie
            inside its larger ones, and every strategy gets the same subsets (default 5,10,25,50,100,all for
            images, 4,8,16,64,all for text).
        seeds: subsets drawn (and runs seeded) per size.
        test: separate labelled test images (or texts); else a fixed stratified ``test_fraction`` of ``data``.
        image_size: images: input side for every strategy; default: the backbone's for ``frozen``/``prototype``/
            ``knn`` (embedded once) and :func:`trained_image_size` for ``partial``/``full``/``scratch``.
        epochs: for trained strategies (default: chosen from the subset's size; early stopping).
        time_budget: images: seconds of training per run of a trained strategy (``partial``, ``full``, ``scratch``;
            the best epoch so far is kept); ``None`` for no limit. Bounds the grid's time on a CPU.
        out: folder for ``results.json``/``results.csv`` (written after every run), plots and ``report.html``.
        resume: continue the results in ``out``, running only what is missing (refused if the data changed).
        progress: show a progress bar over the whole grid.
        accelerator, devices, num_nodes, distributed: where each image run trains and embeds, as for
            :class:`~headstart.ImageClassifier`; every rank runs the whole grid, rank 0 writes the results and report.
            Texts run on one process.
        task: ``image``, ``text`` or ``auto`` (from ``data``).
        text_column, label_column: the columns of a table of texts.
    """
    validate({"seeds": seeds, "test_fraction": test_fraction, "image_size": image_size, "epochs": epochs,
              "time_budget": time_budget},
             {"seeds": [POSITIVE_INT], "test_fraction": [FRACTION], "image_size": [IMAGE_SIZE, None],
              "epochs": [POSITIVE_INT, None], "time_budget": [NON_NEGATIVE, None]})
    placement = {"accelerator": accelerator, "devices": devices, "num_nodes": num_nodes, "distributed": distributed}
    modality: Modality
    if data_task(data, task, text_column=text_column) == "text":
        if devices * num_nodes > 1:
            raise ConfigError(f"compare runs texts on one process (devices={devices}, num_nodes={num_nodes}).",
                              fix="Drop devices and num_nodes: they apply to images.")
        modality = Texts(backbone or Texts.default_backbone, epochs, text_column, label_column)
    else:
        modality = Images(backbone or Images.default_backbone, epochs, image_size, time_budget, placement)
    names = parse_strategies(strategies or modality.default_strategies, modality.strategies, modality.task)
    sizes = parse_sizes(per_class or modality.default_sizes)
    loaded = modality.load(data, test, test_fraction)
    check_sizes(loaded.pool, sizes, after_split=test is None)
    settings = {"backbone": modality.backbone, "test": str(test) if test is not None else None,
                "test_fraction": None if test is not None else test_fraction, "split_seed": SPLIT_SEED,
                "classes": loaded.pool.classes, "epochs": epochs, **loaded.settings}
    meta = {"task": modality.task, "unit": modality.unit, "settings": settings, "fingerprint": loaded.fingerprint,
            "grid": {"strategies": names, "per_class": sizes, "seeds": seeds},
            "data": {"source": str(data), "pool": loaded.pool.class_counts(), "test": loaded.test.class_counts(),
                     "skipped": loaded.skipped, "warnings": loaded.warnings, **loaded.data},
            "machine": describe_machine()}
    dist.join(**placement)
    store = dist.broadcast(ResultStore.open(out, meta, resume=resume) if dist.is_main() else None)
    todo, reused = store.missing(sizes, seeds, names)
    caches = store.out / "embedding-cache"
    modality.before_runs({strategy for *_, strategy in todo}, loaded, caches)

    def run_one(strategy: str, size: Size, seed: int) -> dict[str, Any]:
        subset = loaded.pool.subset(nested_subset(loaded.pool, size, seed))
        return modality.fit_and_score(strategy, subset, loaded, seed=seed, caches=caches)

    store.run_missing(todo, run_one, progress=progress and dist.is_main())
    report = store.out / "report.html"
    if dist.is_main():
        write_advice(data, store.out, backbone=modality.backbone, task=modality.task, cache=caches / "test",
                     resume=resume, **modality.columns)
        modality.after_runs(data, loaded, store.out)
        report = write_report(store.runs, store.meta, store.out)
    return CompareResult(store.out, store.runs, len(todo), reused, report,
                         [f"warning: {w}" for w in loaded.warnings] + summarize_runs(store.runs, modality.unit),
                         modality.unit)
