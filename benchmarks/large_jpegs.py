"""Benchmark: large JPEGs decoded at a reduced scale (``data.images.load_image(min_side=...)``, Pillow's ``draft``)
against the plain recipe's full decode — speed, peak memory and whether accuracy moves.

In one run, on 2 CPU cores:
  * Fashion-MNIST (Debian's dataset-fashion-mnist): a frozen model trained on 100 training images per class (28-px
    PNGs), evaluated on 50 test images per class upscaled to 1,120 px and saved as JPEG (quality 90): by headstart
    (drafted to 560 px, the smallest scale keeping twice the 224-px input) and by the plain recipe (full decode,
    then torchvision's bicubic resize), the same head on both sets of features — accuracy and agreement;
  * scikit-image's photos upscaled to ~2,000 px JPEGs: images/s and the cosine similarity of the two features.

    python benchmarks/large_jpegs.py      # results/large_jpegs.{json,md}
"""

from __future__ import annotations

import json
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

sys.path.insert(0, str(Path(__file__).parent))
from frozen_throughput import plain_recipe  # noqa: E402  the same hand-written recipe as the throughput benchmark

from headstart import ImageClassifier  # noqa: E402
from headstart.data.dataset import find_images  # noqa: E402
from headstart.data.fashion_mnist import export_fashion_mnist  # noqa: E402

WORK = Path(__file__).parent / "work" / "large_jpegs"
RESULTS = Path(__file__).parent / "results"


def upscaled_jpegs(source: Path, target: Path, side: int) -> Path:
    """Every image under ``source`` resized (bicubic) so its longer side is ``side``, as JPEG quality 90."""
    for path in sorted(source.rglob("*.png")):
        out = target / path.relative_to(source).with_suffix(".jpg")
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            image = Image.open(path).convert("RGB")
            scale = side / max(image.size)
            image.resize((round(image.width * scale), round(image.height * scale)), Image.BICUBIC).save(out, quality=90)
    return target


def photo_pngs(root: Path) -> Path:
    from skimage import data

    names = ("astronaut", "chelsea", "coffee", "rocket", "camera", "immunohistochemistry", "motorcycle", "page")
    for index, name in enumerate(names):
        out = root / ("first" if index < len(names) // 2 else "second") / f"{name}.png"  # two folders: a labelled set
        if not out.exists():
            out.parent.mkdir(parents=True, exist_ok=True)
            pixels = data.stereo_motorcycle()[0] if name == "motorcycle" else getattr(data, name)()
            Image.fromarray(pixels).convert("RGB").save(out)
    return root


def main() -> None:
    train = export_fashion_mnist(WORK / "train", 100, split="train", seed=0)
    test = upscaled_jpegs(export_fashion_mnist(WORK / "test-png", 50, split="test", seed=0), WORK / "test-1120", 1120)
    clf = ImageClassifier(strategy="frozen", cache=False, progress=False).fit(train)
    images = find_images(test)
    labels = np.asarray(images.labels)
    started = time.perf_counter()
    drafted = clf.predict_proba(images)
    headstart_seconds = time.perf_counter() - started
    plain_per_second, features = plain_recipe(images.paths)
    with torch.inference_mode():
        plain = clf.net_.head.eval()(torch.from_numpy(features)).softmax(1).numpy()
    fashion = {"test images": len(images), "side": 1120,
               "accuracy, drafted (headstart)": float(np.mean(drafted.argmax(1) == labels)),
               "accuracy, full decode (plain recipe)": float(np.mean(plain.argmax(1) == labels)),
               "same predicted class": float(np.mean(drafted.argmax(1) == plain.argmax(1))),
               "images/s, headstart (decode + features + head)": len(images) / headstart_seconds,
               "images/s, plain recipe (decode + features)": plain_per_second}
    photos = find_images(upscaled_jpegs(photo_pngs(WORK / "photo-png"), WORK / "photos-2000", 2000))
    repeated = photos.subset([i % len(photos) for i in range(8 * len(photos))])
    embedder = ImageClassifier(cache=False, progress=False)
    backbone = clf.net_.backbone
    started = time.perf_counter()
    ours = embedder.embed(backbone, repeated)
    ours_per_second = len(repeated) / (time.perf_counter() - started)
    plain_per_second, theirs = plain_recipe(repeated.paths)
    cosine = (ours * theirs).sum(1) / np.linalg.norm(ours, axis=1) / np.linalg.norm(theirs, axis=1)
    photo = {"images": len(repeated), "side": 2000, "images/s, headstart": ours_per_second,
             "images/s, plain recipe": plain_per_second, "speed-up": ours_per_second / plain_per_second,
             "cosine of the two features, lowest": float(cosine.min()),
             "cosine of the two features, median": float(np.median(cosine)),
             "peak RSS of the run, MB": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}
    result = {"command": "python benchmarks/large_jpegs.py", "fashion-mnist 1120 px JPEG": fashion,
              "photos 2000 px JPEG": photo}
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "large_jpegs.json").write_text(json.dumps(result, indent=2))
    lines = [f"# large_jpegs (`{result['command']}`, 2 CPU cores)"]
    for title, rows in list(result.items())[1:]:
        lines += ["", f"## {title}", "", "| what | value |", "| --- | ---: |"]
        lines += [f"| {k} | {v:.4g} |" if isinstance(v, float) else f"| {k} | {v} |" for k, v in rows.items()]
    (RESULTS / "large_jpegs.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
