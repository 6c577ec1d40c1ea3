"""Numbers over seeds, and the plain-language summary written from them."""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Iterable

import numpy as np

__all__ = ["aggregate", "best_run", "size_order", "summarize_runs"]


def size_order(size: int | str) -> float:
    return float("inf") if str(size) == "all" else float(size)


def aggregate(runs: Iterable[dict[str, Any]], unit: str = "images") -> list[dict[str, Any]]:
    """One row per (strategy, per_class): run count, accuracy/macro-F1 mean and sample std, mean times,
    and the mean training examples (``unit``) per class (the x of a learning curve; ``all`` becomes a number)."""
    groups: dict[tuple[str, str], list[dict[str, Any]]] = defaultdict(list)
    order: dict[str, int] = {}
    for run in runs:
        groups[run["strategy"], str(run["per_class"])].append(run)
        order.setdefault(run["strategy"], len(order))
    rows = []
    for (strategy, size), group in groups.items():
        accuracy = np.array([r["accuracy"] for r in group])
        rows.append({
            "strategy": strategy, "per_class": group[0]["per_class"], "runs": len(group),
            "accuracy_mean": float(accuracy.mean()),
            "accuracy_std": float(accuracy.std(ddof=1)) if len(group) > 1 else 0.0,
            "macro_f1_mean": float(np.mean([r["macro_f1"] for r in group])),
            "seconds_mean": float(np.mean([r["seconds"] for r in group])),
            "images_per_class": float(size) if size != "all" else
            float(np.mean([r[f"train_{unit}"] / len(r["confusion_matrix"]) for r in group])),
        })
    return sorted(rows, key=lambda r: (size_order(r["per_class"]), order[r["strategy"]]))


def best_run(runs: Iterable[dict[str, Any]]) -> dict[str, Any]:
    """The most accurate run; ties go to fewer images, then to the faster run."""
    return max(runs, key=lambda r: (r["accuracy"], -size_order(r["per_class"]), -r["seconds"]))


def summarize_runs(runs: list[dict[str, Any]], unit: str = "images") -> list[str]:
    """Sentences such as "With 10 images per class, `frozen` beat `scratch` by 31 points (...) and trained
    40× faster." — every number taken from ``runs``; ``unit`` names what was labelled (images, texts)."""
    if not runs:
        return []
    rows = aggregate(runs, unit)
    by_size: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in rows:
        by_size[str(row["per_class"])].append(row)
    lines = []
    for size, group in by_size.items():
        label = f"With {'all the' if size == 'all' else size} {unit} per class"
        scratch = next((r for r in group if r["strategy"] == "scratch"), None)
        ranked = sorted((r for r in group if r is not scratch), key=lambda r: -r["accuracy_mean"])
        if scratch and ranked:
            best = ranked[0]
            gap = best["accuracy_mean"] - scratch["accuracy_mean"]
            lines.append(f"{label}, `{best['strategy']}` {'beat' if gap >= 0 else 'trailed'} `scratch` by "
                         f"{_points(gap)} ({best['accuracy_mean']:.1%} vs {scratch['accuracy_mean']:.1%}) and "
                         f"{_speed(best['seconds_mean'], scratch['seconds_mean'])}.")
        elif len(ranked) >= 2:
            first, second = ranked[:2]
            lines.append(f"{label}, `{first['strategy']}` led with {first['accuracy_mean']:.1%}, "
                         f"{_points(first['accuracy_mean'] - second['accuracy_mean'])} ahead of "
                         f"`{second['strategy']}` ({second['accuracy_mean']:.1%}).")
        else:
            only = (ranked or [scratch])[0]
            lines.append(f"{label}, `{only['strategy']}` reached {only['accuracy_mean']:.1%}.")
    top = max(rows, key=lambda r: (r["accuracy_mean"], -size_order(r["per_class"])))
    lines.append(f"Best overall: `{top['strategy']}` with {top['per_class']} {unit} per class, "
                 f"{top['accuracy_mean']:.1%} ± {top['accuracy_std']:.1%} over {top['runs']} seed(s), "
                 f"{top['seconds_mean']:.1f} s to train.")
    if max(r["runs"] for r in rows) == 1:
        lines.append("Each size ran with one seed only: differences of a few points may be chance.")
    return lines


def _points(gap: float) -> str:
    points = abs(gap) * 100
    return f"{points:.1f} points" if points < 10 else f"{points:.0f} points"


def _speed(seconds: float, baseline: float) -> str:
    ratio = baseline / max(seconds, 1e-9)
    if ratio >= 1.5:
        return f"trained {ratio:.1f}× faster" if ratio < 10 else f"trained {ratio:.0f}× faster"
    if ratio <= 1 / 1.5:
        return f"took {1 / ratio:.1f}× as long to train"
    return "trained in about the same time"
