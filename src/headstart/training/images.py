"""Training a TransferNet on images with Lightning's Trainer."""

from __future__ import annotations

import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning as L
import torch
from torch.utils.data import DataLoader

from ..data.dataset import ImageDataset, ImageSet, class_weights, decode_side, make_transform
from ..features.cache import EmbeddingCache
from ..model import TransferNet
from ..runtime import loader_workers
from ..strategies import Strategy, apply_strategy
from .module import TransferModule
from .prefix import CachedViews, prefix_activations, skipping, split_prefix, start_from_probe, views_for
from .trainer import run_trainer


@dataclass
class TrainingResult:
    epochs_run: int
    best_val_acc: float
    seconds: float
    images_per_second: float
    trainable_parameters: int
    cached_prefix: dict[str, Any] | None = None  # where the frozen prefix was cut, its views and their seconds


def default_epochs(num_train: int) -> int:
    """About 3,000 image presentations, between 5 and 30 epochs; early stopping ends sooner."""
    return int(min(30, max(5, round(3000 / max(1, num_train)))))


def fit_network(net: TransferNet, strategy: Strategy, train: ImageSet, val: ImageSet, *, epochs: int | None = None,
                lr: float = 1e-3, batch_size: int = 32, use_class_weights: bool = False, seed: int = 0,
                accelerator: str = "auto", patience: int = 5, background: str = "white",
                time_budget: float | None = None, progress: bool = True, devices: int = 1, num_nodes: int = 1,
                distributed_strategy: str = "auto", logger: str | None = None,
                log_dir: str | Path | None = None, cache: EmbeddingCache | None = None,
                cache_prefix: bool = True) -> TrainingResult:
    """Train ``net`` under ``strategy``; the best validation-accuracy weights are restored into it (on every rank).

    With frozen stages (``partial``) and ``cache_prefix``, their output is computed once per image and augmented
    view (kept in ``cache``), the head starts from the linear probe, and each epoch runs only the trainable stages
    (:mod:`headstart.training.prefix`); otherwise every step runs the whole network on freshly augmented images.
    ``devices`` × ``num_nodes`` processes each train on their shard of the data (Lightning's distributed sampler),
    ``batch_size`` images per process and step; validation metrics are averaged over all of them, so every rank
    chooses the same best epoch. The other settings go to :func:`~headstart.training.trainer.run_trainer`.
    """
    L.seed_everything(seed, workers=True, verbose=False)
    groups = apply_strategy(net, strategy, lr)
    weights = class_weights(train) if use_class_weights else None
    split = split_prefix(net.backbone, strategy.frozen_stages) if cache_prefix else None
    cached_prefix = None
    with ExitStack() as inside:
        if split is None:
            train_loader, val_loader = _image_loaders(net, train, val, batch_size, background, seed)
        else:
            started = time.perf_counter()
            views = views_for(len(train), split)
            train_views, val_views = (prefix_activations(net.backbone, split, images, views=count, seed=seed,
                                                         cache=cache, background=background, progress=progress)
                                      for images, count in ((train, views), (val, 1)))
            inside.enter_context(skipping(net.backbone, split))
            start_from_probe(net, train_views[:, 0], train.labels, seed=seed,
                             class_weight=None if weights is None else weights.numpy())
            cached_prefix = {"cut": split.cut, "views": views, "shape": list(split.shape),
                             "seconds": time.perf_counter() - started}
            train_loader = DataLoader(CachedViews(train_views, train.labels, train=True), batch_size=batch_size,
                                      shuffle=True, drop_last=len(train) > batch_size,
                                      generator=torch.Generator().manual_seed(seed))
            val_loader = DataLoader(CachedViews(val_views, val.labels, train=False), batch_size=batch_size * 2)
        net.to(memory_format=torch.channels_last)
        module = TransferModule(net, groups, warmup_fraction=strategy.warmup_fraction, class_weight=weights)
        net.train()  # Lightning keeps the modes it finds; this puts frozen BatchNorm layers in inference mode
        run = run_trainer(module, train_loader, val_loader, max_epochs=epochs or default_epochs(len(train)),
                          accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                          distributed_strategy=distributed_strategy, patience=patience, time_budget=time_budget,
                          progress=progress, logger=logger, log_dir=log_dir)
    net.cpu().eval()
    return TrainingResult(epochs_run=run.epochs_run, best_val_acc=run.best_val_acc or 0.0, seconds=run.seconds,
                          images_per_second=run.epochs_run * len(train) / max(run.seconds, 1e-9),
                          trainable_parameters=net.trainable_parameter_count(), cached_prefix=cached_prefix)


def _image_loaders(net: TransferNet, train: ImageSet, val: ImageSet, batch_size: int, background: str,
                   seed: int) -> tuple[DataLoader, DataLoader]:
    """Decoding loaders: training images freshly augmented each epoch, validation images evaluation-cropped."""
    preprocessing = net.backbone.preprocessing
    in_chans = net.backbone.in_chans
    workers = loader_workers()
    side = decode_side(preprocessing)
    train_loader = DataLoader(
        ImageDataset(train, make_transform(preprocessing, train=True), in_chans, background, min_side=side),
        batch_size=batch_size, shuffle=True, drop_last=len(train) > batch_size, num_workers=workers,
        persistent_workers=True, generator=torch.Generator().manual_seed(seed))
    val_loader = DataLoader(ImageDataset(val, make_transform(preprocessing, train=False), in_chans, background,
                                         min_side=side),
                            batch_size=batch_size * 2, num_workers=workers, persistent_workers=True)
    return train_loader, val_loader
