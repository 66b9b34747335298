"""Writing and reading a snapshot folder: one writer, one reader, one streaming table iterator.

`snapshot.json` names the project, the server URL, the taxonomy version, the row counts and a SHA-256
of every table file, and says `complete: true`. Every read checks a table against that hash while it
streams (`iter_table`), so a table edited by hand or damaged is refused, naming the file, and no
table is ever held in memory to be checked. The document tables are written and read in document
order (`iter_groups`: one document's rows at a time).

All files are written into a new sibling folder which is then exchanged with the old one in a single
`renameat2(RENAME_EXCHANGE)` call, so a reader sees either the previous snapshot or the new one, never
a mix; where that call is missing, two renames are used and every reader recovers from a crash
between them.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import hashlib
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from corpuskit.errors import DataError, UsageError
from corpuskit.files import atomic_write, fsync_dir
from corpuskit.snapshot.format import (
    FORMAT,
    GROUP_KEY,
    GROUPED_TABLES,
    META_FILE,
    ORDER_KEY,
    TABLES,
    Row,
    jsonl_line,
    meta_bytes,
    table_file,
)

_BLOCK = 1 << 20


@dataclass
class Snapshot:
    """A snapshot read back: its metadata and the rows of each table read."""

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


# --- hashes: the one integrity check ------------------------------------------------------------------


def table_sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def file_sha256(path: Path) -> str:
    """SHA-256 of a file, read in blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(_BLOCK), b""):
            digest.update(block)
    return digest.hexdigest()


def _mismatch(file: Path) -> DataError:
    return DataError(f"{file}: does not match the SHA-256 in {META_FILE} (edited by hand or damaged)")


def _expected(meta: Mapping[str, Any], file: Path) -> str | None:
    files = meta.get("files")
    value = files.get(file.name) if isinstance(files, Mapping) else None
    return value if isinstance(value, str) else None


def _table_path(folder: Path, table: str) -> Path:
    if table not in TABLES:
        raise ValueError(f"unknown snapshot table {table!r} (one of {', '.join(TABLES)})")
    return folder / table_file(table)


def verify_tables(folder: str | os.PathLike[str], tables: Iterable[str] = TABLES) -> dict[str, Any]:
    """Check `tables` against `snapshot.json` without parsing them; return the metadata."""
    path = Path(folder)
    meta = read_meta(path)
    for table in tables:
        file = _table_path(path, table)
        try:
            digest = file_sha256(file)
        except FileNotFoundError as exc:
            raise DataError(f"{file}: missing from the snapshot; run `corpuskit pull`") from exc
        if digest != _expected(meta, file):
            raise _mismatch(file)
    return meta


# --- reading ----------------------------------------------------------------------------------------------


def read_meta(folder: str | os.PathLike[str]) -> dict[str, Any]:
    """`snapshot.json` of a complete snapshot (UsageError when there is none, DataError when broken)."""
    path = Path(folder)
    recover(path)
    meta_path = path / META_FILE
    if not meta_path.is_file():
        raise UsageError(f"{path}: no snapshot here ({META_FILE} is missing); run `corpuskit pull` first")
    try:
        meta = orjson.loads(meta_path.read_bytes())
    except orjson.JSONDecodeError as exc:
        raise DataError(f"{meta_path}: not valid JSON: {exc}") from exc
    if not isinstance(meta, dict) or meta.get("complete") is not True:
        raise DataError(f"{meta_path}: the snapshot is not marked complete")
    return meta


def is_snapshot(folder: str | os.PathLike[str]) -> bool:
    """Whether `folder` was written by `write_snapshot` (it has `snapshot.json`)."""
    path = Path(folder)
    recover(path)
    return (path / META_FILE).is_file()


def iter_table(
    folder: str | os.PathLike[str], table: str, *, meta: Mapping[str, Any] | None = None
) -> Iterator[Row]:
    """The rows of one table, one at a time, checked against `snapshot.json` as they stream.

    A line that is not a JSON object raises DataError naming file and line; a table whose bytes do
    not match the recorded SHA-256 raises DataError naming the file, after its last row at the
    latest. `meta` (from `read_meta`) saves reading `snapshot.json` again."""
    path = Path(folder)
    if meta is None:
        meta = read_meta(path)
    file = _table_path(path, table)
    expected = _expected(meta, file)
    digest = hashlib.sha256()
    try:
        handle = file.open("rb")
    except FileNotFoundError as exc:
        raise DataError(f"{file}: missing from the snapshot; run `corpuskit pull`") from exc
    with handle:
        for number, line in enumerate(handle, start=1):
            digest.update(line)
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise DataError(f"{file}:{number}: not valid JSON: {exc}") from None
            if not isinstance(row, dict):
                raise DataError(f"{file}:{number}: expected a JSON object")
            yield row
    if digest.hexdigest() != expected:
        raise _mismatch(file)


