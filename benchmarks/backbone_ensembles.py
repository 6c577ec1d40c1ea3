"""Benchmark: do frozen features of several bundled backbones, concatenated, pay for their cost? (issue 11, item 4)

Fashion-MNIST (Debian's dataset-fashion-mnist; the pool and test set of benchmarks/cached_prefix.py: 100 training
and 100 test images per class). Each of EfficientNet-Lite0/1/2 embeds every image once (the embedding cache keeps
them, with the seconds computing them took); heads are headstart's `frozen` logistic regression (C by
cross-validation) on one backbone's pooled features or on several concatenated, and `multilayer`'s standardised
logistic regression on Lite0's block features (alone, and with Lite1's and Lite2's pooled features), on nested subsets of 10 and 100 per class, 3 seeds, all scored on
the same 1,000 test images.

    python benchmarks/backbone_ensembles.py        # about 10 min on 2 CPU cores from a cold cache
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

from compare_fashion_mnist import export
from headstart.backbones import load_backbone
from headstart.compare import nested_subset
from headstart.data.dataset import check_images, find_images
from headstart.features import extract_embeddings
from headstart.features.cache import EmbeddingCache, describe_key
from headstart.features.extract import extractor_description
from headstart.heads import fit_head

HERE = Path(__file__).resolve().parent
BACKBONES = ("efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2")
COMBINATIONS = {"lite0": ("efficientnet_lite0",), "lite1": ("efficientnet_lite1",), "lite2": ("efficientnet_lite2",),
                "lite0+lite2": ("efficientnet_lite0", "efficientnet_lite2"),
                "lite0+lite1+lite2": BACKBONES}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--work", type=Path, default=HERE / "work" / "cached_prefix")
    parser.add_argument("--sizes", default="10,100")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--out", type=Path, default=HERE / "results" / "backbone_ensembles.json")
    args = parser.parse_args(argv)
    train_dir, test_dir = export(args.work, 100, 100)
    pool, test = check_images(find_images(train_dir)), check_images(find_images(test_dir))
    cache = EmbeddingCache(args.work / "cache")
    features, seconds_per_image = {}, {}
    for name in BACKBONES:
        backbone = load_backbone(name)
        features[name] = [extract_embeddings(backbone, s, cache=cache, progress=False) for s in (pool, test)]
        key = describe_key(extractor_description(backbone, stage=None, tta=False, precision="fp32", background="white"))
        seconds_per_image[name] = cache.seconds_per_item(key)  # what computing them took, recorded by the cache
    lite0 = load_backbone("efficientnet_lite0")
    blocks = [extract_embeddings(lite0, s, cache=cache, stage="blocks", progress=False) for s in (pool, test)]
    rows = []
    for size in map(int, args.sizes.split(",")):
        for seed in range(args.seeds):
            chosen = nested_subset(pool, size, seed)
            labels = np.asarray(pool.labels)[chosen]
            candidates = {label: (np.concatenate([features[n][0] for n in names], 1),
                                  np.concatenate([features[n][1] for n in names], 1), {})
                          for label, names in COMBINATIONS.items()}
            candidates["lite0 multilayer"] = (*blocks, {"standardize": True})
            candidates["lite0 multilayer+lite1+lite2"] = (
                *(np.concatenate([blocks[i], features["efficientnet_lite1"][i], features["efficientnet_lite2"][i]], 1)
                  for i in (0, 1)), {"standardize": True})
            for label, (train_x, test_x, options) in candidates.items():
                head, _ = fit_head("logreg", train_x[chosen], labels, len(pool.classes), seed=seed, **options)
                with torch.inference_mode():
                    predicted = head.eval()(torch.from_numpy(test_x)).argmax(1).numpy()
                rows.append({"features": label, "per_class": size, "seed": seed,
                             "test_accuracy": float(np.mean(predicted == np.asarray(test.labels)))})
                print(json.dumps(rows[-1]), flush=True)
    table = {}
    for row in rows:
        table.setdefault((row["features"], row["per_class"]), []).append(row["test_accuracy"])
    summary = [{"features": f, "per_class": s, "mean": float(np.mean(v)), "std": float(np.std(v))}
               for (f, s), v in table.items()]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps({"seconds_per_image": seconds_per_image, "summary": summary, "rows": rows},
                                   indent=2))
    for line in summary:
        print(json.dumps(line))
    print(json.dumps({"seconds_per_image": seconds_per_image}))


if __name__ == "__main__":
    main()
