"""The results of a compare, written as they come (JSON + CSV, atomically) and resumed from."""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

from .. import distributed as dist
from ..atomic import write_text_atomically
from ..errors import ConfigError, DataError
from ..progress import progress_bar

__all__ = ["CSV_FIELDS", "ResultStore", "csv_fields", "fingerprint", "run_key", "run_record"]

FORMAT = "headstart-compare"
VERSION = 1
COUNTS = ("train_{unit}", "fit_train_{unit}", "val_{unit}", "test_{unit}")  # a run's examples, named by unit
SPEED = "{unit}_per_second"


def csv_fields(unit: str = "images") -> tuple[str, ...]:
    """The columns of ``results.csv`` for a compare of ``unit`` (images, texts)."""
    return ("strategy", "per_class", "seed", "accuracy", "macro_f1", "seconds", "train_seconds",
            SPEED.format(unit=unit), "epochs_run", "trainable_parameters", "peak_rss_mb", "peak_gpu_mb",
            *(count.format(unit=unit) for count in COUNTS), "image_size", "advised_strategy", "advised_freeze",
            "chosen_strategy", "load_average", "subset_sha", "finished_at")


CSV_FIELDS = csv_fields()


def fingerprint(entries: Iterable[bytes]) -> dict[str, Any]:
    """A digest of the data the grid draws from, one entry per file (each modality says what identifies a file):
    changes when the data does."""
    digest = hashlib.sha256()
    files = 0
    for entry in entries:
        digest.update(entry)
        files += 1
    return {"files": files, "sha256": digest.hexdigest()}


def run_record(report: dict[str, Any], *, unit: str, seconds: float, train_seconds: float, per_second: float,
               epochs_run: int | None, trainable_parameters: int, memory: Any, counts: Sequence[int],
               subset_key: str, **extra: Any) -> dict[str, Any]:
    """One run's row: test scores from ``report``, times, speed (``unit`` per second), memory (a finished
    ``PeakMemory``), the example ``counts`` (train, fit_train, val, test), a digest of ``subset_key`` and the load
    average now."""
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    return {
        "accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "seconds": round(seconds, 3),
        "train_seconds": round(train_seconds, 3), SPEED.format(unit=unit): float(f"{per_second:.3g}"),
        "epochs_run": epochs_run, "trainable_parameters": trainable_parameters,
        "peak_rss_mb": memory.rss_mb, "peak_gpu_mb": memory.gpu_mb,
        **{name.format(unit=unit): count for name, count in zip(COUNTS, counts, strict=True)}, **extra,
        "load_average": None if load is None else round(load, 2),
        "subset_sha": hashlib.sha256(subset_key.encode()).hexdigest()[:16],
        "finished_at": time.strftime("%Y-%m-%dT%H:%M:%S"),
        "confusion_matrix": report["confusion_matrix"],
    }


def _renamed(run: dict[str, Any], unit: str) -> dict[str, Any]:
    """``run`` with its counts and speed named by ``unit``: text results written when every row named them by
    images resume as if written now."""
    names = {name.format(unit="images"): name.format(unit=unit) for name in (*COUNTS, SPEED)}
    return {names.get(key, key): value for key, value in run.items()}


def run_key(run: dict[str, Any]) -> tuple[str, str, int]:
    return run["strategy"], str(run["per_class"]), int(run["seed"])


class ResultStore:
    """``results.json`` (settings, data fingerprint, every run) and ``results.csv`` (one row per run)."""

    def __init__(self, out: Path, meta: dict[str, Any], runs: list[dict[str, Any]]):
        self.out = out
        self.meta = meta
        self.runs = runs

    @property
    def json_path(self) -> Path:
        return self.out / "results.json"

    @property
    def csv_path(self) -> Path:
        return self.out / "results.csv"

    @classmethod
    def open(cls, out: str | Path, meta: dict[str, Any], *, resume: bool) -> "ResultStore":
        """A new store in ``out``, or with ``resume`` the one there after checking it fits ``meta``."""
        out = Path(out)
        path = out / "results.json"
        if not path.exists():
            out.mkdir(parents=True, exist_ok=True)
            return cls(out, meta, [])
        if not resume:
            raise ConfigError("already holds the results of a compare.", path=out,
                              fix="Pass --resume (resume=True) to continue them, or choose another --out folder.")
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as error:
            raise DataError(f"cannot be read ({error}).", path=path,
                            fix="Delete the folder's results to start over, or choose another --out folder.") from None
        if stored.get("format") != FORMAT or stored.get("version") != VERSION:
            raise DataError("is not a headstart compare results file of this version.", path=path,
                            fix="Choose another --out folder.")
        then, now = stored["fingerprint"], meta["fingerprint"]
        if then != now:
            raise DataError(f"the data changed since these results were recorded ({then['files']} files then, "
                            f"{now['files']} now, or files added, removed, replaced or touched).", path=path,
                            fix="Restore the data as it was, or run without --resume into a new --out folder.")
        changed = [k for k, v in meta["settings"].items() if stored["settings"].get(k) != v]
        if changed:
            detail = ", ".join(f"{k}: {stored['settings'].get(k)!r} then, {meta['settings'][k]!r} now" for k in changed)
            raise ConfigError(f"these results were recorded with other settings ({detail}).", path=path,
                              fix="Resume with the same settings, or run into a new --out folder.")
        return cls(out, meta, [_renamed(run, meta["unit"]) for run in stored["runs"]])

    def done(self) -> set[tuple[str, str, int]]:
        return {run_key(run) for run in self.runs}

    def missing(self, sizes: Sequence[Any], seeds: int, strategies: Sequence[str]) -> tuple[list[tuple], int]:
        """The (size, seed, strategy) runs of the grid not recorded yet, and how many of the grid's are."""
        grid = [(size, seed, strategy) for size in sizes for seed in range(seeds) for strategy in strategies]
        done = self.done()
        todo = [(size, seed, strategy) for size, seed, strategy in grid if (strategy, str(size), seed) not in done]
        return todo, len(grid) - len(todo)

    def run_missing(self, todo: Sequence[tuple], run_one: Callable[[str, Any, int], dict[str, Any]], *,
                    progress: bool) -> None:
        """Run each missing (size, seed, strategy) with ``run_one(strategy, size, seed)``, recording each result
        as it comes, under one progress bar over them all."""
        self.save()
        with progress_bar(len(todo), "compare", enabled=progress, transient=False) as advance:
            for size, seed, strategy in todo:
                label = f"{strategy}, {size} per class, seed {seed}"
                advance(0, label)
                run = run_one(strategy, size, seed)
                self.add({"strategy": strategy, "per_class": size, "seed": seed, **run})
                advance(1, f"{label}: {run['accuracy']:.1%}")

    def add(self, run: dict[str, Any]) -> None:
        """Record one finished run and rewrite both files."""
        self.runs.append(run)
        self.save()

    def save(self) -> None:
        """Rewrite both files (rank 0 only, in a distributed run)."""
        if not dist.is_main():
            return
        document = {"format": FORMAT, "version": VERSION, **self.meta, "runs": self.runs}
        write_text_atomically(self.json_path, json.dumps(document, indent=1), durable=True)
        write_text_atomically(self.csv_path, _to_csv(self.runs, csv_fields(self.meta["unit"])), durable=True)


def _to_csv(runs: Iterable[dict[str, Any]], fields: Sequence[str]) -> str:
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    for run in runs:
        writer.writerow({k: "" if run.get(k) is None else run[k] for k in fields})
    return buffer.getvalue()
