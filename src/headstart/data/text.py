"""Labelled texts from a CSV, TSV, JSON Lines / JSON file, or a folder of ``<class>/*.txt`` files.

Rows with an empty text or without a label are skipped and counted. Bytes that are not valid in the
chosen encoding do not drop a row: they are replaced by U+FFFD and the affected rows are counted.
"""

from __future__ import annotations

import csv
import io
import itertools
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar

from headstart.data.delimited import DEFAULT_DELIMITERS, sniff_delimiter
from headstart.errors import ConfigError, DataError

__all__ = ["LoadReport", "TASKS", "TextDataset", "data_task", "is_text_data", "load_text_dataset"]

TASKS = ("auto", "image", "text")  # what labelled data holds; auto: detected by data_task

_JSON_SUFFIXES = (".jsonl", ".json")
_TEXT_LIKE = ("text", "sentence", "review", "content", "body", "document", "comment", "message", "tweet",
              "utterance")
_IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")
_Record = tuple[dict[str, Any], bool]
_FORMATS = "use a .csv, .tsv, .jsonl or .json file, or a folder with one subfolder of .txt files per class"


@dataclass
class LoadReport:
    """What loading read, kept and skipped."""

    rows: int = 0
    empty_text: int = 0
    missing_label: int = 0
    undecodable: int = 0

    @property
    def kept(self) -> int:
        return self.rows - self.empty_text - self.missing_label

    def summary(self) -> str:
        parts = [f"read {self.rows} records, kept {self.kept}"]
        if self.empty_text:
            parts.append(f"skipped {self.empty_text} with an empty text")
        if self.missing_label:
            parts.append(f"skipped {self.missing_label} without a label")
        if self.undecodable:
            parts.append(f"{self.undecodable} kept with undecodable bytes replaced by U+FFFD")
        return "; ".join(parts)


@dataclass
class TextDataset:
    """Texts with their string labels; ``classes`` is the sorted set of labels."""

    texts: list[str]
    labels: list[str]
    classes: list[str]
    source: str
    report: LoadReport = field(default_factory=LoadReport)
    noun: ClassVar[str] = "text"

    def __len__(self) -> int:
        return len(self.texts)

    def label_names(self) -> list[str]:
        return list(self.labels)

    def subset(self, indices: Sequence[int]) -> "TextDataset":
        """The texts at ``indices``; the classes and the load report stay those of the whole set."""
        return replace(self, texts=[self.texts[i] for i in indices], labels=[self.labels[i] for i in indices])


def load_text_dataset(path: str | Path, *, text_column: str = "text", label_column: str = "label",
                      encoding: str = "utf-8", min_classes: int = 2) -> TextDataset:
    """Load labelled texts; raises ``DataError`` naming the file and the fix when they cannot be used.

    ``min_classes`` is 2 for training data; pass 1 to accept a test set that holds a single class.
    """
    path = Path(path).expanduser()
    if not path.exists():
        raise DataError("no such file or folder", path=path, fix=_FORMATS)
    report = LoadReport()
    if path.is_dir():
        texts, labels = _read_folder(path, encoding, report)
    else:
        suffix = path.suffix.lower()
        if suffix in DEFAULT_DELIMITERS:
            records, columns = _read_delimited(path, encoding)
        elif suffix in _JSON_SUFFIXES:
            records, columns = _read_json(path, encoding)
        else:
            raise DataError(f"unsupported file type '{path.suffix}'", path=path, fix=_FORMATS)
        texts, labels = _select(records, columns, path, text_column, label_column, report)
    if not texts:
        raise DataError(f"no usable examples ({report.summary()})", path=path,
                        fix="check that the file holds labelled texts and the encoding is right (--encoding)")
    classes = sorted(set(labels))
    if len(classes) < min_classes:
        raise DataError(f"all {len(texts)} examples have the label '{classes[0]}'; a classifier needs two or more "
                        "classes", path=path,
                        fix="add a subfolder of .txt files per class" if path.is_dir() else
                        "add examples of other classes, or pick the label with --label-column")
    return TextDataset(texts, labels, classes, str(path), report)


def data_task(path: str | Path, task: str = "auto", *, text_column: str = "text") -> str:
    """What ``path`` holds, ``"image"`` or ``"text"``: ``task`` when given, else detected by :func:`is_text_data`."""
    if task not in TASKS:
        raise ConfigError(f"unknown task {task!r}.", fix="Pass --task image, text or auto.")
    return task if task != "auto" else "text" if is_text_data(path, text_column=text_column) else "image"


def is_text_data(path: str | Path, *, text_column: str = "text") -> bool:
    """True if ``path`` looks like labelled text: a table with a text-like column, or class folders of .txt."""
    path = Path(path).expanduser()
    try:
        if path.is_dir():
            return _folder_is_text(path)
        suffix = path.suffix.lower()
        if suffix in DEFAULT_DELIMITERS:
            with path.open(encoding="utf-8", errors="replace", newline="") as handle:
                header = handle.readline()
            columns = next(csv.reader([header], delimiter=sniff_delimiter(header, path)), [])
        elif suffix in _JSON_SUFFIXES:
            columns = list(_first_json_record(path))
        else:
            return False
    except (OSError, ValueError, csv.Error):
        return False
    names = {str(c).strip().lstrip("\ufeff").lower() for c in columns}
    return text_column.lower() in names or any(name in names for name in _TEXT_LIKE)


