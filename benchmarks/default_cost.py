"""Benchmark: what the default `headstart train` costs end to end on 500 images of about 300 px (issue 11's target:
under 3 minutes on 2 CPU cores).

500 Fashion-MNIST test images (Debian's dataset-fashion-mnist, 50 per class) upscaled to 300×300 RGB JPEGs (quality
90); `headstart train DATA --out MODEL` with nothing else, as a new user runs it, in a subprocess with an empty
embedding cache (so the exported graph, every embedding and the advice are computed), timed by the wall clock, and
once more with the cache the first run filled.

    python benchmarks/default_cost.py
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

from headstart.data.fashion_mnist import CLASSES, export_fashion_mnist

HERE = Path(__file__).resolve().parent


def main() -> None:
    work = Path(tempfile.mkdtemp(prefix="headstart-cost-"))
    try:
        source = export_fashion_mnist(work / "png", 50, split="test", seed=0)
        data = work / "jpeg"
        for path in sorted(Path(source).rglob("*.png")):
            target = data / path.parent.name / f"{path.stem}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            Image.open(path).convert("RGB").resize((300, 300), Image.Resampling.BICUBIC).save(target, quality=90)
        headstart = Path(sys.executable).with_name("headstart")
        environment = {**os.environ, "HEADSTART_CACHE": str(work / "cache")}
        rows = []
        for run in ("cold cache", "warm cache"):
            started = time.perf_counter()
            done = subprocess.run([str(headstart), "train", str(data), "--out", str(work / "model")], env=environment,
                                  capture_output=True, text=True, check=True)
            rows.append({"run": run, "seconds": time.perf_counter() - started,
                         "last_line": done.stdout.strip().splitlines()[-1]})
            print(json.dumps(rows[-1]), flush=True)
        result = {"command": "python benchmarks/default_cost.py", "images": 50 * len(CLASSES), "side": 300,
                  "rows": rows, "load_average": os.getloadavg()}
        (HERE / "results" / "default_cost.json").write_text(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
