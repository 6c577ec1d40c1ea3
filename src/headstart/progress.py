"""One progress bar style for long work (rich)."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Callable, Iterator

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, \
    TimeRemainingColumn

Advance = Callable[..., None]


@contextmanager
def progress_bar(total: int, description: str, *, enabled: bool = True,
                 transient: bool = True) -> Iterator[Advance]:
    """Yield ``advance(n, note=None)``: moves the bar by ``n`` and, given a note, shows it beside the bar.

    Shown on the terminal when ``enabled``; ``transient`` bars disappear when the work is done.
    """
    if not enabled or total == 0:
        yield lambda n, note=None: None
        return
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[note]}"))
    with Progress(*columns, transient=transient) as progress:
        task = progress.add_task(description, total=total, note="")

        def advance(n: int, note: str | None = None) -> None:
            progress.update(task, advance=n, **({"note": note} if note is not None else {}))

        yield advance