def iter_groups(
    folder: str | os.PathLike[str], table: str, *, meta: Mapping[str, Any] | None = None
) -> Iterator[tuple[str, list[tuple[int, Row]]]]:
    """The rows of a document table one document at a time: `(document_id, [(line, row), ...])`.

    Only one document's rows are ever held. The table must be sorted by `document_id`, which
    `write_snapshot` guarantees; a row out of that order (a table sorted otherwise by hand or by
    another tool) raises DataError naming file and line and how to rewrite it, as does a row
    without a string `document_id`."""
    if table not in GROUPED_TABLES:
        raise ValueError(f"{table!r} is not grouped by document (one of {', '.join(GROUPED_TABLES)})")
    file = Path(folder) / table_file(table)
    current: str | None = None
    rows: list[tuple[int, Row]] = []
    for number, row in enumerate(iter_table(folder, table, meta=meta), start=1):
        key = row.get(GROUP_KEY)
        if not isinstance(key, str):
            raise DataError(f"{file}:{number}: {GROUP_KEY}: missing or not a string")
        if key != current:
            if current is not None:
                if key < current:
                    raise DataError(
                        f"{file}:{number}: {GROUP_KEY} {key!r} comes after {current!r}: the table is "
                        f"not sorted by {GROUP_KEY} as the snapshot format requires (docs/snapshots.md); "
                        "run `corpuskit pull` to write it again"
                    )
                yield current, rows
            current, rows = key, []
        rows.append((number, row))
    if current is not None:
        yield current, rows


def read_snapshot(folder: str | os.PathLike[str], tables: Iterable[str] = TABLES) -> Snapshot:
    """Read a complete snapshot folder; every table read is checked against `snapshot.json`."""
    path = Path(folder)
    meta = read_meta(path)
    snapshot = Snapshot(folder=path, meta=meta)
    for table in tables:
        snapshot.tables[table] = list(iter_table(path, table, meta=meta))
    return snapshot


# --- writing ----------------------------------------------------------------------------------------------


def write_jsonl(path: Path, rows: Iterable[Mapping[str, Any]]) -> Path:
    """Write rows as JSONL (the snapshot's serialiser) atomically: `gold.jsonl`, `adjudications.jsonl`."""
    return atomic_write(path, (jsonl_line(row) for row in rows))


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


def write_snapshot(
    folder: Path, tables: Mapping[str, Iterable[Mapping[str, Any]]], meta: Mapping[str, Any]
) -> bool:
    """Write the tables and `snapshot.json` (meta + counts + file hashes + complete) atomically.

    Each table is streamed: its rows (any iterable) are serialised, hashed and written one line at
    a time into a staging folder, so no table's bytes are ever held whole and each byte is hashed
    once. Returns False, removing the staging folder and touching nothing else, when the folder
    already holds exactly these tables (so a re-pull of an unchanged project keeps every byte,
    `exported_at` included)."""
    recover(folder)
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=parent))
    try:
        hashes: dict[str, str] = {}
        counts: dict[str, int] = {}
        for table in TABLES:
            name = table_file(table)
            rows = tables.get(table, ())
            if table in GROUPED_TABLES:
                rows = _in_document_order(table, rows)
            hashes[name], counts[table] = _write_table(staging / name, rows)
        previous = _previous_meta(folder)
        if previous is not None and previous.get("files") == hashes and _unchanged(folder):
            same_meta = {k: v for k, v in meta.items() if k != "exported_at"}
            old_meta = {k: previous.get(k) for k in same_meta}
            if old_meta == same_meta:
                return False
        full = {
            **meta,
            "format": FORMAT,
            "counts": counts,
            "files": hashes,
            ORDER_KEY: GROUP_KEY,
            "complete": True,
        }
        if folder.is_dir():
            _carry_over(folder, staging)
        # snapshot.json is written last: a folder without it is never taken for a snapshot.
        atomic_write(staging / META_FILE, meta_bytes(full))
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


def _in_document_order(table: str, rows: Iterable[Mapping[str, Any]]) -> Iterator[Mapping[str, Any]]:
    """The rows, checked to come sorted by document as the format promises (`iter_groups`)."""
    previous = ""
    for number, row in enumerate(rows, start=1):
        key = row.get(GROUP_KEY)
        if not isinstance(key, str) or key < previous:
            raise ValueError(
                f"{table} row {number}: {GROUP_KEY} {key!r} after {previous!r}: a snapshot's "
                f"{table} must be written sorted by {GROUP_KEY}"
            )
        previous = key
        yield row


def _write_table(path: Path, rows: Iterable[Mapping[str, Any]]) -> tuple[str, int]:
    """Stream rows into a new table file (durably); its SHA-256 and row count."""
    digest = hashlib.sha256()
    count = 0
    pending: list[bytes] = []
    size = 0
    with open(path, "xb") as handle:
        for row in rows:
            line = jsonl_line(row)
            pending.append(line)
            size += len(line)
            count += 1
            if size >= _BLOCK:
                block = b"".join(pending)
                digest.update(block)
                handle.write(block)
                pending.clear()
                size = 0
        block = b"".join(pending)
        digest.update(block)
        handle.write(block)
        handle.flush()
        os.fsync(handle.fileno())
    return digest.hexdigest(), count


def _previous_meta(folder: Path) -> dict[str, Any] | None:
    try:
        return read_meta(folder)
    except (UsageError, DataError):
        return None


def _unchanged(folder: Path) -> bool:
    """The tables on disk still match their recorded hashes."""
    try:
        verify_tables(folder)
    except (UsageError, DataError):
        return False
    return True


def _carry_over(folder: Path, staging: Path) -> None:
    """Files in the folder that the snapshot does not own (gold labels, adjudications, notes) move with it."""
    own = {table_file(table) for table in TABLES} | {META_FILE}
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
