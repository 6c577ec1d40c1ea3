"""Benchmark: `headstart compare` on real Fashion-MNIST, plus the plain recipe a user would write.

Exports Debian's dataset-fashion-mnist into benchmarks/work/ (a pool of 500 training images per class,
a fixed test set of 200 per class), runs the compare grid, then frozen EfficientNet-Lite0 features +
scikit-learn ``LogisticRegression()`` (default settings) on the very same nested subsets, and writes
benchmarks/results/compare_fashion_mnist.{md,json,png}.

    python benchmarks/compare_fashion_mnist.py                       # the full grid (under an hour on 2 CPU cores)
    python benchmarks/compare_fashion_mnist.py --sizes 5,10,25,100 --seeds 1 \
        --strategies frozen,prototype,knn,scratch,partial --resume  # a reduced grid
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import f1_score

from headstart.backbones import load_backbone
from headstart.compare import aggregate, compare, nested_subset, plot_learning_curves, summarize_runs
from headstart.data.dataset import check_images, find_images
from headstart.data.fashion_mnist import CLASSES, export_fashion_mnist
from headstart.features import EmbeddingCache, extract_embeddings

HERE = Path(__file__).resolve().parent
PLAIN = "plain sklearn LogisticRegression()"


def export(work: Path, pool: int, test: int) -> tuple[Path, Path]:
    """The training pool and the test set as class folders (written once, then reused)."""
    folders = {work / "train": (pool, "train"), work / "test": (test, "test")}
    for folder, (per_class, split) in folders.items():
        if sum(1 for _ in folder.rglob("*.png")) != per_class * len(CLASSES):
            export_fashion_mnist(folder, per_class, split=split, seed=0)
    return work / "train", work / "test"


def plain_recipe(train_dir: Path, test_dir: Path, sizes: list[int], seeds: int) -> list[dict]:
    """Frozen features (embedded afresh, timed) + LogisticRegression() with default settings."""
    pool = check_images(find_images(train_dir))
    test = check_images(find_images(test_dir, classes=pool.classes))
    backbone = load_backbone("efficientnet_lite0")
    test_features = extract_embeddings(backbone, test, cache=EmbeddingCache(), progress=False)
    rows = []
    for size in sizes:
        for seed in range(seeds):
            subset = pool.subset(nested_subset(pool, size, seed))
            started = time.perf_counter()
            features = extract_embeddings(backbone, subset, progress=False)
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always", ConvergenceWarning)
                model = LogisticRegression().fit(features, subset.labels)
            seconds = time.perf_counter() - started
            predictions = model.predict(test_features)
            rows.append({"strategy": PLAIN, "per_class": size, "seed": seed, "train_images": len(subset),
                         "accuracy": float(np.mean(predictions == np.asarray(test.labels))),
                         "macro_f1": float(f1_score(test.labels, predictions, average="macro")),
                         "seconds": round(seconds, 3),
                         "converged": not any(issubclass(w.category, ConvergenceWarning) for w in caught),
                         "load_average": round(os.getloadavg()[0], 2)})
    return rows


def markdown(rows: list[dict], command: str, meta: dict, seconds: float) -> str:
    table = aggregate(rows)
    sizes = sorted({r["per_class"] for r in table}, key=lambda s: float("inf") if s == "all" else s)
    cells = {(r["strategy"], r["per_class"]): r for r in table}
    methods = list(dict.fromkeys(r["strategy"] for r in table))
    loads = [r["load_average"] for r in rows if r.get("load_average") is not None]
    head = "| method | " + " | ".join(f"{s} / class" for s in sizes) + " |\n|---|" + "---|" * len(sizes) + "\n"

    def row(method: str, cell) -> str:
        return f"| {method} | " + " | ".join(cell(cells[method, s]) if (method, s) in cells else "–"
                                            for s in sizes) + " |\n"

    accuracy = "".join(row(m, lambda r: f"{r['accuracy_mean']:.1%} ± {r['accuracy_std']:.1%}" +
                                        (f" (n={r['runs']})" if r["runs"] > 1 else "")) for m in methods)
    timing = "".join(row(m, lambda r: f"{r['seconds_mean']:.1f} s") for m in methods)
    machine = meta["machine"]
    n_test = sum(meta["data"]["test"].values())
    plain = [r for r in rows if r["strategy"] == PLAIN]
    unconverged = sum(not r["converged"] for r in plain)
    return (f"# `headstart compare` on Fashion-MNIST (EfficientNet-Lite0)\n\n"
            f"Command: `{command}`\n\n"
            f"Data: Debian's dataset-fashion-mnist; training subsets drawn (nested, stratified) from a pool of "
            f"{sum(meta['data']['pool'].values()) // len(CLASSES)} train-split images per class; one fixed test set "
            f"of {n_test} test-split images ({n_test // len(CLASSES)} per class). Trained strategies at "
            f"{meta['settings']['trained_image_size']} px, embedding strategies at the backbone's 224 px.\n\n"
            f"Machine: {machine['device']}, {machine['cpu_count']} CPUs, torch {machine['torch']}"
            + (f"; 1-min load average {min(loads):.1f}–{max(loads):.1f} during the runs (about 2 means this "
               f"benchmark alone kept both cores busy; well above, other work shared them)" if loads else "")
            + f". The whole invocation (grid, plain recipe, report) took {seconds / 60:.1f} min; budget per trained "
            f"run: {meta['settings'].get('time_budget') or 'none'} s of training.\n\n"
            "## Summary (generated from the numbers below)\n\n"
            + "".join(f"- {line}\n" for line in summarize_runs(rows))
            + f"\n## Test accuracy (mean ± std over seeds)\n\n{head}{accuracy}\n"
            f"## Training wall time per run (`fit()`: embedding without cached embeddings, or training)\n\n"
            f"{head}{timing}\n"
            f"`{PLAIN}`: frozen EfficientNet-Lite0 embeddings + scikit-learn's `LogisticRegression()` with default "
            f"settings, no scaling, on the same subsets; its time is embedding + fit"
            + (f" (lbfgs stopped at its iteration limit in {unconverged} of {len(plain)} fits)" if unconverged else "")
            + ".\n")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="5,10,25,100,500", help="training images per class")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--strategies", default="scratch,frozen,partial,full,prototype,knn")
    parser.add_argument("--no-plain", action="store_true", help="skip the plain LogisticRegression() recipe")
    parser.add_argument("--work", type=Path, default=HERE / "work" / "compare_fashion_mnist")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    parser.add_argument("--resume", action="store_true", help="continue an interrupted run in --work")
    args = parser.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",")]
    started = time.perf_counter()
    train_dir, test_dir = export(args.work, pool=500, test=200)
    result = compare(train_dir, test=test_dir, backbone="efficientnet_lite0", strategies=args.strategies,
                     per_class=sizes, seeds=args.seeds, out=args.work / "compare", resume=args.resume)
    meta = json.loads((result.out / "results.json").read_text())
    runs = [r for r in result.runs if r["per_class"] in sizes and r["seed"] < args.seeds
            and r["strategy"] in args.strategies.split(",")]
    plain = [] if args.no_plain else plain_recipe(train_dir, test_dir, sizes, args.seeds)
    rows = runs + plain
    seconds = time.perf_counter() - started
    command = "python benchmarks/compare_fashion_mnist.py " + " ".join(sys.argv[1:] if argv is None else argv)
    args.results.mkdir(parents=True, exist_ok=True)
    stem = args.results / "compare_fashion_mnist"
    plot_learning_curves(rows, stem.with_suffix(".png"), "Fashion-MNIST, EfficientNet-Lite0: test accuracy")
    (stem.with_suffix(".md")).write_text(markdown(rows, command.strip(), meta, seconds))
    document = {"command": command.strip(), "invocation_seconds": round(seconds, 1), "settings": meta["settings"],
                "data": meta["data"], "machine": meta["machine"], "summary": result.summary, "table": aggregate(rows),
                "runs": [{k: v for k, v in r.items() if k != "confusion_matrix"} for r in rows]}
    (stem.with_suffix(".json")).write_text(json.dumps(document, indent=1))
    print("\n".join(result.summary))
    print(f"wrote {stem}.md, .json, .png and {result.report}")


if __name__ == "__main__":
    main()
