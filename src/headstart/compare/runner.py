"""``compare``: every strategy on the same nested training subsets, scored on one fixed test set."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

from .. import distributed as dist
from ..backbones import load_backbone
from ..backbones.registry import resolve_spec
from ..classifier import ImageClassifier
from ..data.dataset import ImageSet, check_images, find_images, native_size, trained_image_size
from ..data.duplicates import duplicate_warnings, leakage_warning, training_digests
from ..data.text import is_text_data
from ..errors import ConfigError
from ..features import EmbeddingCache, extract_embeddings
from ..runtime import describe_machine
from ..validation import FRACTION, IMAGE_SIZE, NON_NEGATIVE, POSITIVE_INT, validate
from ..strategies import EMBEDDING_STRATEGIES, extraction_stage
from .advice import write_advice
from .grid import Size, check_sizes, check_test_classes, nested_subset, parse_sizes, \
    parse_strategies, split_test, validation_subset
from .memory import PeakMemory
from .report import write_report
from .results import ResultStore, fingerprint, run_record
from .summary import aggregate, summarize_runs
from .text import DEFAULT_TEXT_SIZES, DEFAULT_TEXT_STRATEGIES, compare_text

__all__ = ["CompareResult", "DEFAULT_SIZES", "DEFAULT_STRATEGIES", "compare"]

DEFAULT_STRATEGIES = ("scratch", "frozen", "multilayer", "partial", "full", "prototype", "knn")
DEFAULT_SIZES = (5, 10, 25, 50, 100, "all")
DEFAULT_TIME_BUDGET = 45.0  # seconds of training per trained run: ~3,000 images at 64 px on 2 CPU cores
SPLIT_SEED = 0


@dataclass
class CompareResult:
    """What a compare produced: every run (this call's and resumed ones), the report and its summary."""

    out: Path
    runs: list[dict[str, Any]]
    executed: int
    reused: int
    report: Path
    summary: list[str]

    def table(self) -> list[dict[str, Any]]:
        """Mean and spread over seeds per (strategy, size)."""
        return aggregate(self.runs)

    def to_dict(self) -> dict[str, Any]:
        return {"out": str(self.out), "report": str(self.report), "executed": self.executed,
                "reused": self.reused, "summary": self.summary, "table": self.table(), "runs": self.runs}


def compare(data: str | Path, *, backbone: str | None = None, strategies: str | Sequence[str] | None = None,
            per_class: str | Sequence[Size] | None = None, seeds: int = 3, test: str | Path | None = None,
            test_fraction: float = 0.3, image_size: int | None = None, epochs: int | None = None,
            time_budget: float | None = DEFAULT_TIME_BUDGET, out: str | Path = "headstart-compare",
            resume: bool = False, progress: bool = True, accelerator: str = "auto", devices: int = 1,
            num_nodes: int = 1, distributed: str = "auto", task: str = "auto", text_column: str = "text", label_column: str = "label") -> CompareResult:
    """Train every strategy on nested stratified subsets of ``data`` and score each on one test set.

    Args:
        data: labelled images (class folders or a CSV of path,label) or labelled texts (CSV/TSV/JSONL with a
            text column, or class folders of .txt); the training pool, or pool + test split.
        backbone: registry name shared by every strategy (default ``efficientnet_lite0``; ``minilm`` for text).
        strategies: names, a list or ``"scratch,frozen"`` (default: all seven for images;
            scratch, frozen, prototype, knn, full for text). Images also take ``auto``: each subset gets
            what ``headstart advise`` recommends for it, which scores the advice against the rest.
        per_class: training examples per class, e.g. ``(5, 10, "all")``; each seed's smaller subsets lie
            inside its larger ones, and every strategy gets the same subsets (default 5,10,25,50,100,all for
            images, 4,8,16,64,all for text).
        seeds: subsets drawn (and runs seeded) per size.
        test: separate labelled test images; else a fixed stratified ``test_fraction`` of ``data``.
        image_size: input side for every strategy; default: the backbone's for ``frozen``/``prototype``/
            ``knn`` (embedded once) and :func:`trained_image_size` for ``partial``/``full``/``scratch``.
        epochs: for trained strategies (default: chosen from the subset's size; early stopping).
        time_budget: seconds of training per run of a trained strategy (``partial``, ``full``, ``scratch``;
            the best epoch so far is kept); ``None`` for no limit. Bounds the grid's time on a CPU.
        out: folder for ``results.json``/``results.csv`` (written after every run), plots and ``report.html``.
        resume: continue the results in ``out``, running only what is missing (refused if the data changed).
        progress: show a progress bar over the whole grid.
        accelerator, devices, num_nodes, distributed: where each image run trains and embeds, as for
            :class:`~headstart.ImageClassifier`; every rank runs the whole grid, rank 0 writes the results and report.
        task: ``image``, ``text`` or ``auto`` (from ``data``).
        text_column, label_column: the columns of a table of texts.
    """
    validate({"seeds": seeds, "test_fraction": test_fraction, "image_size": image_size, "epochs": epochs,
              "time_budget": time_budget},
             {"seeds": [POSITIVE_INT], "test_fraction": [FRACTION], "image_size": [IMAGE_SIZE, None],
              "epochs": [POSITIVE_INT, None], "time_budget": [NON_NEGATIVE, None]})
    if task not in ("auto", "image", "text"):
        raise ConfigError(f"unknown task {task!r}.", fix="Pass task='image', 'text' or 'auto'.")
    if task == "text" or (task == "auto" and is_text_data(data, text_column=text_column)):
        store, executed, reused, report, summary = compare_text(
            data, backbone=backbone or "minilm", strategies=parse_strategies(strategies or DEFAULT_TEXT_STRATEGIES),
            per_class=per_class or DEFAULT_TEXT_SIZES, seeds=seeds, test=test, test_fraction=test_fraction,
            epochs=epochs, out=out, resume=resume, progress=progress, text_column=text_column,
            label_column=label_column)
        return CompareResult(store.out, store.runs, executed, reused, report, summary)
    backbone = backbone or "efficientnet_lite0"
    strategies = parse_strategies(strategies or DEFAULT_STRATEGIES)
    sizes = parse_sizes(per_class or DEFAULT_SIZES)
    images, pool, test_set = _load(data, test, test_fraction)
    warnings = duplicate_warnings(images) + list(filter(None, [
        leakage_warning(training_digests(pool), test_set, role="test")]))
    check_sizes(pool, sizes, after_split=test is None)
    native = native_size(pool)
    trained_size = image_size or trained_image_size(native, resolve_spec(backbone).preprocessing.image_size)
    settings = {"backbone": backbone, "test": str(test) if test is not None else None,
                "test_fraction": None if test is not None else test_fraction, "split_seed": SPLIT_SEED,
                "classes": pool.classes, "embedding_image_size": image_size, "trained_image_size": trained_size,
                "epochs": epochs, "time_budget": time_budget}
    meta = {"settings": settings, "fingerprint": fingerprint(images, *([test_set] if test is not None else [])),
            "grid": {"strategies": strategies, "per_class": sizes, "seeds": seeds},
            "data": {"source": str(data), "native_size": native, "pool": pool.class_counts(),
                     "test": test_set.class_counts(), "skipped": len(images.skipped) + len(test_set.skipped),
                     "warnings": warnings},
            "machine": describe_machine()}
    dist.join(accelerator=accelerator, devices=devices, num_nodes=num_nodes, distributed=distributed)
    store = dist.broadcast(ResultStore.open(out, meta, resume=resume) if dist.is_main() else None)
    todo, reused = store.missing(sizes, seeds, strategies)
    caches = store.out / "embedding-cache"
    for features, wanted in (("pooled", (*EMBEDDING_STRATEGIES, "auto")), ("blocks", ("multilayer", "auto"))):
        if any(strategy in wanted for _, _, strategy in todo):
            _export_graph(backbone, image_size, pool, caches / "fit", features)

    def run_one(strategy: str, size: Size, seed: int) -> dict[str, Any]:
        subset = pool.subset(nested_subset(pool, size, seed))
        # auto leaves the size to the classifier, which picks it for the strategy it is advised.
        size_for = image_size if strategy in (*EMBEDDING_STRATEGIES, "auto") else trained_size
        return _run(strategy, subset, test_set, backbone=backbone, seed=seed, epochs=epochs, caches=caches,
                    image_size=size_for, time_budget=time_budget, placement={
                        "accelerator": accelerator, "devices": devices, "num_nodes": num_nodes,
                        "distributed": distributed})

    store.run_missing(todo, run_one, progress=progress and dist.is_main())
    report = store.out / "report.html"
    if dist.is_main():
        write_advice(data, store.out, backbone=backbone, task="image", cache=caches / "test", resume=resume)
        _inspect_backbone(backbone, data, pool, store.out / "inspect")
        report = write_report(store.runs, store.meta, store.out)
    return CompareResult(store.out, store.runs, len(todo), reused, report,
                         [f"warning: {w}" for w in warnings] + summarize_runs(store.runs))


def _load(data: str | Path, test: str | Path | None, test_fraction: float) -> tuple[ImageSet, ImageSet, ImageSet]:
    """(all of ``data``, the training pool, the test set), every image checked once."""
    images = check_images(find_images(data))
    if test is None:
        return images, *split_test(images, test_fraction, SPLIT_SEED)
    test_set = check_images(find_images(test, classes=images.classes))
    check_test_classes(test_set)
    return images, images, test_set


def _run(strategy: str, subset: ImageSet, test: ImageSet, *, backbone: str, seed: int, epochs: int | None,
         image_size: int | None, caches: Path, time_budget: float | None,
         placement: dict[str, Any]) -> dict[str, Any]:
    """Fit one classifier on ``subset`` and score it on ``test``.

    ``fit`` gets a cache emptied of embeddings (its exported inference graph kept), so its time counts every
    embedding of the subset; the test set's embeddings, the same for every run, come from a second cache."""
    EmbeddingCache(caches / "fit").clear(keep_graphs=True)
    dist.barrier()  # no rank reads the emptied cache before every rank has emptied it
    if strategy == "auto":  # as `headstart train DATA` runs it: the grid's training budget is not the user's
        epochs = time_budget = None
    clf = ImageClassifier(backbone, strategy, epochs=epochs, time_budget=time_budget, image_size=image_size,
                          seed=seed, cache=caches / "fit", progress=False, logger=None, **placement)
    with PeakMemory() as memory:
        started = time.perf_counter()
        clf.fit(subset, val=validation_subset(subset, trained=strategy not in EMBEDDING_STRATEGIES))
        seconds = time.perf_counter() - started
    clf.cache = caches / "test"
    report = clf.evaluate(test)
    training = clf.training_
    epochs_run = training.get("epochs_run")
    presented = training["train_images"] * (epochs_run or 1)
    speed = training.get("images_per_second") or presented / max(training["seconds"], 1e-9)
    counts = {"train_images": len(subset), "fit_train_images": training["train_images"],
              "val_images": training["val_images"], "test_images": report["n"]}
    return run_record(report, seconds=seconds, train_seconds=training["seconds"], per_second=speed,
                      epochs_run=epochs_run, trainable_parameters=training["trainable_parameters"], memory=memory,
                      counts=counts, subset_key="\n".join(sorted(map(str, subset.paths))),
                      image_size=clf.net_.backbone.preprocessing.image_size,
                      **({"advised_strategy": clf.advice_["strategy"], "advised_freeze": clf.advice_["freeze"],
                          "chosen_strategy": clf.strategy_.name} if strategy == "auto" else {}))


def _inspect_backbone(backbone: str, data: str | Path, pool: ImageSet, out: Path) -> None:
    """``headstart inspect`` pictures of the pretrained backbone on this data, linked from the report: its
    first-layer filters, feature maps of one training image, and per-stage probe accuracy and BatchNorm shift."""
    from ..analysis.inspect import inspect

    if not (out / "stage_probes.png").exists():
        inspect(backbone, out=out, image=pool.paths[0], data=data)


def _export_graph(backbone: str, image_size: int | None, pool: ImageSet, cache: Path, features: str) -> None:
    """Embed one image into ``cache`` once, so the inference graph that embedding strategies run (``features``:
    pooled or blocks) is exported before the first timed fit rather than inside it."""
    network = load_backbone(backbone, image_size=image_size)
    extract_embeddings(network, pool.subset([0]), cache=EmbeddingCache(cache), progress=False,
                       stage=extraction_stage(features))
