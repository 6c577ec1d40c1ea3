"""``ImageClassifier``: the one-line top of headstart, scikit-learn style.

    clf = ImageClassifier(backbone="efficientnet_lite0", strategy="frozen").fit("data/")
    clf.predict(["a.jpg"]); clf.evaluate("test/"); clf.save("model.pt"); headstart.load("model.pt")
"""

from __future__ import annotations

import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader

from . import distributed as dist
from .backbones import Backbone, load_backbone
from .backbones.registry import resolve_spec
from .backbones.spec import Preprocessing
from .data.dataset import ImageDataset, ImageSet, check_images, decode_side, find_images, make_transform, \
    native_size, trained_image_size
from .data.duplicates import near_duplicate_warnings
from .data.images import is_image_file
from .errors import ConfigError, DataError
from .estimator import Classifier, Examples, head_probabilities
from .features import extract_embeddings
from .features.cache import open_cache
from .features.layers import block_layout
from .heads import build_head
from .model import MirrorAveraged, TransferNet
from .runtime import loader_workers, pick_device
from .strategies import AUTO, STRATEGIES, TABLE, Strategy, extraction_stage, resolve_strategy
from .loggers import LOGGERS, check_logger
from .validation import FRACTION, IMAGE_SIZE, NON_NEGATIVE, POSITIVE, POSITIVE_INT, SEED, Options, validate

Data = str | Path | ImageSet


