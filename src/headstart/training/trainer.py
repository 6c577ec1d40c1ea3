"""Lightning's Trainer, built and run one way for every modality: devices, precision, loggers, time budget,
early stopping and the best epoch's weights restored from a temporary checkpoint."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import lightning as L
import torch
from lightning.pytorch.callbacks import Callback, EarlyStopping, LearningRateMonitor, ModelCheckpoint
from torch.utils.data import DataLoader

from .. import distributed
from ..loggers import make_logger

CHECKPOINT_PREFIX = "headstart-ckpt-"


@dataclass
class TrainerRun:
    epochs_run: int
    best_val_acc: float | None  # None without validation
    seconds: float


def on_gpu(accelerator: str) -> bool:
    """Whether ``accelerator`` (``auto``, ``cpu``, ``gpu``) trains on a GPU here."""
    return accelerator == "gpu" or (accelerator == "auto" and torch.cuda.is_available())


def precision_for(accelerator: str) -> str:
    """Mixed precision on GPU (bf16 where supported), full fp32 on CPU."""
    if on_gpu(accelerator):
        return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
    return "32-true"


def run_trainer(module: L.LightningModule, train: DataLoader, val: DataLoader | None, *, max_epochs: int,
                accelerator: str = "auto", devices: int = 1, num_nodes: int = 1, distributed_strategy: str = "auto",
                patience: int = 5, time_budget: float | None = None, progress: bool = True,
                logger: str | None = None, log_dir: str | Path | None = None) -> TrainerRun:
    """Fit ``module`` on ``train`` for ``max_epochs`` at most.

    With ``val``: early stopping once ``val_loss`` has not improved for ``patience`` epochs, and the weights of the
    best ``val_acc`` epoch restored into ``module`` on every rank; without, every epoch runs and the last weights
    stay. ``time_budget`` (seconds) stops training once spent (Lightning's ``max_time``). ``devices`` × ``num_nodes``
    processes train together under ``distributed_strategy`` (``auto``/``ddp``/``fsdp``). ``logger`` (``csv``,
    ``tensorboard``, ``mlflow``) writes the curves into ``log_dir``.
    """
    _remove_orphaned_checkpoints()
    with quiet_lightning(), tempfile.TemporaryDirectory(prefix=f"{CHECKPOINT_PREFIX}{os.getpid()}-") as checkpoints:
        best = None if val is None else ModelCheckpoint(dirpath=checkpoints, monitor="val_acc", mode="max",
                                                        save_top_k=1, save_weights_only=True)
        callbacks: list[Callback] = [] if best is None else [best, EarlyStopping(monitor="val_loss", mode="min",
                                                                                 patience=patience)]
        curves = make_logger(logger, log_dir)
        trainer = L.Trainer(max_epochs=max_epochs, accelerator=accelerator, devices=devices, num_nodes=num_nodes,
                            strategy=distributed.lightning_strategy(distributed_strategy, devices * num_nodes),
                            max_time=timedelta(seconds=time_budget) if time_budget else None,
                            precision=precision_for(accelerator), logger=curves,
                            callbacks=callbacks + ([LearningRateMonitor("epoch")] if curves else []),
                            enable_checkpointing=best is not None, enable_progress_bar=progress,
                            enable_model_summary=False, num_sanity_val_steps=0, deterministic=False)
        started = time.perf_counter()
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*does not have many workers.*")
            warnings.filterwarnings("ignore", ".*small number of batches.*")
            warnings.filterwarnings("ignore", ".*module\\(s\\) in eval mode.*")  # frozen BatchNorm, on purpose
            warnings.filterwarnings("ignore", ".*LeafSpec.*")
            warnings.filterwarnings("ignore", ".*logging interval.*")
            warnings.filterwarnings("ignore", ".*no `val_dataloader`.*")  # training without validation, on purpose
            trainer.fit(module, train, val)
        seconds = time.perf_counter() - started
        if best is not None:
            _restore(module, best)
    return TrainerRun(epochs_run=trainer.current_epoch, seconds=seconds,
                      best_val_acc=None if best is None else float(best.best_model_score or 0.0))


def _restore(module: L.LightningModule, best: ModelCheckpoint) -> None:
    """Load the best checkpoint into ``module`` on every rank. Only rank 0 wrote it (in its own temporary folder,
    perhaps on another machine): it reads it and sends the weights to the others."""
    path = best.best_model_path if distributed.is_main() else ""
    state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"] if path else None
    state = distributed.broadcast(state)
    if state is not None:
        module.load_state_dict(state)


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


@contextmanager
def quiet_lightning() -> Iterator[None]:
    """Lightning's info lines (devices found, processes registered) off the console while inside: warnings only;
    the levels the caller had are restored on the way out."""
    loggers = [logging.getLogger(name) for name in (
        "lightning.pytorch.utilities.rank_zero", "lightning.pytorch.accelerators.cuda",
        "lightning.fabric.utilities.seed", "lightning.pytorch", "lightning.fabric")]
    levels = [logger.level for logger in loggers]
    for logger in loggers:
        logger.setLevel(logging.WARNING)
    try:
        yield
    finally:
        for logger, level in zip(loggers, levels):
            logger.setLevel(level)
