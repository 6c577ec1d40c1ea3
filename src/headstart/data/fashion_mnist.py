"""Fashion-MNIST from Debian's ``dataset-fashion-mnist`` package, written out as class folders."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
from PIL import Image

from ..errors import DataError

DEBIAN_DIR = Path("/usr/share/datasets/fashion-mnist")
CLASSES = ("t-shirt_top", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag", "ankle_boot")


def read_fashion_mnist(split: str = "train", root: Path = DEBIAN_DIR) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 28, 28)`` uint8 and labels ``(n,)`` of the ``train`` or ``test`` split."""
    prefix = "train" if split == "train" else "t10k"
    images_file, labels_file = root / f"{prefix}-images-idx3-ubyte.gz", root / f"{prefix}-labels-idx1-ubyte.gz"
    if not images_file.exists():
        raise DataError("Fashion-MNIST is not installed.", path=images_file,
                        fix="Run `apt-get install -y dataset-fashion-mnist`.")
    with gzip.open(images_file) as handle:
        images = np.frombuffer(handle.read(), np.uint8, offset=16).reshape(-1, 28, 28)
    with gzip.open(labels_file) as handle:
        labels = np.frombuffer(handle.read(), np.uint8, offset=8).astype(np.int64)
    return images, labels


def export_fashion_mnist(out: str | Path, per_class: int, *, split: str = "train", seed: int = 0,
                         root: Path = DEBIAN_DIR) -> Path:
    """Write ``per_class`` random images of each class as ``out/<class>/<index>.png``."""
    images, labels = read_fashion_mnist(split, root)
    rng = np.random.default_rng(seed)
    out = Path(out)
    for label, name in enumerate(CLASSES):
        chosen = rng.choice(np.flatnonzero(labels == label), size=per_class, replace=False)
        (out / name).mkdir(parents=True, exist_ok=True)
        for index in sorted(chosen):
            Image.fromarray(images[index], "L").save(out / name / f"{split}-{index:05d}.png", optimize=True)
    return out
