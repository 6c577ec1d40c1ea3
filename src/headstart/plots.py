"""Figures drawn with matplotlib's object API: no pyplot, so importing headstart never chooses a backend for the
user's process (a notebook keeps its own), and no figure is left open."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure


def subplots(rows: int = 1, columns: int = 1, *, figsize: tuple[float, float], dpi: float = 110,
             **options: Any) -> tuple[Figure, Any]:
    """A figure and its axes, as ``pyplot.subplots`` returns them."""
    figure = Figure(figsize=figsize, dpi=dpi)
    return figure, figure.subplots(rows, columns, **options)


def save(figure: Figure, path: Path) -> Path:
    """Write ``figure`` to ``path`` (the format from its suffix), cropped to what it draws."""
    figure.savefig(path, bbox_inches="tight")
    return path
