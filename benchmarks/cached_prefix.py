"""Benchmark: `partial` on a cached frozen prefix against today's `partial` and the plain recipe, in one run.

Fashion-MNIST (Debian's dataset-fashion-mnist), `--per-class` training images per class and 100 test images per
class, EfficientNet-Lite0 at its own 224 px. In the same run:

  * the plain recipe: frozen Lite0 features + scikit-learn `LogisticRegression(max_iter=1000)`;
  * headstart `frozen` and `multilayer` (the default's candidates on a CPU);
  * `partial` on the cached prefix for each `--freeze` and `--views` (LP-FT start, early stopping, `--epochs` at
    most): test accuracy, the one-off prefix computation, seconds per epoch;
  * today's `partial` (the whole network each step, fresh augmentation) at the same resolution and freeze, for
    `--live-epochs` epochs: seconds per epoch only (its accuracy at 10 epochs is in shared/FINDINGS.md: 85.0 %).

    python benchmarks/cached_prefix.py                         # about 25 min on 2 CPU cores
    python benchmarks/cached_prefix.py --freeze 6 --views 4 --live-epochs 0
    python benchmarks/cached_prefix.py --epoch-timing          # seconds per epoch only, both ways, 2 epochs each

`--epoch-timing` trains 2 epochs each way per `--freeze` on the same split (the cached views computed by an earlier
run are read back) and records seconds per epoch only: run it on a quiet machine, as nothing else shares the cores.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

from sklearn.linear_model import LogisticRegression

from compare_fashion_mnist import export
from headstart import ImageClassifier
from headstart.backbones import load_backbone
from headstart.data.dataset import ImageSet, check_images, find_images, stratified_split
from headstart.features import extract_embeddings
from headstart.features.cache import EmbeddingCache
from headstart.heads import build_head
from headstart.model import TransferNet
from headstart.strategies import resolve_strategy
from headstart.training import TrainingResult, fit_network, prefix

HERE = Path(__file__).resolve().parent


def test_accuracy(clf: ImageClassifier, test_dir: Path) -> float:
    return float(clf.evaluate(test_dir)["accuracy"])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--per-class", type=int, default=100)
    parser.add_argument("--freeze", default="6,4", help="frozen stages of Lite0's 8, comma-separated")
    parser.add_argument("--views", default="4,1", help="cached views per image, comma-separated")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--lr", type=float, default=1e-3, help="the head's peak learning rate (the suffix: a tenth)")
    parser.add_argument("--live-epochs", type=int, default=1, help="epochs of today's partial timed (0: skip)")
    parser.add_argument("--work", type=Path, default=HERE / "work" / "cached_prefix")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "cached_prefix.json")
    parser.add_argument("--epoch-timing", action="store_true", help="only seconds per epoch, cached vs. today's")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    train_dir, test_dir = export(args.work, args.per_class, 100)
    cache = args.work / "cache"
    rows: list[dict] = []

    def record(row: dict) -> None:
        rows.append(row)
        print(json.dumps(row), flush=True)

    if args.epoch_timing:
        train, val = stratified_split(check_images(find_images(train_dir)), 0.2, 0)
        for freeze in map(int, args.freeze.split(",")):
            for cached in (True, False):
                result = train_partial(train, val, freeze, epochs=2, cache=cache, cached=cached)
                way = "cached prefix" if cached else "today's (whole network each step)"
                record({"method": f"partial, {way}, freeze {freeze}",
                        "seconds_per_epoch": result.seconds / result.epochs_run, "cached_prefix": result.cached_prefix})
        _write(args, argv, rows, started, "cached_prefix_epochs.json")
        return

    # The plain recipe: frozen features + LogisticRegression, what a user writes in ten lines.
    t0 = time.perf_counter()
    backbone = load_backbone("efficientnet_lite0")
    pool, test = check_images(find_images(train_dir)), check_images(find_images(test_dir))
    features = [extract_embeddings(backbone, s, cache=EmbeddingCache(cache), progress=False) for s in (pool, test)]
    plain = LogisticRegression(max_iter=1000).fit(features[0], pool.labels)
    record({"method": "plain recipe (frozen + LogisticRegression)", "test_accuracy": plain.score(features[1],
                                                                                               test.labels),
            "seconds": time.perf_counter() - t0})

    for strategy in ("frozen", "multilayer"):
        t0 = time.perf_counter()
        clf = ImageClassifier(strategy=strategy, cache=cache, progress=False).fit(train_dir)
        record({"method": f"headstart {strategy}", "test_accuracy": test_accuracy(clf, test_dir),
                "seconds": time.perf_counter() - t0})

    for freeze in map(int, args.freeze.split(",")):
        for views in map(int, args.views.split(",")):
            prefix.PREFIX_VIEWS = views
            t0 = time.perf_counter()
            clf = ImageClassifier(strategy="partial", freeze=freeze, epochs=args.epochs, lr=args.lr, cache=cache,
                                  progress=False, logger=None).fit(train_dir)
            training = clf.training_
            cached = training["cached_prefix"]
            record({"method": f"partial, cached prefix, freeze {freeze}, {views} views, lr {args.lr}, "
                              f"{args.epochs} epochs at most",
                    "test_accuracy": test_accuracy(clf, test_dir), "val_accuracy": training["val_accuracy"],
                    "seconds": time.perf_counter() - t0, "prefix_seconds": cached["seconds"],
                    "epochs_run": training["epochs_run"],
                    "seconds_per_epoch": training["train_images"] / training["images_per_second"],
                    "cut": cached["cut"], "shape": cached["shape"]})
        if args.live_epochs:
            train, val = stratified_split(pool, 0.2, 0)
            result = train_partial(train, val, freeze, epochs=args.live_epochs, cache=cache, cached=False)
            record({"method": f"partial, today's (whole network each step), freeze {freeze}",
                    "seconds_per_epoch": result.seconds / result.epochs_run, "epochs_run": result.epochs_run})
    _write(args, argv, rows, started, args.out.name)


def train_partial(train: ImageSet, val: ImageSet, freeze: int, *, epochs: int, cache: Path,
                  cached: bool) -> TrainingResult:
    """``partial`` on Lite0 at 224 px for ``epochs``, on the cached prefix or the whole network each step."""
    backbone = load_backbone("efficientnet_lite0")
    net = TransferNet(backbone, build_head("linear", backbone.num_features, len(train.classes)))
    return fit_network(net, resolve_strategy("partial", len(backbone.stages), freeze), train, val, epochs=epochs,
                       progress=False, cache=EmbeddingCache(cache), cache_prefix=cached)


def _write(args: argparse.Namespace, argv: list[str] | None, rows: list[dict], started: float, name: str) -> None:
    meta = {"command": "python benchmarks/cached_prefix.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "per_class": args.per_class, "test_per_class": 100, "seconds": time.perf_counter() - started,
            "load_average": os.getloadavg()}
    out = args.out.with_name(name)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"meta": meta, "rows": rows}, indent=2))
    print(json.dumps(meta))


if __name__ == "__main__":
    main()
