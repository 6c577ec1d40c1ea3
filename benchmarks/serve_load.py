"""Benchmark: `headstart serve` under load on loopback, against the Predictor called directly in the same run.

A frozen EfficientNet-Lite0 model (trained here on the repo's Fashion-MNIST sample, or --model) is served by the
real CLI in a subprocess; 8 client threads send 500 single-image POST /predict requests (real Fashion-MNIST
test PNGs), bounded by --deadline seconds. Reported: errors, p50/p95 latency, requests/s; the same images through
`Predictor.predict_proba([bytes])` one at a time (the same work per request) and in batches of 32, in this
process; and the server again with --max-batch 1 (no batching) to show whether batching pays.

    python benchmarks/serve_load.py                # 500 requests, 8 clients
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx
import numpy as np

import headstart
from headstart.inference import Predictor
from headstart.runtime import describe_machine

REPO = Path(__file__).resolve().parents[1]
WORK = Path(__file__).parent / "work" / "serve_load"
RESULTS = Path(__file__).parent / "results"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(model: Path, max_batch: int) -> tuple[subprocess.Popen, str]:
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(Path(headstart.__file__).parents[1]),
                                                        os.environ.get("PYTHONPATH", "")])}
    process = subprocess.Popen([sys.executable, "-m", "headstart.cli", "serve", str(model), "--port", str(port),
                                "--max-batch", str(max_batch)], env=env, stdout=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    for _ in range(360):
        try:
            if httpx.get(f"{url}/health", timeout=2).status_code == 200:
                return process, url
        except httpx.TransportError:
            time.sleep(0.5)
    process.kill()
    raise SystemExit("the server did not start")


def load(url: str, payloads: list[tuple[str, bytes]], requests: int, clients: int, deadline: float) -> dict:
    """``requests`` POSTs from ``clients`` threads; latency of each, errors counted."""
    latencies: list[float] = []
    errors: list[str] = []
    counter = iter(range(requests))
    lock = threading.Lock()
    stop = time.monotonic() + deadline

    def client() -> None:
        with httpx.Client(timeout=60) as session:
            while time.monotonic() < stop:
                with lock:
                    index = next(counter, None)
                if index is None:
                    return
                name, data = payloads[index % len(payloads)]
                began = time.perf_counter()
                try:
                    answer = session.post(f"{url}/predict", files={"file": (name, data)})
                    ok = answer.status_code == 200
                except httpx.HTTPError as error:
                    ok, answer = False, error
                elapsed = time.perf_counter() - began
                with lock:
                    (latencies.append(elapsed) if ok else errors.append(str(answer)))

    began = time.perf_counter()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    done = len(latencies)
    return {"requests": requests, "completed": done, "errors": len(errors),
            "not_sent_before_deadline": requests - done - len(errors),
            "error_samples": errors[:3], "seconds": wall, "requests_per_second": done / wall,
            "p50_ms": 1000 * float(np.percentile(latencies, 50)) if latencies else None,
            "p95_ms": 1000 * float(np.percentile(latencies, 95)) if latencies else None}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="a saved image model (default: train a frozen one here)")
    parser.add_argument("--requests", type=int, default=500)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--deadline", type=float, default=300, help="seconds each load run may take at most")
    args = parser.parse_args()
    fashion = REPO / "examples" / "fashion-mnist-mini"
    model = args.model
    if model is None:
        model = WORK / "model.pt"
        if not model.exists():
            headstart.ImageClassifier(strategy="frozen", progress=False).fit(fashion / "train").save(model)
    files = sorted((fashion / "test").rglob("*.png"))
    payloads = [(path.name, path.read_bytes()) for path in files]

    predictor = Predictor(model)
    predictor.predict_proba([payloads[0][1]])  # warm-up
    began = time.perf_counter()
    for index in range(args.requests):
        predictor.predict_proba([payloads[index % len(payloads)][1]])
    one_at_a_time = args.requests / (time.perf_counter() - began)
    data = [payloads[index % len(payloads)][1] for index in range(args.requests)]
    began = time.perf_counter()
    predictor.predict_proba(data)
    batched = args.requests / (time.perf_counter() - began)
    del predictor

    runs = {}
    for max_batch in (32, 1):
        process, url = start_server(model, max_batch)
        try:
            load(url, payloads, 16, args.clients, args.deadline)  # warm-up: connections, first batches
            before = httpx.get(f"{url}/model").json()["batches"]
            run = load(url, payloads, args.requests, args.clients, args.deadline)
            after = httpx.get(f"{url}/model").json()["batches"]
            runs[f"max_batch={max_batch}"] = {**run, "batches": {key: after[key] - before[key] for key in after}}
        finally:
            process.terminate()
            process.wait(timeout=30)
    served = runs["max_batch=32"]
    result = {"machine": describe_machine(), "model": str(model), "images": "Fashion-MNIST test PNGs (28 px)",
              "clients": args.clients, "direct_one_at_a_time_per_second": one_at_a_time,
              "direct_batched_per_second": batched, "served": runs,
              "served_share_of_direct": served["requests_per_second"] / one_at_a_time}
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "serve_load.json").write_text(json.dumps(result, indent=2))
    lines = ["| run | errors | p50 ms | p95 ms | requests/s | share of direct (one at a time) |",
             "|---|---:|---:|---:|---:|---:|"]
    for name, run in runs.items():
        lines.append(f"| served, {name} ({run['batches']['inputs'] / max(run['batches']['count'], 1):.1f} images "
                     f"per batch) | {run['errors']} | {run['p50_ms']:.0f} | {run['p95_ms']:.0f} | "
                     f"{run['requests_per_second']:.1f} | {run['requests_per_second'] / one_at_a_time:.0%} |")
    lines.append(f"| Predictor directly, one image per call | – | – | – | {one_at_a_time:.1f} | 100% |")
    lines.append(f"| Predictor directly, one call of {args.requests} images (batches of 32) | – | – | – | "
                 f"{batched:.1f} | {batched / one_at_a_time:.0%} |")
    table = "\n".join(lines)
    (RESULTS / "serve_load.md").write_text(f"# serve_load\n\n`python benchmarks/serve_load.py` — {args.requests} "
                                           f"requests from {args.clients} clients on loopback, "
                                           f"{describe_machine()['device']}, {os.cpu_count()} cores\n\n{table}\n")
    print(table)


if __name__ == "__main__":
    main()
