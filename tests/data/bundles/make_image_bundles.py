"""Write the image bundle fixtures of this release and the probabilities they give, for ``tests/test_bundle.py``.

A bundle of the default EfficientNet-Lite0 holds its whole 14 MB network, so the fixtures use timm's
``test_efficientnet`` instead (an EfficientNet of 0.1 M parameters in six stages), with random weights from a fixed
seed passed as a local weights file: a bundle stores every weight it predicts with, so the fixtures are as complete
as a Lite0 one, at 0.4 MB each. Each one is fitted on 8 Fashion-MNIST images of each of three classes from
``examples/fashion-mnist-mini/train`` at 64 px, saved, loaded back, and asked for the class probabilities of six
fixed test images; those go beside it as ``<fixture>.json``. The test loads every ``image-*.pt`` kept here with the
code of its day and asserts the same probabilities: what a release wrote, later releases read and run the same way.

Written by headstart 0.1.0 (bundle format version 1) with

    PYTHONPATH=src HF_HUB_OFFLINE=1 python tests/data/bundles/make_image_bundles.py

Run it again when the bundle format changes, to add the new release's fixtures; keep the older ones, and keep
them loading. It does not overwrite a release's fixtures (they are kept as written); delete them by hand to
write them again. It writes ``image-<strategy>-<release>.pt`` and ``.json`` for ``frozen`` (logistic-regression
head on the pooled embedding), ``multilayer`` (every block's embedding, standardised) and ``partial`` (the
first half of the stages frozen, the rest fine-tuned on their cached output).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from contextlib import chdir
from pathlib import Path

import timm
import torch

import headstart
from headstart.bundle import load_bundle

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[2]
FASHION = REPO / "examples" / "fashion-mnist-mini"
ARCHITECTURE = "test_efficientnet"
CLASSES = ["bag", "sneaker", "trouser"]
TRAIN_PER_CLASS = 8
STRATEGIES = {"frozen": {}, "multilayer": {}, "partial": {"epochs": 2}}


def probe_images() -> list[Path]:
    """The images whose probabilities are recorded: the first two test images of each class."""
    return [path for name in CLASSES for path in sorted((FASHION / "test" / name).glob("*.png"))[:2]]


def _training_folder(root: Path) -> Path:
    for name in CLASSES:
        (root / name).mkdir(parents=True)
        for path in sorted((FASHION / "train" / name).glob("*.png"))[:TRAIN_PER_CLASS]:
            shutil.copy(path, root / name / path.name)
    return root


def _weights(path: Path) -> Path:
    torch.manual_seed(0)
    torch.save(timm.create_model(ARCHITECTURE, pretrained=False).state_dict(), path)
    return path


def main() -> None:
    written = sorted(HERE.glob(f"image-*-{headstart.__version__}.*"))
    if written:
        raise SystemExit(f"fixtures of release {headstart.__version__} are here already ({written[0].name}, ...); "
                         "they are kept as written: delete them by hand to write them again.")
    with tempfile.TemporaryDirectory() as work, chdir(work):  # the bundles name the weights file as passed
        work = Path(work)
        train, weights = _training_folder(work / "train"), _weights(Path(f"{ARCHITECTURE}-seed0.pth"))
        probes = probe_images()
        for strategy, options in STRATEGIES.items():
            name = f"image-{strategy}-{headstart.__version__}"
            clf = headstart.ImageClassifier(backbone=ARCHITECTURE, strategy=strategy, weights=weights, image_size=64,
                                            batch_size=8, cache=work / "cache", logger=None, progress=False,
                                            **options).fit(train)
            bundle = clf.save(HERE / f"{name}.pt")
            probabilities = headstart.load(bundle).predict_proba(probes)
            record = {"headstart_version": headstart.__version__,
                      "format_version": load_bundle(bundle)["format_version"],
                      "classes": clf.classes_,
                      "images": [path.relative_to(REPO).as_posix() for path in probes],
                      "probabilities": probabilities.astype(float).round(7).tolist()}
            (HERE / f"{name}.json").write_text(json.dumps(record, indent=1) + "\n")
            print(f"{bundle.name}: {bundle.stat().st_size / 1024:.0f} KB, "
                  f"predicts {[clf.classes_[i] for i in probabilities.argmax(1)]}")


if __name__ == "__main__":
    main()