def _decode(path: Path, encoding: str) -> tuple[str, bool]:
    """The file's text without BOM, and whether any bytes had to be replaced."""
    raw = path.read_bytes()
    try:
        try:
            text, replaced = raw.decode(encoding), False
        except UnicodeDecodeError:
            text, replaced = raw.decode(encoding, errors="replace"), True
    except LookupError:
        raise DataError(f"unknown text encoding '{encoding}'", path=path,
                        fix="pass a Python codec name such as utf-8, latin-1 or cp1252 with --encoding") from None
    return text.removeprefix("\ufeff"), replaced


def _read_delimited(path: Path, encoding: str) -> tuple[list[_Record], list[str]]:
    text, replaced = _decode(path, encoding)
    delimiter = sniff_delimiter(text.split("\n", 1)[0], path)
    csv.field_size_limit(max(csv.field_size_limit(), 2**31 - 1))
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        columns = list(reader.fieldnames or [])
        records = [_mark(row, replaced) for row in reader]
    except csv.Error as error:
        raise DataError(f"malformed {'TSV' if delimiter == chr(9) else 'CSV'} at line {reader.line_num}: {error}",
                        path=path, fix="check the quoting on that line") from error
    if not columns:
        raise DataError("the file is empty", path=path, fix="add a header row and one row per example")
    return records, columns


def _read_json(path: Path, encoding: str) -> tuple[list[_Record], list[str]]:
    text, replaced = _decode(path, encoding)
    if text.lstrip().startswith("["):
        try:
            items = json.loads(text)
        except json.JSONDecodeError as error:
            raise DataError(f"invalid JSON: {error}", path=path, fix="fix the JSON syntax") from error
        numbered = list(enumerate(items, 1))
    else:
        numbered = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    numbered.append((number, json.loads(line)))
                except json.JSONDecodeError as error:
                    raise DataError(f"line {number} is not valid JSON: {error}", path=path,
                                    fix="write one JSON object per line (JSON Lines)") from error
    for number, item in numbered:
        if not isinstance(item, dict):
            raise DataError(f"record {number} is a {type(item).__name__}, not an object", path=path,
                            fix='write each example as an object such as {"text": "...", "label": "..."}')
    columns = list(dict.fromkeys(key for _, item in numbered for key in item))
    return [_mark(item, replaced) for _, item in numbered], columns


def _mark(record: dict[str, Any], replaced: bool) -> _Record:
    """Pair a record with whether it holds a replacement character from undecodable bytes."""
    return record, replaced and any("\ufffd" in str(v) for v in record.values())


def _first_json_record(path: Path) -> dict[str, Any]:
    with path.open(encoding="utf-8", errors="replace") as handle:
        for line in handle:
            if line.strip():
                if line.lstrip().startswith("["):
                    break
                record = json.loads(line)
                return record if isinstance(record, dict) else {}
    items = json.loads(path.read_text(encoding="utf-8", errors="replace"))
    return items[0] if isinstance(items, list) and items and isinstance(items[0], dict) else {}


def _resolve_column(wanted: str, columns: list[str], role: str, path: Path) -> str:
    if wanted in columns:
        return wanted
    loose = [c for c in columns if str(c).strip().lower() == wanted.strip().lower()]
    if len(loose) == 1:
        return loose[0]
    found = ", ".join(repr(c) for c in columns) or "none"
    raise DataError(f"no {role} column named '{wanted}' (columns found: {found})", path=path,
                    fix=f"pass --{role}-column NAME ({role}_column= in Python) with one of the columns found")


def _select(records: list[_Record], columns: list[str], path: Path, text_column: str, label_column: str,
            report: LoadReport) -> tuple[list[str], list[str]]:
    text_key = _resolve_column(text_column, columns, "text", path)
    label_key = _resolve_column(label_column, columns, "label", path)
    texts, labels = [], []
    for record, undecodable in records:
        report.rows += 1
        text, label = _as_str(record.get(text_key)), _as_str(record.get(label_key)).strip()
        if not text.strip():
            report.empty_text += 1
        elif not label:
            report.missing_label += 1
        else:
            report.undecodable += undecodable
            texts.append(text)
            labels.append(label)
    return texts, labels


def _as_str(value: Any) -> str:
    return "" if value is None else value if isinstance(value, str) else str(value)


def _class_folders(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _read_folder(root: Path, encoding: str, report: LoadReport) -> tuple[list[str], list[str]]:
    texts, labels = [], []
    for folder in _class_folders(root):
        for file in sorted(folder.iterdir()):
            if file.suffix.lower() != ".txt" or file.name.startswith(".") or not file.is_file():
                continue
            report.rows += 1
            text, replaced = _decode(file, encoding)
            if not text.strip():
                report.empty_text += 1
                continue
            report.undecodable += replaced
            texts.append(text)
            labels.append(folder.name)
    if report.rows == 0:
        raise DataError("no .txt files found in the class subfolders", path=root,
                        fix="arrange the texts as <folder>/<class>/<name>.txt, or " + _FORMATS)
    return texts, labels


def _folder_is_text(root: Path, sample: int = 200) -> bool:
    """More .txt files than images among the first ``sample`` entries of each class folder."""
    texts = images = 0
    for folder in _class_folders(root):
        with os.scandir(folder) as entries:
            for entry in itertools.islice(entries, sample):
                suffix = os.path.splitext(entry.name)[1].lower()
                texts += suffix == ".txt"
                images += suffix in _IMAGE_SUFFIXES
    return texts > images
