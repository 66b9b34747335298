"""The annotation snapshot on disk: sorted JSONL tables plus `snapshot.json`, swapped in atomically.

A snapshot folder (`annotations/` by default) holds one `<table>.jsonl` per table (one row per line,
keys sorted, rows in a fixed order, so that git diffs are readable) and `snapshot.json`, which names the
project, the server URL, the taxonomy version, the row counts and a SHA-256 of every table file, and
says `complete: true`. Files of other tools in the folder (such as `gold.jsonl`) are carried over.

All files are written into a new sibling folder which is then exchanged with the old one in a single
`renameat2(RENAME_EXCHANGE)` call, so a reader sees either the previous snapshot or the new one, never
a mix; where that call is missing, two renames are used and `read_snapshot` recovers from a crash
between them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from corpuskit.errors import DataError, UsageError
from corpuskit.files import atomic_write, fsync_dir

Row = dict[str, Any]

TABLES: tuple[str, ...] = ("tasks", "annotations", "drafts", "predictions", "problems")
META = "snapshot.json"
FORMAT = 1
_OPTIONS = orjson.OPT_SORT_KEYS


@dataclass
class Snapshot:
    """A snapshot read back: its metadata and the rows of each table."""

    folder: Path
    meta: dict[str, Any]
    tables: dict[str, list[Row]] = field(default_factory=dict)

    @property
    def annotations(self) -> list[Row]:
        return self.tables.get("annotations", [])

    @property
    def drafts(self) -> list[Row]:
        return self.tables.get("drafts", [])

    @property
    def predictions(self) -> list[Row]:
        return self.tables.get("predictions", [])

    @property
    def problems(self) -> list[Row]:
        return self.tables.get("problems", [])

    @property
    def tasks(self) -> list[Row]:
        return self.tables.get("tasks", [])


def jsonl_bytes(rows: Iterable[Row]) -> bytes:
    """One row per line, keys sorted at every depth, UTF-8, a newline after each row."""
    return b"".join(orjson.dumps(row, option=_OPTIONS) + b"\n" for row in rows)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100


def _exchange(a: Path, b: Path) -> bool:
    """Swap two paths atomically (Linux renameat2); False where the system cannot."""
    libc_name = ctypes.util.find_library("c")
    if libc_name is None:
        return False
    libc = ctypes.CDLL(libc_name, use_errno=True)
    renameat2 = getattr(libc, "renameat2", None)
    if renameat2 is None:
        return False
    rc = renameat2(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE)
    if rc != 0:
        errno = ctypes.get_errno()
        if errno in (22, 38, 95):  # EINVAL, ENOSYS, EOPNOTSUPP: the file system cannot exchange
            return False
        raise OSError(errno, os.strerror(errno), str(b))
    return True


def _old_path(folder: Path) -> Path:
    return folder.with_name(f".{folder.name}.old")


def recover(folder: Path) -> None:
    """Finish a swap that a crash interrupted between its two renames (systems without renameat2)."""
    old = _old_path(folder)
    if old.exists() and not folder.exists():
        os.replace(old, folder)
    elif old.exists():
        shutil.rmtree(old, ignore_errors=True)


def table_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def write_snapshot(folder: Path, tables: Mapping[str, list[Row]], meta: Mapping[str, Any]) -> bool:
    """Write the tables and `snapshot.json` (meta + counts + file hashes + complete) atomically.

    Returns False, touching nothing, when the folder already holds exactly these tables (so a re-pull
    of an unchanged project keeps every byte, `exported_at` included)."""
    recover(folder)
    files = {name: jsonl_bytes(tables.get(name, [])) for name in TABLES}
    hashes = {f"{name}.jsonl": table_sha256(data) for name, data in files.items()}
    previous = _read_meta(folder)
    if previous is not None and previous.get("files") == hashes and _files_match(folder, hashes):
        same_meta = {k: v for k, v in meta.items() if k != "exported_at"}
        old_meta = {k: previous.get(k) for k in same_meta}
        if old_meta == same_meta:
            return False
    full = {
        **meta,
        "format": FORMAT,
        "counts": {name: len(tables.get(name, [])) for name in TABLES},
        "files": hashes,
        "complete": True,
    }
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=parent))
    try:
        if folder.is_dir():
            _carry_over(folder, staging)
        for name, data in files.items():
            atomic_write(staging / f"{name}.jsonl", data)
        # snapshot.json is written last: a folder without it is never taken for a snapshot.
        atomic_write(staging / META, orjson.dumps(full, option=_OPTIONS | orjson.OPT_INDENT_2) + b"\n")
        os.chmod(staging, 0o755)
        fsync_dir(staging)
        if not folder.exists():
            os.replace(staging, folder)
        elif _exchange(staging, folder):
            shutil.rmtree(staging)
        else:
            old = _old_path(folder)
            os.replace(folder, old)
            os.replace(staging, folder)
            shutil.rmtree(old)
        fsync_dir(parent)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return True


def _carry_over(folder: Path, staging: Path) -> None:
    """Files in the folder that the snapshot does not own (gold labels, notes) move with it."""
    own = {f"{name}.jsonl" for name in TABLES} | {META}
    for entry in folder.iterdir():
        if entry.name in own:
            continue
        target = staging / entry.name
        if entry.is_dir() and not entry.is_symlink():
            shutil.copytree(entry, target, symlinks=True, copy_function=_link_or_copy)
        else:
            _link_or_copy(str(entry), str(target))


def _link_or_copy(src: str, dst: str) -> str:
    try:
        os.link(src, dst, follow_symlinks=False)
    except OSError:
        shutil.copy2(src, dst, follow_symlinks=False)
    return dst


def _files_match(folder: Path, hashes: Mapping[str, str]) -> bool:
    for name, digest in hashes.items():
        try:
            if table_sha256((folder / name).read_bytes()) != digest:
                return False
        except OSError:
            return False
    return True


def _read_meta(folder: Path) -> dict[str, Any] | None:
    try:
        data = orjson.loads((folder / META).read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def read_snapshot(folder: str | os.PathLike[str], tables: Iterable[str] = TABLES) -> Snapshot:
    """Read a complete snapshot folder; every table is checked against the hash in `snapshot.json`."""
    path = Path(folder)
    recover(path)
    meta_path = path / META
    if not meta_path.is_file():
        raise UsageError(f"{path}: no snapshot here ({META} is missing); run `corpuskit pull` first")
    try:
        meta = orjson.loads(meta_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise DataError(f"{meta_path}: not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("complete") is not True:
        raise DataError(f"{meta_path}: the snapshot is not marked complete")
    snapshot = Snapshot(folder=path, meta=meta)
    hashes = meta.get("files", {})
    for name in tables:
        file = path / f"{name}.jsonl"
        try:
            data = file.read_bytes()
        except FileNotFoundError as exc:
            raise DataError(f"{file}: missing from the snapshot") from exc
        if hashes.get(file.name) != table_sha256(data):
            raise DataError(f"{file}: does not match the SHA-256 in {META} (edited by hand or damaged)")
        rows: list[Row] = []
        for number, line in enumerate(data.splitlines(), start=1):
            try:
                rows.append(orjson.loads(line))
            except orjson.JSONDecodeError as exc:
                raise DataError(f"{file}:{number}: not valid JSON: {exc}") from exc
        snapshot.tables[name] = rows
    return snapshot
