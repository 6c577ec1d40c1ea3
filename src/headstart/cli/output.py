"""What the commands print for a person (``--json`` prints their results instead): tables, notes, warnings."""

from __future__ import annotations

import sys
from typing import Any, Sequence, TextIO

from rich.console import Console
from rich.table import Table


def _console(stream: TextIO, **options: Any) -> Console:
    """A console that never cuts a name: at a terminal its width, piped or redirected no width limit."""
    return Console(width=None if stream.isatty() else 100_000, **options)


console = _console(sys.stdout)
err_console = _console(sys.stderr, stderr=True)


def unit(task: str) -> str:
    """What a model of ``task`` (``image``, ``text``) reads, in the plural: ``images``, ``texts``."""
    return f"{task}s"


def print_skipped(skipped: Sequence[tuple[str, str]]) -> None:
    """The files left out, ten at most (``--json`` lists all)."""
    if skipped:
        err_console.print(f"[yellow]skipped {len(skipped)} file(s):[/]")
        for file, reason in skipped[:10]:
            err_console.print(f"  {file}: {reason}")
        if len(skipped) > 10:
            err_console.print(f"  ... and {len(skipped) - 10} more (see --json)")


def print_warnings(warnings: Sequence[str]) -> None:
    for warning in warnings:
        err_console.print(f"[yellow]warning:[/] {warning}", highlight=False)


def print_text_notes(notes: dict[str, Any]) -> None:
    """Texts the encoder cut or could not read a word of (counted in metrics.json or the evaluation report)."""
    if notes.get("truncated_texts"):
        err_console.print(f"[yellow]note:[/] {notes['truncated_texts']} text(s) longer than the encoder reads were "
                          "cut to their first tokens (--max-length sets how many, up to the encoder's limit)")
    if notes.get("texts_without_known_words"):
        err_console.print(f"[yellow]note:[/] {notes['texts_without_known_words']} text(s) hold no word the word "
                          "vectors know and were embedded as zeros")


def candidate_scores(candidates: Sequence[dict[str, Any]]) -> str:
    """``frozen 80.0% on the validation split, cross-validated log loss 0.520 (3.1 s); ...`` (texts name what they
    were scored on)."""
    return "; ".join(f"{c['strategy']} {c['val_accuracy']:.1%} on {c.get('scored_on', 'the validation split')}"
                     + (f", cross-validated log loss {c['cv_log_loss']:.3f}" if c.get("cv_log_loss") is not None
                        else "") + f" ({c['seconds']:.1f} s)" for c in candidates)


def print_evaluation(report: dict[str, Any], task: str) -> None:
    """Accuracy, per-class metrics and the confusion matrix of an evaluation report."""
    table = Table(title=f"accuracy {report['accuracy']:.1%}  macro-F1 {report['macro_f1']:.3f}  "
                        f"({report['n']} {unit(task)})")
    for column in ("class", "precision", "recall", "F1", "support"):
        table.add_column(column, justify="left" if column == "class" else "right")
    for name, row in report["per_class"].items():
        table.add_row(name, f"{row['precision']:.3f}", f"{row['recall']:.3f}", f"{row['f1']:.3f}", str(row["support"]))
    console.print(table)
    matrix = Table(title="confusion matrix (rows: true, columns: predicted)")
    matrix.add_column("")
    for index in range(len(report["classes"])):
        matrix.add_column(str(index), justify="right")
    for index, (name, row) in enumerate(zip(report["classes"], report["confusion_matrix"])):
        matrix.add_row(f"{index} {name}", *map(str, row))
    console.print(matrix)


def print_predictions(rows: Sequence[dict[str, Any]], task: str, k: int) -> None:
    """One line per input: the most probable class and the next ``k - 1``; a path is wrapped, a text cut."""
    table = Table()
    if task == "image":
        table.add_column("image", overflow="fold")  # a narrow terminal wraps a path, never cuts it
    else:
        table.add_column("text")
    table.add_column("prediction")
    table.add_column(f"top {k}")
    for row in rows:
        top = row["top_k"]
        table.add_row(row["image"] if task == "image" else row["text"][:60],
                      f"{top[0]['class']} ({top[0]['probability']:.1%})",
                      ", ".join(f"{t['class']} {t['probability']:.1%}" for t in top[1:]))
    console.print(table)


def print_ranking(ranking: Any) -> None:
    """Backbones ranked by LogME, with their probe accuracy, speed and learning-curve forecast."""
    item = ranking.task  # "image" or "text"
    table = Table(title=f"backbones ranked by LogME on frozen features ({ranking.num_classes} classes, "
                        f"{ranking.per_class:g} {item}s per class)")
    for column in ("rank", "backbone", "LogME", "linear probe (CV)", f"ms per {item}", "embedded now",
                   "at 2x data", "at 10x data"):
        table.add_column(column, justify="left" if column == "backbone" else "right")
    for rank, score in enumerate(ranking.ranked, 1):
        twice, tenfold = score.curve.at(2), score.curve.at(10)
        table.add_row(str(rank), score.name, f"{score.logme:.3f}",
                      f"{score.probe_accuracy:.1%} ± {score.probe_std:.1%}", f"{1000 * score.seconds_per_item:.1f}",
                      str(score.embedded), f"{twice.accuracy:.1%}", f"{tenfold.accuracy:.1%}")
    console.print(table)
    for score in ranking.scores:
        if score.skipped:
            console.print(f"skipped {score.name}: {score.skipped}", highlight=False)


def print_stages(advice: Any) -> None:
    """The measured backbone's per-stage evidence: BatchNorm shift and linear-probe accuracy."""
    table = Table(title=f"{advice.backbone}: per-stage evidence")
    for column in ("stage", "name", "BatchNorm shift", "linear probe"):
        table.add_column(column, justify="right")
    for index, stage in enumerate(advice.stages, 1):
        shift = "-" if stage.bn_shift is None else f"{stage.bn_shift:.2f}"
        probe = "-" if stage.probe_accuracy is None else f"{stage.probe_accuracy:.0%}"
        table.add_row(str(index), stage.stage, shift, probe)
    console.print(table)


def print_backbones(rows: Sequence[dict[str, Any]]) -> None:
    columns = ("name", "task", "source", "input", "weights", "description")
    table = Table(title="backbones (any timm or torchvision architecture, word-vector file or "
                        "sentence-transformers folder also works by name)")
    for column in columns:
        table.add_column(column, overflow="fold" if column == "name" else "ellipsis")
    for row in rows:
        table.add_row(*(row[c] for c in columns))
    console.print(table)


def print_cache(info: dict[str, Any]) -> None:
    """The embedding cache's entries per extractor (backbone, stage, tta, precision)."""
    table = Table(title=f"embedding cache {info['root']}: {info['entries']} embeddings, "
                        f"{info['graphs']} exported graphs, {info['bytes'] / 1e6:.1f} MB")
    for column in ("key", "backbone", "stage", "tta", "precision", "entries", "MB"):
        table.add_column(column)
    for row in info["extractors"]:
        meta = row["extractor"]
        table.add_row(row["key"], str(meta.get("backbone", meta.get("text_encoder", "?"))), str(meta.get("stage", "?")),
                      str(meta.get("tta", "?")), str(meta.get("precision", "?")), str(row["entries"]),
                      f"{row['bytes'] / 1e6:.1f}")
    console.print(table)
