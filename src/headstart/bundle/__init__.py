"""The model bundle: the one file a trained classifier lives in.

It holds the weights, the class names, the backbone and its input adaptation, the preprocessing,
the strategy and the head, so that ``predict`` needs nothing else. Written atomically.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any

import torch

from ..atomic import write_atomically
from ..errors import BundleError

FORMAT = "headstart-model"
FORMAT_VERSION = 1
BUNDLE_NAME = "model.pt"


def bundle_path(path: str | Path) -> Path:
    """A bundle file, or the ``--out`` folder that holds ``model.pt``."""
    path = Path(path)
    return path / BUNDLE_NAME if path.is_dir() else path


def save_bundle(payload: dict[str, Any], path: str | Path) -> Path:
    """Write ``payload`` (metadata + ``state_dict``) to ``path`` via a temporary file and rename."""
    target = bundle_path(path)
    document = {"format": FORMAT, "format_version": FORMAT_VERSION, **payload}
    return write_atomically(target, lambda stream: torch.save(document, stream), durable=True)


def load_bundle(path: str | Path) -> dict[str, Any]:
    """Read a bundle, checking that it is one and that this version of headstart can read it."""
    target = bundle_path(path)
    if not target.exists():
        raise BundleError("no such model file.", path=target,
                          fix="Pass the model.pt written by `headstart train --out DIR`, or that DIR.")
    try:
        document = torch.load(target, map_location="cpu", weights_only=True)
    except Exception as error:  # torch.load raises many types for foreign or truncated files
        raise BundleError(f"is not a headstart model, or it is damaged ({type(error).__name__}).", path=target,
                          fix="Pass a model.pt written by `headstart train`; retrain if the file was truncated.") \
            from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise BundleError("is a PyTorch file but not a headstart model (no headstart format marker).", path=target,
                          fix="Pass a model.pt written by `headstart train`; for raw backbone weights use "
                              "`--weights PATH` instead.")
    version = document.get("format_version")
    if version != FORMAT_VERSION:
        raise BundleError(f"has model format version {version}; this headstart reads version {FORMAT_VERSION}.",
                          path=target, fix="Load it with the headstart release that wrote it, or retrain.")
    return document


# The estimator that rebuilds each task's bundles (``from_bundle``), imported when a bundle of that task is loaded:
# each brings its modality's stack with it.
TASKS = {"image": ("headstart.classifier", "ImageClassifier"), "text": ("headstart.text.classifier", "TextClassifier")}


def load(path: str | Path) -> Any:
    """Load a saved model (the bundle file, or the ``--out`` folder holding ``model.pt``) as the fitted estimator
    of its task: an ``ImageClassifier`` or a ``TextClassifier``."""
    document = load_bundle(path)
    task = document.get("task", "image")  # bundles of the first release name no task: images
    if task not in TASKS:
        raise BundleError(f"holds a model for the {task!r} task, which this headstart does not know.",
                          path=bundle_path(path), fix="Load it with the headstart release that wrote it.")
    module, name = TASKS[task]
    return getattr(importlib.import_module(module), name).from_bundle(document)


__all__ = ["BUNDLE_NAME", "FORMAT", "FORMAT_VERSION", "TASKS", "bundle_path", "load", "load_bundle", "save_bundle"]
