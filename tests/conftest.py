"""Shared fixtures: small real image sets made from the repo's Fashion-MNIST sample and skimage photos."""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if "HEADSTART_CACHE" not in os.environ:  # a cache of this run's own, removed when the run ends (each run made
    # one of ~300 MB and left it behind: a disk that fills up fails tests far from the cause)
    os.environ["HEADSTART_CACHE"] = tempfile.mkdtemp(prefix="headstart-test-cache-")
    atexit.register(shutil.rmtree, os.environ["HEADSTART_CACHE"], ignore_errors=True)

REPO = Path(__file__).resolve().parents[1]
FASHION = REPO / "examples" / "fashion-mnist-mini"


def copy_subset(source: Path, target: Path, classes: list[str], per_class: int) -> Path:
    for name in classes:
        (target / name).mkdir(parents=True, exist_ok=True)
        for path in sorted((source / name).glob("*.png"))[:per_class]:
            shutil.copy(path, target / name / path.name)
    return target


@pytest.fixture(scope="session")
def fashion_small(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Three easy Fashion-MNIST classes: 16 training and 8 test images each."""
    root = tmp_path_factory.mktemp("fashion")
    classes = ["trouser", "bag", "sneaker"]
    return (copy_subset(FASHION / "train", root / "train", classes, 16),
            copy_subset(FASHION / "test", root / "test", classes, 8))


@pytest.fixture(scope="session")
def lite0():
    from headstart.backbones import load_backbone

    return load_backbone("efficientnet_lite0")


@pytest.fixture(scope="session")
def frozen_model(fashion_small, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A frozen EfficientNet-Lite0 + logistic regression on ``fashion_small``, saved as model.pt."""
    from headstart import ImageClassifier

    clf = ImageClassifier(strategy="frozen", progress=False).fit(fashion_small[0])
    return clf.save(tmp_path_factory.mktemp("frozen-model") / "model.pt")


@pytest.fixture(scope="session")
def photos(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Real photos from scikit-image, saved as JPEG and PNG files."""
    import skimage.data
    from PIL import Image

    root = tmp_path_factory.mktemp("photos")
    written = []
    for name, suffix in (("astronaut", ".jpg"), ("chelsea", ".jpg"), ("coffee", ".png"), ("rocket", ".jpg")):
        written.append(root / f"{name}{suffix}")
        Image.fromarray(getattr(skimage.data, name)()).save(written[-1])
    return written
