"""The compare report: PNG plots (matplotlib) and one self-contained ``report.html``."""

from __future__ import annotations

import base64
import html
import json
import re
from collections import defaultdict
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from matplotlib.ticker import FuncFormatter

from ..atomic import write_text_atomically
from ..plots import save, subplots
from .summary import aggregate, best_run, size_order, summarize_runs

__all__ = ["plot_accuracy_vs_time", "plot_confusion", "plot_learning_curves", "write_report"]


def plot_learning_curves(runs: Sequence[dict[str, Any]], path: Path, title: str = "Learning curves",
                         unit: str = "images") -> Path:
    """Test accuracy against labelled examples per class (log x): mean ± std over seeds, a line per strategy."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in aggregate(runs, unit):
        series[row["strategy"]].append(row)
    fig, ax = subplots(figsize=(7.5, 4.8), dpi=110)
    for strategy, rows in series.items():
        x = np.array([r["images_per_class"] for r in rows])
        mean = np.array([r["accuracy_mean"] for r in rows]) * 100
        std = np.array([r["accuracy_std"] for r in rows]) * 100
        (line,) = ax.plot(x, mean, marker="o", label=strategy)
        ax.fill_between(x, mean - std, mean + std, color=line.get_color(), alpha=0.15, linewidth=0)
    ax.set_xscale("log")
    sizes = sorted({r["images_per_class"] for rows in series.values() for r in rows})
    ax.set_xticks(sizes, [f"{s:g}" for s in sizes])
    ax.minorticks_off()
    ax.set_xlabel(f"labelled training {unit} per class")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)


def plot_accuracy_vs_time(runs: Sequence[dict[str, Any]], path: Path, unit: str = "images") -> Path:
    """Mean test accuracy against mean training wall time (log x), a point per strategy and size."""
    series: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in aggregate(runs, unit):
        series[row["strategy"]].append(row)
    fig, ax = subplots(figsize=(7.5, 4.8), dpi=110)
    for strategy, rows in series.items():
        seconds = [r["seconds_mean"] for r in rows]
        accuracy = [r["accuracy_mean"] * 100 for r in rows]
        ax.plot(seconds, accuracy, marker="o", linestyle=":", label=strategy)
        for s, a, r in zip(seconds, accuracy, rows):
            ax.annotate(str(r["per_class"]), (s, a), textcoords="offset points", xytext=(4, 4), fontsize=7)
    ax.set_xscale("log")
    ax.xaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax.xaxis.set_minor_formatter(FuncFormatter(lambda value, _: ""))
    ax.set_xlabel(f"training wall time per run (s, log scale; labels: {unit} per class)")
    ax.set_ylabel("test accuracy (%)")
    ax.set_title("Accuracy vs. training time")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    return save(fig, path)


def plot_confusion(run: dict[str, Any], classes: Sequence[str], path: Path) -> Path:
    """The confusion matrix (rows true, columns predicted) of one run, counts written in the cells."""
    matrix = np.asarray(run["confusion_matrix"])
    size = 2.5 + 0.45 * len(classes)
    fig, ax = subplots(figsize=(size + 1.5, size), dpi=110)
    ax.imshow(matrix, cmap="Blues")
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=7,
                color="white" if count > matrix.max() / 2 else "black")
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(f"{run['strategy']}, {run['per_class']} per class, seed {run['seed']}: "
                 f"{run['accuracy']:.1%}", fontsize=9)
    return save(fig, path)


def write_report(runs: list[dict[str, Any]], meta: dict[str, Any], out: Path) -> Path:
    """Write the three plots and ``report.html`` (plots embedded as base64) into ``out``."""
    out = Path(out)
    if not runs:
        return _write(out / "report.html", "<p>No runs finished yet.</p>", meta)
    settings, unit = meta["settings"], meta.get("unit", "images")
    best = best_run(runs)
    plots = {"Learning curves": plot_learning_curves(runs, out / "learning_curves.png", unit=unit),
             "Accuracy vs. training time": plot_accuracy_vs_time(runs, out / "accuracy_vs_time.png", unit=unit),
             "Confusion matrix of the best run": plot_confusion(best, settings["classes"],
                                                                out / "confusion_matrix.png")}
    summary = "".join(f"<li>{_code(html.escape(line))}</li>" for line in summarize_runs(runs, unit=unit))
    figures = "".join(f"<figure><img alt='{html.escape(name)}' src='data:image/png;base64,"
                      f"{base64.b64encode(path.read_bytes()).decode()}'><figcaption>{html.escape(name)}"
                      f"</figcaption></figure>" for name, path in plots.items())
    body = (f"<h2>Summary</h2><ul>{summary}</ul>{figures}"
            f"<h2>Test accuracy (mean ± std over seeds)</h2>{_matrix(runs, 'accuracy', unit)}"
            f"<h2>Training wall time per run (mean, seconds)</h2>{_matrix(runs, 'seconds', unit)}"
            f"{_advice_section(out)}{_inspect_pictures(out)}<h2>Setup</h2>{_setup(runs, meta)}"
            f"<h2>Every run</h2>{_all_runs(runs, unit)}")
    return _write(out / "report.html", body, meta)


INSPECT_PICTURES = {"filters.png": "First-layer filters", "feature_maps.png": "Feature maps, early to late",
                    "stage_probes.png": "Probe accuracy and BatchNorm shift per stage",
                    "weight_movement.png": "How far fine-tuning moved each stage", "grad_cam.png": "Grad-CAM"}


def _inspect_pictures(out: Path) -> str:
    """Links to the pictures ``headstart inspect ... --out OUT/inspect`` wrote, when there are any."""
    found = [(name, title) for name, title in INSPECT_PICTURES.items() if (out / "inspect" / name).exists()]
    if not found:
        return ""
    links = "".join(f"<li><a href='inspect/{name}'>{html.escape(title)}</a></li>" for name, title in found)
    return f"<h2>What the layers learned (<code>headstart inspect</code>)</h2><ul>{links}</ul>"


def _advice_section(out: Path) -> str:
    """What ``headstart advise`` says about this data (``advice.json`` beside the results), when it is there."""
    path = out / "advice.json"
    if not path.exists():
        return ""
    advice = json.loads(path.read_text())
    ranked = [s for s in advice["ranking"]["scores"] if s["skipped"] is None]
    rows = "".join(
        f"<tr><td>{html.escape(s['name'])}</td><td>{s['logme']:.3f}</td><td>{s['probe_accuracy']:.1%}</td>"
        + "".join(f"<td>{p['accuracy']:.1%} ({p['low']:.1%}–{p['high']:.1%})</td>" for p in s["curve"]["predictions"])
        + "</tr>" for s in ranked)
    steps = "".join(f"<li>{_code(html.escape(step))}</li>" for step in advice["next_steps"])
    return ("<h2>Advice (<code>headstart advise --backbones</code>)</h2><table><tr><th>backbone</th><th>LogME</th>"
            "<th>linear probe (CV)</th><th>expected now</th><th>at 2× the data</th><th>at 10× the data</th></tr>"
            f"{rows}</table><ul>{steps}</ul>")


def _write(path: Path, body: str, meta: dict[str, Any]) -> Path:
    title = html.escape(f"headstart compare: {meta['settings']['backbone']} on {meta['data']['source']}")
    style = ("body{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}"
             "table{border-collapse:collapse;font-size:13px;margin:.5em 0}td,th{border:1px solid #ccc;"
             "padding:3px 8px;text-align:right}th:first-child,td:first-child{text-align:left}"
             "img{max-width:100%}figure{margin:1em 0}li{margin:.3em 0}code{background:#f3f3f3;padding:0 3px}")
    write_text_atomically(path, f"<!doctype html><html><head><meta charset='utf-8'><title>{title}</title>"
                       f"<style>{style}</style></head><body><h1>{title}</h1>{body}</body></html>")
    return path


def _code(text: str) -> str:
    return re.sub(r"`([^`]+)`", r"<code>\1</code>", text)


def _matrix(runs: list[dict[str, Any]], field: str, unit: str) -> str:
    rows = aggregate(runs, unit)
    sizes = sorted({str(r["per_class"]) for r in rows}, key=size_order)
    cells = {(r["strategy"], str(r["per_class"])): r for r in rows}
    head = "".join(f"<th>{s} / class</th>" for s in sizes)
    lines = []
    for strategy in dict.fromkeys(r["strategy"] for r in rows):
        values = []
        for size in sizes:
            row = cells.get((strategy, size))
            if row is None:
                values.append("")
            elif field == "accuracy":
                values.append(f"{row['accuracy_mean']:.1%} ± {row['accuracy_std']:.1%}")
            else:
                values.append(f"{row['seconds_mean']:.1f}")
        lines.append(f"<tr><td>{html.escape(strategy)}</td>" + "".join(f"<td>{v}</td>" for v in values) + "</tr>")
    return f"<table><tr><th>strategy</th>{head}</tr>{''.join(lines)}</table>"


def _setup(runs: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    settings, data, machine = meta["settings"], meta["data"], meta["machine"]
    loads = [r["load_average"] for r in runs if r.get("load_average") is not None]
    test = settings["test"] or \
        f"a fixed stratified {settings['test_fraction']:.0%} of the data (seed {settings['split_seed']})"
    unit = meta.get("unit", "images")
    items = {
        "backbone": settings["backbone"],
        "training pool": f"{sum(data['pool'].values())} {unit}, {len(data['pool'])} classes "
                         f"(smallest class {min(data['pool'].values())})",
        "test set": f"{sum(data['test'].values())} {unit}: {test}",
        **({"image size": f"images about {data['native_size']} px; trained strategies at "
                          f"{settings['trained_image_size']} px, embedding strategies at "
                          f"{settings['embedding_image_size'] or 'the backbone’s own'} px"} if unit == "images" else
           {"loading": data["loading"]}),
        "subsets": "per seed one permutation per class; n per class = its first n (smaller subsets nested in "
                   "larger ones, the same for every strategy)",
        **({"validation": "embedding strategies fit on the whole subset; trained strategies hold out 20% of it "
                          "for early stopping",
            "time": "wall time of fit(): image checks, backbone load, embedding (no cached embeddings; the "
                    "inference graph exported beforehand) or training, validation. The test set's embeddings are "
                    "cached between runs (not timed)"} if unit == "images" else
           {"validation": "every strategy fits on the whole subset (fine-tuning runs a fixed number of epochs)",
            "time": "wall time of fit(): encoder load, embedding (no cached embeddings) or training. The test "
                    "set's embeddings are cached between runs (not timed)"}),
        "peak memory": "growth of this process's resident set during fit (sampled every 20 ms; data-loader "
                       "workers not included); peak CUDA memory on GPU",
        "machine": f"{machine['device']}, {machine['cpu_count']} CPUs, torch {machine['torch']} "
                   f"({machine['torch_threads']} threads)"
                   + (f"; 1-min load average {min(loads):.1f}–{max(loads):.1f} during the runs" if loads else ""),
    }
    return "<table>" + "".join(f"<tr><td>{html.escape(k)}</td><td style='text-align:left'>{html.escape(str(v))}</td>"
                               f"</tr>" for k, v in items.items()) + "</table>"


def _all_runs(runs: list[dict[str, Any]], unit: str) -> str:
    fields = ("strategy", "per_class", "seed", "accuracy", "macro_f1", "seconds", f"{unit}_per_second",
              "epochs_run", "trainable_parameters", "peak_rss_mb", "image_size")
    head = "".join(f"<th>{f}</th>" for f in fields)
    body = "".join("<tr>" + "".join(f"<td>{_cell(run.get(f))}</td>" for f in fields) + "</tr>" for run in runs)
    return f"<table><tr>{head}</tr>{body}</table>"


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}" if value < 10 else f"{value:.1f}"
    return html.escape(str(value))