class ImageClassifier(Classifier):
    """A transfer-learned image classifier.

    Args:
        backbone: registry name (see ``headstart backbones``).
        strategy: ``auto`` (the default: ``frozen`` and ``multilayer`` from one forward pass, and the fine-tuning
            :func:`headstart.advise` recommends when this run can afford it, each scored on the validation split and
            the best kept, the advised one on a tie; the evidence in ``advice_``), ``frozen`` (embed once, fit a
            head), ``multilayer`` (every block's pooled output, standardised, and a logistic-regression head),
            ``prototype``/``knn`` (no training), ``partial`` (freeze the first ``freeze`` stages), ``full`` or
            ``scratch``.
        freeze: for ``partial``: stages to freeze, a count or a fraction (default: half).
        head: for ``frozen``: ``logreg``, ``linear`` or ``mlp``.
        epochs: for trained strategies (default: chosen from the data size; early stopping).
        time_budget: for trained strategies: stop training after this many seconds, keeping the best epoch.
        lr: the head's peak learning rate; pretrained layers get a tenth of it.
        batch_size: images per step.
        image_size: input resolution (default: the backbone's for ``frozen``/``prototype``/``knn``; for
            strategies that train the network, twice the images' own side between 64 and the backbone's,
            so 28-px images train at 64 px rather than 224).
        in_chans: input channels (1 grayscale, 3 RGB, 4 RGBA).
        weights: local weights file for backbones without bundled weights.
        val_fraction: validation share when ``fit`` gets no ``val`` data.
        use_class_weights: weight the loss by inverse class frequency.
        strict: fail on unreadable images instead of skipping them.
        background: colour transparent images are composited onto.
        accelerator: ``auto``, ``cpu`` or ``gpu``.
        devices: processes per machine (one per GPU): training runs data-parallel, ``batch_size`` images per process,
            and the frozen family's embedding is split over them; without torchrun or srun, ``fit`` re-runs the
            script once per extra device (Lightning's launcher). Only rank 0 writes (``save``).
        num_nodes: machines (each started by torchrun or srun with ``devices`` processes).
        distributed: Lightning strategy with more than one process: ``auto`` (DDP), ``ddp`` or ``fsdp``.
        logger: training curves through Lightning's loggers into ``log_dir``: ``csv``, ``tensorboard``, ``mlflow``
            or ``None``.
        log_dir: folder for the curves (``headstart train`` passes ``--out``); none written without it.
        engine: embedding engine for the frozen family: ``auto`` (ONNX Runtime on CPU), ``onnx``,
            ``torch`` or ``compile``.
        precision: embedding precision, ``fp32`` or ``bf16``.
        tta: average each embedding with its horizontal mirror's (test-time augmentation).
        cache: embedding cache folder, ``True`` for the default (``headstart cache info``), or
            ``False`` to embed afresh every time.
        seed: seeds the split, initialisation and data order.
        progress: show progress bars.
    """

    task, unit, refit_on_split = "image", "images", True
    _parameter_constraints = {"epochs": [POSITIVE_INT, None], "time_budget": [NON_NEGATIVE, None], "lr": [POSITIVE],
                              "batch_size": [POSITIVE_INT], "image_size": [IMAGE_SIZE, None],
                              "in_chans": [POSITIVE_INT], "val_fraction": [FRACTION], "seed": [SEED],
                              "devices": [POSITIVE_INT], "num_nodes": [POSITIVE_INT],
                              "distributed": [Options(dist.DISTRIBUTED)], "logger": [Options(LOGGERS), None]}

    _fitted_attribute = "net_"

    def __init__(self, backbone: str = "efficientnet_lite0", strategy: str = "auto", *,
                 freeze: float | int | str | None = None, head: str = "logreg", epochs: int | None = None,
                 time_budget: float | None = None, lr: float = 1e-3, batch_size: int = 32,
                 image_size: int | None = None, in_chans: int = 3,
                 weights: str | Path | None = None, val_fraction: float = 0.2, use_class_weights: bool = False,
                 strict: bool = False, background: str = "white", accelerator: str = "auto",
                 devices: int = 1, num_nodes: int = 1, distributed: str = "auto", logger: str | None = "csv",
                 log_dir: str | Path | None = None,
                 engine: str = "auto", precision: str = "fp32", tta: bool = False, cache: bool | str | Path = True,
                 seed: int = 0, progress: bool = True):
        self.backbone = backbone
        self.strategy = strategy
        self.freeze = freeze
        self.head = head
        self.epochs = epochs
        self.time_budget = time_budget
        self.lr = lr
        self.batch_size = batch_size
        self.image_size = image_size
        self.in_chans = in_chans
        self.weights = weights
        self.val_fraction = val_fraction
        self.use_class_weights = use_class_weights
        self.strict = strict
        self.background = background
        self.accelerator = accelerator
        self.devices = devices
        self.num_nodes = num_nodes
        self.distributed = distributed
        self.logger = logger
        self.log_dir = log_dir
        self.engine = engine
        self.precision = precision
        self.tta = tta
        self.cache = cache
        self.seed = seed
        self.progress = progress

    # ----------------------------------------------------------------- fitting
    def _check_config(self) -> None:
        validate(vars(self), self._parameter_constraints)
        if self.strategy not in (AUTO, *STRATEGIES):
            raise ConfigError(f"unknown strategy {self.strategy!r}.",
                              fix=f"Choose one of {', '.join((AUTO, *STRATEGIES))}.")
        self._check_head(self.strategy, self.head)
        if self.strategy == "auto" and self.freeze is not None:
            raise ConfigError("--freeze applies to the partial strategy; auto chooses how many stages to freeze.",
                              fix=f"Pass --strategy partial --freeze {self.freeze}, or drop --freeze.")
        check_logger(self.logger)
        dist.join(accelerator=self.accelerator, devices=self.devices, num_nodes=self.num_nodes,
                  distributed=self.distributed)

    def _load(self, data: Data, classes: Sequence[str] | None = None) -> ImageSet:
        """Labelled images (a class-folder root, a CSV, or an :class:`ImageSet`), the unreadable ones skipped."""
        images = data if isinstance(data, ImageSet) else find_images(data, classes=classes)
        cache = open_cache(self.cache)
        known = cache.embedded_before(images.paths) if cache is not None else None
        return check_images(images, in_chans=self.in_chans, strict=self.strict, known_readable=known)

    def _keep_load_report(self, dataset: ImageSet) -> dict[str, Any]:
        self.skipped_ = dataset.skipped
        return {}

    def _fit_strategy(self, train: ImageSet, val: ImageSet, *, refit: bool) -> dict[str, Any]:
        return self._keep(*self._candidate(self.strategy, self.freeze, train, val, refit=refit))

    def _keep(self, net: TransferNet, strategy: Strategy, details: dict[str, Any]) -> dict[str, Any]:
        """Keep ``net``, fitted with ``strategy``; returns its training details."""
        self.net_, self.strategy_ = net.eval(), strategy
        self.head_, self.head_options_ = details.pop("kind"), details.pop("options", {})
        return {**details, "trainable_parameters": net.trainable_parameter_count()}

    def _candidate(self, name: str, freeze: float | int | str | None, train: ImageSet,
                   val_set: ImageSet, *, refit: bool) -> tuple[TransferNet, Strategy, dict[str, Any]]:
        """The network fitted with strategy ``name`` (not kept), the strategy and its training details."""
        image_size = self.image_size
        if image_size is None and TABLE[name].input_size == "from_images":
            image_size = trained_image_size(native_size(train), resolve_spec(self.backbone).preprocessing.image_size)
        backbone = load_backbone(self.backbone, pretrained=TABLE[name].pretrained, in_chans=self.in_chans,
                                 image_size=image_size, weights=self.weights)
        strategy = resolve_strategy(name, len(backbone.stages), freeze)
        if strategy.on_embeddings:
            features = [self.embed(backbone, images, strategy.features) for images in (train, val_set)]
            self._check_near_duplicates(backbone, train, val_set, features, strategy.features)
            net, details = self._fit_on_embeddings(backbone, strategy, train, val_set, features, refit=refit)
            return net, strategy, details
        from .training import default_epochs, fit_network  # Lightning loads in seconds: only when training

        net = TransferNet(backbone, build_head("linear", backbone.num_features, len(train.classes)))
        result = fit_network(net, strategy, train, val_set, epochs=self.epochs or default_epochs(len(train)),
                             lr=self.lr, batch_size=self.batch_size, use_class_weights=self.use_class_weights,
                             seed=self.seed, accelerator=self.accelerator, background=self.background,
                             time_budget=self.time_budget, progress=self.progress and dist.is_main(),
                             devices=self.devices, num_nodes=self.num_nodes, distributed_strategy=self.distributed,
                             logger=self.logger, log_dir=self.log_dir, cache=open_cache(self.cache))
        return net, strategy, {"kind": "linear", "epochs_run": result.epochs_run, "val_accuracy": result.best_val_acc,
                               "images_per_second": result.images_per_second,
                               **({"cached_prefix": result.cached_prefix} if result.cached_prefix else {})}

    def _fit_auto(self, train: ImageSet, val_set: ImageSet, *, refit: bool) -> dict[str, Any]:
        """``auto``: measure the data (:func:`headstart.advise`), then fit the candidates cheapest first and keep
        the best. ``frozen`` and ``multilayer`` come from one forward pass over the images; between them the lower
        cross-validated log loss of the head's own C search decides (every training image held out once, where a
        validation split of small data is a few images), else the validation accuracy. The advised fine-tuning
        joins when this run can afford it (a GPU, or ``epochs``/``time_budget`` given) and is kept if it scores
        higher on the validation split (on a tie the advised one, else the cheaper). Each candidate's scores and
        seconds go into ``advice_``."""
        from .analysis import advise  # scikit-learn and the probes load only when auto measures the data
        can_fine_tune = self.epochs is not None or self.time_budget is not None or \
            pick_device(self.accelerator).type != "cpu"
        # Measured on rank 0 and shared, so every rank fits the same candidates (and joins the same training).
        advice = dist.broadcast(advise(train, backbone=self.backbone, in_chans=self.in_chans, seed=self.seed,
                                       weights=self.weights, can_fine_tune=can_fine_tune, cache=open_cache(self.cache))
                                if dist.is_main() else None)
        self.advice_ = advice.to_dict()
        backbone = load_backbone(self.backbone, in_chans=self.in_chans, image_size=self.image_size,
                                 weights=self.weights)
        started = time.perf_counter()
        blocks = [self.embed(backbone, images, "blocks") for images in (train, val_set)]
        self.advice_["embedding_seconds"] = time.perf_counter() - started
        self._check_near_duplicates(backbone, train, val_set, blocks, "blocks")
        candidates, embedded = [], {}
        for name in ("frozen", "multilayer"):
            started = time.perf_counter()
            strategy = resolve_strategy(name, len(backbone.stages))
            features = blocks if name == "multilayer" else [_pooled(backbone, f, "blocks") for f in blocks]
            net, details = self._fit_on_embeddings(backbone, strategy, train, val_set, features, refit=False)
            embedded[name] = features
            candidates.append((net, strategy, details, time.perf_counter() - started))
        self.advice_["candidates"] = [_scores(*candidate[1:]) for candidate in candidates]
        losses = [details.get("cv_log_loss") for _, _, details, _ in candidates]
        if None in losses:  # a head without a C search (--head linear/mlp for frozen)
            candidates = [max(candidates, key=lambda c: (c[2]["val_accuracy"], c[1].name == advice.strategy))]
        else:
            candidates = [candidates[int(np.argmin(losses))]]
        if advice.strategy in ("partial", "full"):
            started = time.perf_counter()
            candidates.append((*self._candidate(advice.strategy, advice.freeze, train, val_set, refit=refit),
                               time.perf_counter() - started))
            self.advice_["candidates"].append(_scores(*candidates[-1][1:]))
        # On a tie the advised candidate is kept (on small data one validation image is several points, and the
        # advice carries what the data size and its distance from the source say), else the cheaper one.
        best = dist.broadcast(max(range(len(candidates)), key=lambda i: (
            candidates[i][2]["val_accuracy"], candidates[i][1].name == advice.strategy, -i)))
        self.advice_["chosen"] = candidates[best][1].name
        net, strategy, details, _ = candidates[best]
        if refit and strategy.name in embedded:  # only the kept head learns from the validation split too
            net.head = self._refit_head(net.head, details, *self._examples(embedded[strategy.name], train, val_set))
        return self._keep(net, strategy, details)

    def embed(self, backbone: Backbone, images: ImageSet, features: str = "pooled") -> np.ndarray:
        """Embeddings of ``images`` with this classifier's engine, precision, TTA and cache: the backbone's pooled
        output, or with ``features="blocks"`` every block's (see :class:`~headstart.features.layers.BlockFeatures`)."""
        return extract_embeddings(backbone, images, batch_size=max(self.batch_size, 64), engine=self.engine,
                                  precision=self.precision, tta=self.tta, cache=open_cache(self.cache),
                                  background=self.background, progress=self.progress and dist.is_main(),
                                  stage=extraction_stage(features),
                                  distributed=dist.world_size() > 1)

    def _check_near_duplicates(self, backbone: Backbone, train: ImageSet, val: ImageSet,
                               features: list[np.ndarray], kind: str) -> None:
        """Add a warning for near copies among the training images, from their embeddings (``features`` of
        ``train`` and ``val``, of the ``kind`` the strategy reads)."""
        images = replace(train, paths=train.paths + val.paths, labels=train.labels + val.labels)
        self.data_warnings_ += near_duplicate_warnings(images, np.concatenate([_pooled(backbone, f, kind)
                                                                               for f in features]),
                                                       native_side=native_size(images))

    def _fit_on_embeddings(self, backbone: Backbone, strategy: Strategy, train: ImageSet, val: ImageSet,
                           features: list[np.ndarray], *, refit: bool) -> tuple[TransferNet, dict[str, Any]]:
        """The network of ``backbone`` (frozen) and the head fitted on ``features``, the two sets' embeddings, as
        :meth:`~headstart.estimator.Classifier._fit_head` fits it (with ``refit``, again on both)."""
        kind = self._head_kind(strategy.name)
        if strategy.name == "multilayer" and kind != "logreg":
            raise ConfigError(f"the multilayer strategy fits a logreg head on standardised features, not {kind!r}.",
                              fix="Drop --head, or pass --strategy frozen for a linear or mlp head.")
        options = {"standardize": True} if strategy.features == "blocks" else {}
        head, details = self._fit_head(kind, *self._examples(features, train, val), refit=refit, **options)
        for parameter in backbone.parameters():
            parameter.requires_grad_(False)
        return TransferNet(backbone, head, strategy.features), details

    def _examples(self, features: list[np.ndarray], train: ImageSet, val: ImageSet) -> tuple[Examples, Examples]:
        """``train``'s and ``val``'s embeddings (``features``) with their label ids."""
        return (features[0], self._label_ids(train)), (features[1], self._label_ids(val))

    def _label_ids(self, data: ImageSet) -> np.ndarray:
        return np.asarray(data.labels)

    # -------------------------------------------------------------- predicting
    def _inputs(self, images: Sequence[str | Path] | ImageSet) -> ImageSet:
        """Image files (or an :class:`ImageSet`) as an :class:`ImageSet`."""
        return images if isinstance(images, ImageSet) else ImageSet(
            [Path(p) for p in images], [0] * len(images), self.classes_, "predict")

    def _predict(self, images: ImageSet) -> tuple[np.ndarray, dict[str, int]]:
        if self.strategy_.on_embeddings:  # the backbone is fixed: reuse cached embeddings
            features = self.embed(self.net_.backbone, images, self.strategy_.features)
            return head_probabilities(self.net_.head, features), {}
        preprocessing = self.net_.backbone.preprocessing
        dataset = ImageDataset(images, make_transform(preprocessing, train=False), self.net_.backbone.in_chans,
                               self.background, min_side=decode_side(preprocessing))
        loader = DataLoader(dataset, batch_size=64, num_workers=loader_workers() if len(dataset) > 64 else 0)
        network = MirrorAveraged(self.net_) if self.tta else self.net_
        network.eval()
        with torch.inference_mode():
            return np.concatenate([network(batch.contiguous(memory_format=torch.channels_last)).softmax(1).numpy()
                                   for batch, _ in loader]), {}

    def _describe_load(self, dataset: ImageSet) -> dict[str, Any]:
        return {"skipped": [{"file": f, "reason": r} for f, r in dataset.skipped]}

    # ------------------------------------------------------------- persisting
    def _bundle(self) -> dict[str, Any]:
        backbone = self.net_.backbone
        return {"backbone": {"name": backbone.name, "in_chans": backbone.in_chans,
                             "image_size": backbone.preprocessing.image_size,
                             "weights_source": backbone.weights_source, "adaptation": backbone.adaptation},
                "preprocessing": backbone.preprocessing.to_dict(), "strategy": self.strategy_.to_dict(),
                "background": self.background, "tta": self.tta, "state_dict": self.net_.state_dict()}

    @classmethod
    def from_bundle(cls, document: dict[str, Any]) -> "ImageClassifier":
        """Rebuild a fitted classifier from a loaded bundle (no pretrained weights needed)."""
        spec = document["backbone"]
        backbone = load_backbone(spec["name"], pretrained=False, in_chans=spec["in_chans"],
                                 image_size=spec["image_size"])
        # The input rule the model was trained with, not today's registry entry for the architecture.
        backbone.preprocessing = Preprocessing.from_dict(document["preprocessing"])
        head_spec = document["head"]
        strategy = Strategy(**document["strategy"])
        num_features = document["state_dict"]["head.linear.weight"].shape[1] if strategy.features == "blocks" \
            else backbone.num_features
        head = build_head(head_spec["kind"], num_features, len(document["classes"]), **head_spec["options"])
        net = TransferNet(backbone, head, strategy.features)
        net.load_state_dict(document["state_dict"])
        clf = cls(backbone=spec["name"], strategy=strategy.name, head=head_spec["kind"],
                  image_size=spec["image_size"], in_chans=spec["in_chans"], background=document["background"],
                  tta=document["tta"])
        clf._restore(document)
        clf.net_, clf.strategy_, clf.skipped_ = net.eval(), strategy, []
        return clf


def _pooled(backbone: Backbone, features: np.ndarray, kind: str) -> np.ndarray:
    """The backbone's pooled output within embeddings of ``kind`` (``pooled``, or every block's: ``blocks``)."""
    return features[:, block_layout(backbone)[-1].start:] if kind == "blocks" else features


def _scores(strategy: Strategy, details: dict[str, Any], seconds: float) -> dict[str, Any]:
    """What ``auto`` records of one candidate."""
    return {"strategy": strategy.name, "val_accuracy": details["val_accuracy"],
            "cv_log_loss": details.get("cv_log_loss"), "seconds": seconds}


def list_images(inputs: Sequence[str | Path]) -> list[Path]:
    """Image files named directly or found (recursively) in folders, in a stable order."""
    found: list[Path] = []
    for item in map(Path, inputs):
        if item.is_dir():
            found += sorted(p for p in item.rglob("*") if p.is_file() and is_image_file(p))
        elif item.is_file():
            found.append(item)
        else:
            raise DataError("does not exist.", path=item, fix="Pass image files or folders of images.")
    if not found:
        raise DataError("no images found.", path=", ".join(map(str, inputs)), fix="Pass image files or folders.")
    return found
