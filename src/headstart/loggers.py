"""Training curves through Lightning's loggers: CSV by default, TensorBoard or MLflow when installed."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

from .errors import ConfigError

LOGGERS = ("csv", "tensorboard", "mlflow")
_PACKAGES = {"tensorboard": ("tensorboard", "tensorboardX"), "mlflow": ("mlflow",)}


def check_logger(kind: str | None) -> None:
    """Refuse an unknown logger, or one whose package is not installed, before any work."""
    if kind is None:
        return
    if kind not in LOGGERS:
        raise ConfigError(f"unknown logger {kind!r}.", fix=f"Choose one of {', '.join(LOGGERS)}.")
    packages = _PACKAGES.get(kind, ())
    if packages and not any(importlib.util.find_spec(name) for name in packages):
        raise ConfigError(f"the {kind} logger needs the {packages[0]!r} package, which is not installed.",
                          fix=f"pip install {packages[0]}, or pass --logger csv (no extra package).")


def make_logger(kind: str | None, folder: str | Path | None) -> Any:
    """The Lightning logger writing ``kind`` curves under ``folder`` (``logs/``, ``tensorboard/`` or ``mlruns/``);
    ``False`` (no logging) without a kind or a folder. Lightning's loggers write on rank 0 only."""
    if kind is None or folder is None:
        return False
    check_logger(kind)
    folder = Path(folder)
    if kind == "csv":
        from lightning.pytorch.loggers import CSVLogger

        return CSVLogger(folder, name="logs", version="")
    if kind == "tensorboard":
        from lightning.pytorch.loggers import TensorBoardLogger

        return TensorBoardLogger(folder, name="tensorboard", version="")
    from lightning.pytorch.loggers import MLFlowLogger

    return MLFlowLogger(experiment_name="headstart", tracking_uri=(folder / "mlruns").absolute().as_uri())
