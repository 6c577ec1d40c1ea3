"""`make demo`: transfer learning vs. training from scratch on 400 real Fashion-MNIST images.

Trains a frozen EfficientNet-Lite0 (ImageNet weights bundled, embed once + logistic regression)
and the same network from random weights, scores both on 200 held-out images, saves the frozen
model, loads it back and predicts a few images.
"""

from __future__ import annotations

import time
from pathlib import Path

from rich.console import Console
from rich.table import Table

import headstart

HERE = Path(__file__).parent
TRAIN, TEST = HERE / "fashion-mnist-mini" / "train", HERE / "fashion-mnist-mini" / "test"
OUT = Path("demo-output")

console = Console()
runs = {
    "frozen": headstart.ImageClassifier(backbone="efficientnet_lite0", strategy="frozen"),
    # Random weights learn slowly; 64 px and 10 epochs keep the baseline to a few minutes on 2 cores.
    "scratch": headstart.ImageClassifier(backbone="efficientnet_lite0", strategy="scratch", image_size=64,
                                         epochs=10, batch_size=64),
}
table = Table(title=f"Fashion-MNIST: {sum(1 for _ in TRAIN.rglob('*.png'))} training images, "
                    f"{sum(1 for _ in TEST.rglob('*.png'))} held-out test images")
for column in ("strategy", "test accuracy", "macro-F1", "train time (s)", "trainable parameters"):
    table.add_column(column, justify="right")
for name, clf in runs.items():
    console.rule(f"training: {name}")
    started = time.perf_counter()
    clf.fit(TRAIN)
    seconds = time.perf_counter() - started
    report = clf.evaluate(TEST)
    table.add_row(name, f"{report['accuracy']:.1%}", f"{report['macro_f1']:.3f}", f"{seconds:.0f}",
                  f"{clf.training_['trainable_parameters']:,}")
    OUT.mkdir(exist_ok=True)
    clf.save(OUT / f"{name}.pt")
console.print(table)

model = headstart.load(OUT / "frozen.pt")
examples = [next((TEST / c).iterdir()) for c in sorted(p.name for p in TEST.iterdir())[:5]]
console.rule(f"predictions of the reloaded model {OUT / 'frozen.pt'}")
for path, top in zip(examples, model.predict_top_k(examples, k=2)):
    console.print(f"{path.parent.name + '/' + path.name:35s} -> " + ", ".join(f"{c} {p:.0%}" for c, p in top))
console.print(f"\nSame from the command line: headstart predict {OUT / 'frozen.pt'} {TEST / 'bag'}")
