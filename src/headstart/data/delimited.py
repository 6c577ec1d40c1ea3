"""The delimiter of a CSV/TSV file, read from its header line (for images and texts alike)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DELIMITERS = {".csv": ",", ".tsv": "\t"}
CANDIDATES = (",", ";", "\t", "|")
NAMES = {",": "comma", ";": "semicolon", "\t": "tab", "|": "pipe"}


def sniff_delimiter(header: str, path: Path) -> str:
    """The suffix's usual delimiter (``,`` for .csv, tab for .tsv) if the header line holds it, else the
    candidate (``, ; tab |``) the header holds most often: a semicolon-separated ``.csv`` from a spreadsheet
    in a comma-decimal locale is read as such. Only the header is looked at, so commas inside texts never
    mislead it."""
    usual = DEFAULT_DELIMITERS.get(path.suffix.lower(), ",")
    if usual in header:
        return usual
    counts = {candidate: header.count(candidate) for candidate in CANDIDATES}
    best = max(counts, key=counts.get)
    return best if counts[best] else usual


def describe_delimiter(delimiter: str) -> str:
    """``'semicolon (;)'``, for messages."""
    return f"{NAMES.get(delimiter, 'character')} ({delimiter!r})" if delimiter != "\t" else "tab"
