"""Durable file writing: the one way corpuskit replaces a file so that a crash leaves old or new, never half.

Every writer goes through `atomic_write`: the bytes go to a temporary file in the target's folder (so
the final rename stays on one file system), are flushed and fsynced, and the temporary file is renamed
over the target. A failure at any point removes the temporary file and leaves the target untouched.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import IO

Writer = Callable[[IO[bytes]], None]


def fsync_file(path: Path) -> None:
    """Flush a written file's data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(folder: Path) -> None:
    """Make a folder's entries (a rename, a new file) durable; file systems that refuse are ignored."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(folder: Path) -> None:
    """fsync every file and folder below `folder`, deepest first, then `folder` itself."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file():
            fsync_file(path)
        else:
            fsync_dir(path)
    fsync_dir(folder)


def _default_mode() -> int:
    umask = os.umask(0o022)
    os.umask(umask)
    return 0o666 & ~umask


@contextlib.contextmanager
def _temporary(path: Path, mode: int | None) -> Iterator[tuple[IO[bytes], Path]]:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    tmp = Path(name)
    try:
        # mkstemp creates 0600; a file that is not private gets the permissions open() would give.
        os.fchmod(fd, _default_mode() if mode is None else mode)
        with os.fdopen(fd, "wb") as handle:
            yield handle, tmp
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write(path: Path, data: bytes | Iterable[bytes] | Writer, *, mode: int | None = None) -> Path:
    """Replace `path` with `data` (bytes, an iterable of byte chunks, or a function given the handle).

    `mode` sets the permissions before a single byte is written (0o600 for private files)."""
    with _temporary(path, mode) as (handle, tmp):
        if isinstance(data, bytes | bytearray | memoryview):
            handle.write(data)
        elif callable(data):
            data(handle)
        else:
            for chunk in data:
                handle.write(chunk)
    try:
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: Path, text: str, *, mode: int | None = None) -> Path:
    """`atomic_write` of UTF-8 text with the newlines as given."""
    return atomic_write(path, text.encode("utf-8"), mode=mode)


def create_new(path: Path, data: bytes) -> bool:
    """Write `path` durably unless it exists (never clobbers): False when it was already there."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with _temporary(path, None) as (handle, tmp):
        handle.write(data)
    try:
        # link() fails if the target exists, so a file created meanwhile is never replaced.
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True
