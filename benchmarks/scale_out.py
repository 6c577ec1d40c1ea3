"""Images/s on 1 vs. N devices: fine-tuning (``train --strategy full``) and embedding (``embed``), each device count
run as the user would run it (``headstart ... --devices N``, which starts N ranks through torch's elastic agent).

Written for a GPU machine (``--accelerator gpu --devices 1,8``: NCCL, bf16-mixed training); on a CPU it runs the
same commands on gloo with one process per device. Data: Debian's Fashion-MNIST (``--per-class`` images of each
class, upscaled by the backbone's preprocessing) or any labelled folder (``--data``). Each embedding run starts from
an empty cache. Writes benchmarks/results/scale_out.json and .md.

    python benchmarks/scale_out.py --accelerator gpu --devices 1,2,4,8 --per-class 2000
    python benchmarks/scale_out.py --accelerator cpu --devices 1,2 --per-class 50 --image-size 64   # a CPU check
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

from headstart.data.fashion_mnist import export_fashion_mnist
from headstart.runtime import describe_machine

RESULTS = Path(__file__).resolve().parent / "results"


def headstart(*args: str, env: dict[str, str]) -> dict:
    """``headstart --json ARGS`` in a fresh process; its JSON answer."""
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "headstart.cli", "--json", *args], capture_output=True, text=True,
                          env=env, check=False)
    if done.returncode:
        raise SystemExit(f"headstart {' '.join(args)} failed:\n{done.stderr[-4000:]}")
    return {**json.loads(done.stdout), "wall_seconds": time.perf_counter() - started}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", help="labelled images (default: Fashion-MNIST from Debian)")
    parser.add_argument("--per-class", type=int, default=500, help="Fashion-MNIST images per class")
    parser.add_argument("--devices", default="1,2", help="device counts to compare, comma-separated")
    parser.add_argument("--accelerator", default="gpu", choices=["cpu", "gpu"])
    parser.add_argument("--backbone", default="efficientnet_lite0")
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--batch-size", type=int, default=64, help="per device")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="headstart-scale-out-"))
    data = Path(args.data) if args.data else export_fashion_mnist(work / "fashion", args.per_class)
    rows = []
    for devices in map(int, args.devices.split(",")):
        env = {**os.environ, "HEADSTART_CACHE": str(work / f"cache-{devices}")}
        placement = ["--devices", str(devices), "--accelerator", args.accelerator]
        embedded = headstart("embed", str(data), "--backbone", args.backbone, *placement, env=env)
        trained = headstart("train", str(data), "--strategy", "full", "--backbone", args.backbone, *placement,
                            "--epochs", str(args.epochs), "--image-size", str(args.image_size), "--batch-size",
                            str(args.batch_size), "--logger", "none", "--out", str(work / f"model-{devices}"), env=env)
        rows.append({"devices": devices, "embed_images": embedded["embedded"],
                     "embed_images_per_second": embedded["images_per_second"],
                     "embed_wall_seconds": embedded["wall_seconds"], "train_images": trained["train_images"],
                     "train_images_per_second": trained["images_per_second"],
                     "train_seconds": trained["seconds"], "val_accuracy": trained["val_accuracy"],
                     "epochs_run": trained["epochs_run"]})
        print(json.dumps(rows[-1]), flush=True)
    base = rows[0]
    for row in rows:
        row["embed_speed_up"] = row["embed_images_per_second"] / base["embed_images_per_second"]
        row["train_speed_up"] = row["train_images_per_second"] / base["train_images_per_second"]
    RESULTS.mkdir(exist_ok=True)
    settings = {k: v for k, v in vars(args).items() if k != "data"} | {"data": str(data)}
    (RESULTS / "scale_out.json").write_text(json.dumps({"settings": settings, "machine": describe_machine(),
                                                         "runs": rows}, indent=1))
    lines = ["| devices | embed images/s | speed-up | train images/s (full) | speed-up | val accuracy |",
             "|---:|---:|---:|---:|---:|---:|"]
    lines += [f"| {r['devices']} | {r['embed_images_per_second']:.1f} | {r['embed_speed_up']:.2f}× | "
              f"{r['train_images_per_second']:.1f} | {r['train_speed_up']:.2f}× | {r['val_accuracy']:.1%} |"
              for r in rows]
    (RESULTS / "scale_out.md").write_text(f"`{' '.join(sys.argv)}` on {describe_machine()['device']}\n\n"
                                          + "\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
