"""User-facing errors: each names what was wrong, where, and how to fix it.

The CLI prints a ``HeadstartError`` as one message without a traceback and exits 1.
"""

from __future__ import annotations

from pathlib import Path


class HeadstartError(Exception):
    """Base class for every error meant for the user rather than a developer."""

    def __init__(self, problem: str, *, path: str | Path | None = None, fix: str | None = None):
        self.problem = problem
        self.path = str(path) if path is not None else None
        self.fix = fix
        super().__init__(self.message)

    @property
    def message(self) -> str:
        where = f"{self.path}: " if self.path else ""
        fix = f"\n  Fix: {self.fix}" if self.fix else ""
        return f"{where}{self.problem}{fix}"


class DataError(HeadstartError):
    """The training or evaluation data cannot be used as given."""


class BackboneError(HeadstartError):
    """A backbone name is unknown or its weights cannot be found."""


class BundleError(HeadstartError):
    """A saved model file is missing, foreign, damaged or of another format version."""


class ConfigError(HeadstartError):
    """Options that contradict each other or are out of range."""


class StorageError(HeadstartError):
    """A file cannot be written: a full disk, a read-only or foreign place, a file where a folder should be."""


class NotAnImageError(DataError):
    """An input given as an image is not one at all (as opposed to a damaged image)."""
