"""Atomic file writes: a temporary file beside the target, flushed, then renamed into place.

A reader sees either the old file or the whole new one, never a half-written file, and two
processes writing the same target both leave a whole file. A full disk is reported as a
:class:`~headstart.errors.StorageError`, with the previous file (if any) left intact.
"""

from __future__ import annotations

import errno
import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO, Callable

from .errors import StorageError

NO_SPACE = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG})


def _no_space(error: BaseException | None) -> bool:
    """Whether ``error`` or an exception it was raised from is a full disk, quota or file-size limit (torch
    reports a full disk as a RuntimeError raised while handling the OSError)."""
    while error is not None:
        if isinstance(error, OSError) and error.errno in NO_SPACE:
            return True
        error = error.__cause__ or error.__context__
    return False


def _free_megabytes(folder: Path) -> float:
    try:
        return shutil.disk_usage(folder).free / 1e6
    except OSError:
        return float("nan")


def check_writable_folder(folder: str | Path, *, option: str = "--out") -> Path:
    """Refuse, before any work is done, an output folder that cannot be written; create nothing.

    Fails on an existing file in its place (or above it) and on a place the user cannot write (permissions,
    a read-only file system), naming ``option`` in the fix.
    """
    folder = Path(folder)
    existing = next(p for p in (folder, *folder.absolute().parents) if p.exists())
    if not existing.is_dir():
        where = "exists and is a file" if existing == folder else f"is inside {existing}, which is a file"
        raise StorageError(f"{where}, but {option} names a folder to write into.", path=folder,
                           fix=f"Pass {option} a folder name (new or existing), e.g. {option} {folder.stem}-out/.")
    try:
        handle, probe = tempfile.mkstemp(prefix=".headstart-probe-", dir=existing)
        os.close(handle)
        os.unlink(probe)
    except OSError as error:
        raise StorageError(f"cannot be written ({error.strerror} in {existing}).", path=folder,
                           fix=f"Pass {option} a folder you can write to.") from None
    return folder


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_atomically(path: str | Path, write: Callable[[BinaryIO], object], *, durable: bool = False) -> Path:
    """Call ``write(stream)`` on a temporary file beside ``path``, then rename it to ``path``.

    ``durable`` also fsyncs the data before the rename (for files that must survive a crash).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(handle, "wb") as stream:
            write(stream)
            if durable:
                stream.flush()
                os.fsync(stream.fileno())
        os.chmod(temporary, 0o666 & ~_umask())
        os.replace(temporary, path)
    except BaseException as error:
        Path(temporary).unlink(missing_ok=True)
        if _no_space(error):
            raise StorageError(f"could not be written: the disk is full ({_free_megabytes(path.parent):.0f} MB "
                               "free, or a size limit was hit); any previous version is intact.", path=path,
                               fix="Free some space, or write to another disk.") from error
        raise
    return path


def write_text_atomically(path: str | Path, text: str, *, durable: bool = False) -> Path:
    return write_atomically(path, lambda stream: stream.write(text.encode("utf-8")), durable=durable)
