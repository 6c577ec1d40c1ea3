"""Training a TransferNet on images with Lightning's Trainer."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import EarlyStopping, LearningRateMonitor, ModelCheckpoint
from torch.utils.data import DataLoader

from .. import distributed

from ..data.dataset import ImageDataset, ImageSet, class_weights, decode_side, make_transform
from ..model import TransferNet
from ..runtime import loader_workers
from ..strategies import Strategy, apply_strategy
from ..loggers import make_logger
from .module import TransferModule


@dataclass
class TrainingResult:
    epochs_run: int
    best_val_acc: float
    seconds: float
    images_per_second: float
    trainable_parameters: int


def default_epochs(num_train: int) -> int:
    """About 3,000 image presentations, between 5 and 30 epochs; early stopping ends sooner."""
    return int(min(30, max(5, round(3000 / max(1, num_train)))))


def precision_for(accelerator: str) -> str:
    """Mixed precision on GPU (bf16 where supported), full fp32 on CPU."""
    if accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available()):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def fit_network(net: TransferNet, strategy: Strategy, train: ImageSet, val: ImageSet, *, epochs: int | None = None,
                lr: float = 1e-3, batch_size: int = 32, use_class_weights: bool = False, seed: int = 0,
                accelerator: str = "auto", patience: int = 5, background: str = "white",
                time_budget: float | None = None, progress: bool = True, devices: int = 1, num_nodes: int = 1,
                distributed_strategy: str = "auto", logger: str | None = None,
                log_dir: str | Path | None = None) -> TrainingResult:
    """Train ``net`` under ``strategy``; the best validation-accuracy weights are restored into it (on every rank).

    ``time_budget`` (seconds) stops training once spent (Lightning's ``max_time``), keeping the best epoch so far.
    ``devices`` × ``num_nodes`` processes train together under ``distributed_strategy`` (``auto``/``ddp``/``fsdp``),
    each on its shard of the data (Lightning's distributed sampler), ``batch_size`` images per process and step;
    validation metrics are averaged over all of them, so every rank chooses the same best epoch. ``logger``
    (``csv``, ``tensorboard``, ``mlflow``) writes the curves into ``log_dir``.
    """
    L.seed_everything(seed, workers=True, verbose=False)
    groups = apply_strategy(net, strategy, lr)
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
    net.to(memory_format=torch.channels_last)
    module = TransferModule(net, groups, warmup_fraction=strategy.warmup_fraction,
                            class_weight=class_weights(train) if use_class_weights else None)
    net.train()  # Lightning keeps the modes it finds; this puts frozen BatchNorm layers in inference mode
    max_epochs = epochs or default_epochs(len(train))
    quiet_lightning()
    _remove_orphaned_checkpoints()
    with tempfile.TemporaryDirectory(prefix=f"{CHECKPOINT_PREFIX}{os.getpid()}-") as checkpoints:
        best = ModelCheckpoint(dirpath=checkpoints, monitor="val_acc", mode="max", save_top_k=1,
                               save_weights_only=True)
        stop = EarlyStopping(monitor="val_loss", mode="min", patience=patience)
        curves = make_logger(logger, log_dir)
        trainer = L.Trainer(max_epochs=max_epochs, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                            strategy=distributed.lightning_strategy(distributed_strategy, devices * num_nodes),
                            max_time=timedelta(seconds=time_budget) if time_budget else None,
                            precision=precision_for(accelerator), logger=curves,
                            callbacks=[best, stop] + ([LearningRateMonitor("epoch")] if curves else []),
                            enable_checkpointing=True, enable_progress_bar=progress, enable_model_summary=False,
                            num_sanity_val_steps=0, deterministic=False)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*small number of batches.*")
            warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")  # frozen BatchNorm, on purpose
            warnings.filterwarnings("ignore", ".*LeafSpec.*")
            warnings.filterwarnings("ignore", ".*logging interval.*")
            trainer.fit(module, train_loader, val_loader)
        seconds = time.perf_counter() - started
        # Only rank 0 wrote the checkpoint (in its own temporary folder, perhaps on another machine): it reads it
        # and sends the weights to the others, so every rank goes on with the same network.
        path = best.best_model_path if distributed.is_main() else ""
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"] if path else None
        state = distributed.broadcast(state)
        if state is not None:
            module.load_state_dict(state)
    net.cpu().eval()
    epochs_run = trainer.current_epoch
    return TrainingResult(epochs_run=epochs_run, best_val_acc=float(best.best_model_score or 0.0),
                          seconds=seconds, images_per_second=epochs_run * len(train) / max(seconds, 1e-9),
                          trainable_parameters=net.trainable_parameter_count())


CHECKPOINT_PREFIX = "headstart-ckpt-"


def _remove_orphaned_checkpoints() -> None:
    """Delete the checkpoint folders of trainings whose process is gone (killed with -9, so no cleanup ran);
    each folder is named after its process id."""
    for folder in Path(tempfile.gettempdir()).glob(f"{CHECKPOINT_PREFIX}*-*"):
        pid = folder.name[len(CHECKPOINT_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _alive(int(pid)):
            shutil.rmtree(folder, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process
        return True
    return True


def quiet_lightning() -> None:
    """Lightning's info lines (devices found, processes registered) off the console: warnings only."""
    for name in ("lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
                 "lightning.fabric.utilities.seed", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
