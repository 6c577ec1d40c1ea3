"""Images in a compare: ``ImageClassifier`` runs, input sizes, the exported inference graph and the backbone's
``headstart inspect`` pictures."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Iterable

from .. import distributed as dist
from ..backbones import load_backbone
from ..backbones.registry import resolve_spec
from ..classifier import ImageClassifier
from ..data.dataset import ImageSet, check_images, find_images, native_size, trained_image_size
from ..features import EmbeddingCache, extract_embeddings
from ..strategies import EMBEDDING_STRATEGIES, STRATEGIES, extraction_stage
from .grid import COMPARED_STRATEGIES, SPLIT_SEED, Size, baseline_first, check_test_classes, split_test, \
    validation_subset
from .memory import PeakMemory
from .modality import Loaded, Modality, data_warnings
from .results import fingerprint, run_record

__all__ = ["DEFAULT_SIZES", "DEFAULT_STRATEGIES", "Images"]

DEFAULT_STRATEGIES = baseline_first(STRATEGIES)
DEFAULT_SIZES: tuple[Size, ...] = (5, 10, 25, 50, 100, "all")


@dataclass(frozen=True)
class Images(Modality):
    """Images in a compare.

    Args:
        image_size: input side for every strategy; ``None``: the backbone's for embedding strategies and
            :func:`trained_image_size` for trained ones.
        time_budget: seconds of training per run of a trained strategy; ``None`` for no limit.
        placement: accelerator, devices, num_nodes and distributed, as for :class:`ImageClassifier`.
    """

    image_size: int | None = None
    time_budget: float | None = None
    placement: dict[str, Any] = field(default_factory=dict)

    task: ClassVar[str] = "image"
    unit: ClassVar[str] = "images"
    default_backbone: ClassVar[str] = "efficientnet_lite0"
    strategies: ClassVar[tuple[str, ...]] = COMPARED_STRATEGIES
    default_strategies: ClassVar[tuple[str, ...]] = DEFAULT_STRATEGIES
    default_sizes: ClassVar[tuple[Size, ...]] = DEFAULT_SIZES

    def load(self, data: str | Path, test: str | Path | None, test_fraction: float) -> Loaded:
        images = check_images(find_images(data))
        if test is None:
            pool, test_set = split_test(images, test_fraction, SPLIT_SEED)
        else:
            pool, test_set = images, check_images(find_images(test, classes=images.classes))
            check_test_classes(test_set)
        native = native_size(pool)
        backbone_size = resolve_spec(self.backbone).preprocessing.image_size
        trained_size = self.image_size or trained_image_size(native, backbone_size)
        return Loaded(pool, test_set, fingerprint(_entries(images, *([test_set] if test is not None else []))),
                      settings={"embedding_image_size": self.image_size, "trained_image_size": trained_size,
                                "time_budget": self.time_budget},
                      data={"native_size": native}, skipped=len(images.skipped) + len(test_set.skipped),
                      warnings=data_warnings(images, pool, test_set))

    def fit_and_score(self, strategy: str, subset: ImageSet, loaded: Loaded, *, seed: int,
                      caches: Path) -> dict[str, Any]:
        """As the base method; ``fit`` gets a cache emptied of embeddings but not of the exported inference graph
        (:meth:`before_runs`). ``auto`` runs as ``headstart train DATA`` runs it: the grid's training budget is not
        the user's, and the input size (unless given) is the one for the strategy it is advised."""
        EmbeddingCache(caches / "fit").clear(keep_graphs=True)
        dist.barrier()  # no rank reads the emptied cache before every rank has emptied it
        epochs, time_budget = (None, None) if strategy == "auto" else (self.epochs, self.time_budget)
        embeds = strategy in (*EMBEDDING_STRATEGIES, "auto")
        clf = ImageClassifier(self.backbone, strategy, epochs=epochs, time_budget=time_budget, seed=seed,
                              image_size=self.image_size if embeds else loaded.settings["trained_image_size"],
                              cache=caches / "fit", progress=False, logger=None, **self.placement)
        with PeakMemory() as memory:
            started = time.perf_counter()
            clf.fit(subset, val=validation_subset(subset, trained=strategy not in EMBEDDING_STRATEGIES))
            seconds = time.perf_counter() - started
        clf.cache = caches / "test"
        report = clf.evaluate(loaded.test)
        training = clf.training_
        epochs_run = training.get("epochs_run")
        presented = training["train_images"] * (epochs_run or 1)
        return run_record(
            report, unit=self.unit, seconds=seconds, train_seconds=training["seconds"],
            per_second=training.get("images_per_second") or presented / max(training["seconds"], 1e-9),
            epochs_run=epochs_run, trainable_parameters=training["trainable_parameters"], memory=memory,
            counts=(len(subset), training["train_images"], training["val_images"], report["n"]),
            subset_key="\n".join(sorted(map(str, subset.paths))),
            image_size=clf.net_.backbone.preprocessing.image_size,
            **({"advised_strategy": clf.advice_["strategy"], "advised_freeze": clf.advice_["freeze"],
                "chosen_strategy": clf.strategy_.name} if strategy == "auto" else {}))

    def before_runs(self, strategies: set[str], loaded: Loaded, caches: Path) -> None:
        """Embed one image into ``caches/fit`` for each kind of features the embedding strategies read, so the
        inference graph they run is exported before the first timed fit rather than inside it."""
        for features, wanted in (("pooled", (*EMBEDDING_STRATEGIES, "auto")), ("blocks", ("multilayer", "auto"))):
            if strategies & set(wanted):
                network = load_backbone(self.backbone, image_size=self.image_size)
                extract_embeddings(network, loaded.pool.subset([0]), cache=EmbeddingCache(caches / "fit"),
                                   progress=False, stage=extraction_stage(features))

    def after_runs(self, data: str | Path, loaded: Loaded, out: Path) -> None:
        """``headstart inspect`` pictures of the pretrained backbone on this data in ``out/inspect``: its
        first-layer filters, feature maps of one training image, and per-stage probe accuracy and BatchNorm shift."""
        from ..analysis.inspect import inspect

        if not (out / "inspect" / "stage_probes.png").exists():
            inspect(self.backbone, out=out / "inspect", image=loaded.pool.paths[0], data=data)


def _entries(*image_sets: ImageSet) -> Iterable[bytes]:
    """What identifies each image for the fingerprint: its path, class, size and modification time."""
    for images in image_sets:
        for path, label in sorted(zip(images.paths, images.labels)):
            stat = Path(path).stat()
            yield f"{path}\0{images.classes[label]}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode()
