"""Benchmark: the exported graph in fp32 and int8 — accuracy, agreement, speed, size — run with plain ONNX Runtime.

A frozen EfficientNet-Lite0 + logistic regression is trained on Fashion-MNIST (Debian's dataset-fashion-mnist,
100 training images per class) and exported twice: fp32, and int8 (ONNX Runtime static quantisation, calibrated on
128 training images). Both graphs classify 1,000 test images (100 per class) prepared with plain PIL (the
README's recipe); reported: test accuracy of each, top-class agreement of int8 with fp32, the largest probability
difference, fp32's largest difference from `headstart predict`, the bare forward pass's images/s (fastest of 7
passes over one 32-image batch, the two graphs taking turns, one intra-op thread per core) and the file sizes.

    python benchmarks/export_int8.py
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

import headstart
from headstart.data.dataset import find_images
from headstart.data.fashion_mnist import export_fashion_mnist
from headstart.runtime import describe_machine

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from test_export import plain_pixels  # noqa: E402  (the README's PIL recipe, tested there)

WORK = Path(__file__).parent / "work" / "export_int8"
RESULTS = Path(__file__).parent / "results"


def session(path: str, threads: int) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    return ort.InferenceSession(path, options, providers=["CPUExecutionProvider"])


def bare_rates(graphs: dict[str, ort.InferenceSession], batch: np.ndarray, rounds: int = 7) -> dict[str, float]:
    """Images/s of each graph's fastest pass over ``batch``, the graphs taking turns in every round so that a
    change in the machine's load falls on all of them alike."""
    best = {name: float("inf") for name in graphs}
    for graph in graphs.values():
        graph.run(None, {"pixels": batch})
    for _ in range(rounds):
        for name, graph in graphs.items():
            began = time.perf_counter()
            graph.run(None, {"pixels": batch})
            best[name] = min(best[name], time.perf_counter() - began)
    return {name: len(batch) / seconds for name, seconds in best.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train-per-class", type=int, default=100)
    parser.add_argument("--test-per-class", type=int, default=100)
    args = parser.parse_args()
    train = export_fashion_mnist(WORK / "train", args.train_per_class, split="train", seed=0)
    test = find_images(export_fashion_mnist(WORK / "test", args.test_per_class, split="test", seed=1))
    clf = headstart.ImageClassifier(strategy="frozen", progress=False).fit(train)
    reference = clf.predict_proba(test)
    graphs = {"fp32": clf.export(WORK / "fp32"), "int8": clf.export(WORK / "int8", quantize="int8",
                                                                     calibration=train)}
    card = json.loads(Path(graphs["fp32"]["card"]).read_text())
    pixels = np.stack([plain_pixels(path, card) for path in test.paths])
    labels = np.asarray(test.labels)
    sessions = {name: session(exported["path"], threads=os.cpu_count() or 1) for name, exported in graphs.items()}
    probabilities = {name: np.concatenate([graph.run(None, {"pixels": pixels[i:i + 64]})[0]
                                           for i in range(0, len(pixels), 64)]) for name, graph in sessions.items()}
    rates = bare_rates(sessions, pixels[:32])
    rows = {name: {"accuracy": float(np.mean(probabilities[name].argmax(1) == labels)),
                   "images_per_second": rates[name], "megabytes": Path(graphs[name]["path"]).stat().st_size / 1e6}
            for name in graphs}
    fp32, int8 = probabilities["fp32"], probabilities["int8"]
    result = {"machine": describe_machine(), "train_images": len(find_images(train)), "test_images": len(test),
              "headstart_predict_accuracy": float(np.mean(reference.argmax(1) == labels)),
              "fp32_vs_predict_max_difference": float(np.abs(fp32 - reference).max()),
              "fp32_vs_predict_top_class_agreement": float(np.mean(fp32.argmax(1) == reference.argmax(1))),
              "int8_vs_fp32_top_class_agreement": float(np.mean(int8.argmax(1) == fp32.argmax(1))),
              "int8_vs_fp32_max_difference": float(np.abs(int8 - fp32).max()), "graphs": rows,
              "int8_speedup": rows["int8"]["images_per_second"] / rows["fp32"]["images_per_second"]}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "export_int8.json").write_text(json.dumps(result, indent=2))
    table = "\n".join([
        "| graph | test accuracy | top class = fp32 | bare pass images/s (batch 32) | MB |",
        "|---|---:|---:|---:|---:|",
        *(f"| {name} | {row['accuracy']:.1%} | "
          f"{result['int8_vs_fp32_top_class_agreement'] if name == 'int8' else 1.0:.1%} | "
          f"{row['images_per_second']:.1f} | {row['megabytes']:.1f} |" for name, row in rows.items())])
    notes = (f"`headstart predict` on the same images: {result['headstart_predict_accuracy']:.1%}; fp32 graph vs. "
             f"predict: top class equal on {result['fp32_vs_predict_top_class_agreement']:.1%}, largest probability "
             f"difference {result['fp32_vs_predict_max_difference']:.1e}; int8 vs. fp32: largest difference "
             f"{result['int8_vs_fp32_max_difference']:.3f}; int8 speed-up {result['int8_speedup']:.2f}x.")
    (RESULTS / "export_int8.md").write_text(f"# export_int8\n\n`python benchmarks/export_int8.py` — frozen "
                                            f"EfficientNet-Lite0 on Fashion-MNIST ({result['train_images']} training, "
                                            f"{len(test)} test images), {describe_machine()['device']}, "
                                            f"{os.cpu_count()} cores\n\n{table}\n\n{notes}\n")
    print(table)
    print(notes)


if __name__ == "__main__":
    main()
