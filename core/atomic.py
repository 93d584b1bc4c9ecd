"""Write files and folders so that a crash never leaves a half-written one behind."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

# mkstemp/mkdtemp make private (0600/0700) files; finished ones get the usual permissions.
_UMASK = os.umask(0)
os.umask(_UMASK)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside `path`; rename it over `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        _fsync(tmp_path)
        os.chmod(tmp_path, 0o666 & ~_UMASK)
        os.replace(tmp_path, target)
    finally:
        tmp_path.unlink(missing_ok=True)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


@contextlib.contextmanager
def atomic_dir(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary folder beside `path`; it becomes `path` only if the block succeeds."""
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent))
    try:
        yield tmp
        for child in tmp.iterdir():
            _fsync(child)
        os.chmod(tmp, 0o777 & ~_UMASK)
        old = None
        try:
            if target.exists():  # set the old one aside first: a crash never leaves neither
                old = Path(
                    tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent)
                )
                os.rename(target, old / target.name)
            os.rename(tmp, target)
        except BaseException:
            if old is not None and (old / target.name).exists() and not target.exists():
                os.rename(old / target.name, target)  # the swap failed: the old one returns
                shutil.rmtree(old, ignore_errors=True)
            raise
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _fsync(path: Path) -> None:
    """Flush a file, or every file below a folder, to the disk."""
    if path.is_dir():
        for child in path.iterdir():
            _fsync(child)
        return
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def folder_problem(path: str | os.PathLike) -> str | None:
    """Why files cannot be written into the folder `path` (made if missing), or None.

    Asked before a long job, so a bad output folder costs nothing: a real write is tried in
    the nearest folder that exists (permissions alone miss a read-only file system).
    """
    target = Path(path)
    try:
        if target.exists() and not target.is_dir():
            return "is a file, not a folder"
        existing = target
        while not existing.exists():
            existing = existing.parent
        if not existing.is_dir():
            return f"{existing} is a file, not a folder"
    except OSError as exc:  # a name too long, a folder we may not enter
        return f"cannot be reached: {exc.strerror or exc}"
    try:
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        return f"not writable: {exc.strerror or exc}"
    return None


def file_problem(path: str | os.PathLike) -> str | None:
    """Why a file cannot be written at `path` (its folder made if missing), or None."""
    target = Path(path)
    try:
        if target.is_dir():
            return "is a folder; name the file to write"
    except OSError as exc:
        return f"cannot be reached: {exc.strerror or exc}"
    problem = folder_problem(target.parent)
    return f"{target.parent}: {problem}" if problem else None
