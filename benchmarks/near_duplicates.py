"""Benchmark: where to put the near-duplicate threshold (``headstart.data.duplicates.NEAR_DUPLICATE_COSINE``).

On Lite0's pooled embeddings, in one run:
  * distinct images: the cosine similarity of each image's nearest other image, on 5,000 Fashion-MNIST training
    images (Debian's dataset-fashion-mnist), scikit-learn's 1,797 digits (8 px) and 100 LFW faces (25 px, from
    scikit-image) — a threshold above these raises no false alarm;
  * copies: the similarity of each image to its edited copy (JPEG quality 60, upscaled 1.7× and 2×, shrunk 0.6× and
    re-encoded, cropped to 90 %, brightened +20) on 400 Fashion-MNIST images, the LFW faces and 10 scikit-image
    photos (~512 px) — the share above the threshold is what gets reported.

    python benchmarks/near_duplicates.py      # ~5 min on 2 CPU cores; results/near_duplicates.{json,md}
"""

from __future__ import annotations

import io
import json
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

from headstart.backbones import load_backbone
from headstart.data.dataset import ImageSet
from headstart.data.duplicates import NEAR_DUPLICATE_COSINE
from headstart.data.fashion_mnist import read_fashion_mnist
from headstart.features import extract_embeddings

WORK = Path(__file__).parent / "work" / "near_duplicates"
RESULTS = Path(__file__).parent / "results"
EDITS = {
    "JPEG quality 60": lambda im: _jpeg(im, 60),
    "upscaled 1.7x": lambda im: im.resize((round(im.width * 1.7), round(im.height * 1.7)), Image.BICUBIC),
    "upscaled 2x": lambda im: im.resize((im.width * 2, im.height * 2), Image.BICUBIC),
    "shrunk 0.6x + JPEG 70": lambda im: _jpeg(im.resize((max(8, round(im.width * .6)), max(8, round(im.height * .6))),
                                                        Image.BICUBIC), 70),
    "cropped to 90 %": lambda im: im.crop((im.width // 20, im.height // 20, im.width - im.width // 20,
                                           im.height - im.height // 20)),
    "brightened +20": lambda im: Image.fromarray(np.clip(np.asarray(im, np.int16) + 20, 0, 255).astype(np.uint8)),
}


def _jpeg(image: Image.Image, quality: int) -> Image.Image:
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buffer.getvalue())).convert("RGB")


def datasets() -> dict[str, list[Image.Image]]:
    from skimage import data
    from sklearn.datasets import load_digits

    fashion, _ = read_fashion_mnist("train")
    order = np.random.default_rng(0).permutation(len(fashion))
    photos = [getattr(data, name)() for name in ("astronaut", "chelsea", "coffee", "rocket", "camera",
                                                 "hubble_deep_field", "immunohistochemistry", "page", "brick", "grass")]
    digits = load_digits().images
    return {
        "fashion-mnist 5000 (28 px)": [Image.fromarray(fashion[i]) for i in order[:5000]],
        "digits 1797 (8 px)": [Image.fromarray((d * 255 / 16).astype(np.uint8)) for d in digits],
        "lfw faces 100 (25 px)": [Image.fromarray((f * 255).astype(np.uint8)) for f in data.lfw_subset()[:100]],
        "photos 10 (~512 px)": [Image.fromarray(p) for p in photos],
    }


def embed(backbone, images: list[Image.Image], folder: Path) -> np.ndarray:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index, image in enumerate(images):
        path = folder / f"{index:05d}.png"
        if not path.exists():
            image.convert("RGB").save(path)
        paths.append(path)
    features = extract_embeddings(backbone, ImageSet(paths, [0] * len(paths), ["x"], str(folder)), batch_size=64,
                                  cache=None, progress=False)
    return features / np.linalg.norm(features, axis=1, keepdims=True)


def main() -> None:
    started = time.perf_counter()
    backbone = load_backbone("efficientnet_lite0")
    distinct, copies = {}, {}
    for name, images in datasets().items():
        folder = WORK / name.split()[0]
        originals = embed(backbone, images, folder / "original")
        similarity = originals @ originals.T
        np.fill_diagonal(similarity, -1.0)
        nearest = similarity.max(1)
        distinct[name] = {"images": len(images), "highest": float(nearest.max()),
                          "p99": float(np.quantile(nearest, 0.99)), "median": float(np.median(nearest)),
                          "pairs at or above the threshold": int((np.triu(similarity, 1) >= NEAR_DUPLICATE_COSINE).sum())}
        if name.startswith("digits"):
            continue  # its copies need no measuring: distinct digits already reach past any useful threshold
        sample = images[:400]
        for edit, change in EDITS.items():
            edited = embed(backbone, [change(image.convert("RGB")) for image in sample], folder / edit.replace(" ", "_"))
            score = (edited * originals[:len(sample)]).sum(1)
            copies.setdefault(name, {})[edit] = {"min": float(score.min()), "median": float(np.median(score)),
                                                 "caught": float(np.mean(score >= NEAR_DUPLICATE_COSINE))}
    result = {"threshold": NEAR_DUPLICATE_COSINE, "distinct": distinct, "copies": copies,
              "seconds": time.perf_counter() - started, "command": "python benchmarks/near_duplicates.py"}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "near_duplicates.json").write_text(json.dumps(result, indent=2))
    lines = [f"# near_duplicates (threshold {NEAR_DUPLICATE_COSINE}; `{result['command']}`, "
             f"{result['seconds']:.0f} s)", "", "## distinct images: each one's nearest other image", "",
             "| data | images | highest | 99th percentile | median | pairs ≥ threshold |", "| --- | ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {n} | {d['images']} | {d['highest']:.3f} | {d['p99']:.3f} | {d['median']:.3f} | "
              f"{d['pairs at or above the threshold']} |" for n, d in distinct.items()]
    lines += ["", "## edited copies: similarity to the original, and the share reported", "",
              "| data | edit | lowest | median | reported |", "| --- | --- | ---: | ---: | ---: |"]
    lines += [f"| {n} | {e} | {c['min']:.3f} | {c['median']:.3f} | {c['caught']:.0%} |"
              for n, edits in copies.items() for e, c in edits.items()]
    (RESULTS / "near_duplicates.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
