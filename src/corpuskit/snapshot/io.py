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
import heapq
import os
import pickle
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
    staging = _staging(folder)
    try:
        hashes: dict[str, str] = {}
        counts: dict[str, int] = {}
        for table in TABLES:
            name = table_file(table)
            rows = tables.get(table, ())
            if table in GROUPED_TABLES:
                rows = _in_document_order(table, rows)
            hashes[name], counts[table] = _write_table(staging / name, rows)
        return _commit(folder, staging, hashes, counts, meta)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)


# Rows a table holds (serialised) before it sorts and writes them; about 30 MB of rows at 4 KB.
RUN_ROWS = 8192
# Keys pickled together in a spilled run's key file: what a merge holds per run.
_KEY_BATCH = 1024


class SnapshotWriter:
    """A snapshot written row by row, in whatever order the rows come, then committed as
    `write_snapshot` does (same bytes, same hashes, same atomic exchange).

    Each row comes with its sort key; a table's rows are written in key order (ties in the order
    they came). Rows are held serialised, `run_rows` at most per table, sorted, and appended to the
    table file while they come in order (the usual case: an export in document order), so memory
    stays bounded and the file is written once. A group of rows that sorts before what was written
    starts a spilled run in a temporary folder inside the staging folder; the runs are merged
    (`heapq.merge`) when the snapshot is committed, one batch of keys per run in memory.
    Nothing outside the staging folder changes before `commit`; `discard` (or leaving the `with`
    block by an exception) removes it."""

    def __init__(self, folder: Path, *, run_rows: int = RUN_ROWS) -> None:
        if run_rows < 1:
            raise ValueError("run_rows must be at least 1")
        self.folder = folder
        self.staging = _staging(folder)
        self.run_rows = run_rows
        self.tables: dict[str, _SortedTable] = {}
        try:
            for table in TABLES:
                self.tables[table] = _SortedTable(self.staging, table, run_rows)
        except BaseException:
            self.discard()
            raise

    def add(self, table: str, key: Any, row: Mapping[str, Any]) -> None:
        """One row of `table` and its sort key: a value comparable with the table's other keys; for
        a document table (`GROUPED_TABLES`) a tuple that starts with the row's `document_id`."""
        self.tables[table].add(key, row)

    def add_line(self, table: str, key: Any, line: bytes) -> None:
        """`add` for a row already serialised (`jsonl_line`), by a caller that made its key from
        the row (the key's `document_id` is not checked against the line)."""
        self.tables[table].add_line(key, line)

    def commit(self, meta: Mapping[str, Any]) -> bool:
        """Finish every table and swap the folder in (False, changing nothing, when the folder
        already holds exactly these tables and this metadata but `exported_at`)."""
        try:
            hashes: dict[str, str] = {}
            counts: dict[str, int] = {}
            for table, sink in self.tables.items():
                hashes[table_file(table)], counts[table] = sink.finish()
            return _commit(self.folder, self.staging, hashes, counts, meta)
        finally:
            self.discard()

    def discard(self) -> None:
        for sink in self.tables.values():
            sink.close()
        if self.staging.exists():
            shutil.rmtree(self.staging, ignore_errors=True)

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        if exc[0] is not None:
            self.discard()


class _Run:
    """A sorted stretch of one table: its lines in a file, their keys in batches in another."""

    def __init__(self, lines: Path, keys: Path, digest: Any = None) -> None:
        self.lines = lines
        self.digest = digest  # the table's hash while this run is the table file
        self.keys_path = keys
        self.handle = open(lines, "xb")  # noqa: SIM115 - closed by `close`
        self.keys = open(keys, "xb")  # noqa: SIM115 - closed by `close`
        self.last: Any = None
        self.empty = True

    def append(self, batch: list[tuple[Any, bytes]]) -> None:
        block = b"".join(line for _, line in batch)
        if self.digest is not None:
            self.digest.update(block)
        self.handle.write(block)
        for start in range(0, len(batch), _KEY_BATCH):
            pickle.dump([key for key, _ in batch[start : start + _KEY_BATCH]], self.keys, 5)
        self.last = batch[-1][0]
        self.empty = False

    def close(self) -> None:
        self.keys.close()
        self.handle.close()

    def read(self) -> Iterator[tuple[Any, bytes]]:
        with open(self.keys_path, "rb") as keys, open(self.lines, "rb") as lines:
            while True:
                try:
                    batch = pickle.load(keys)
                except EOFError:
                    return
                for key in batch:
                    yield key, lines.readline()


class _SortedTable:
    """One table of a `SnapshotWriter`: rows buffered, sorted, written in key order."""

    def __init__(self, staging: Path, table: str, run_rows: int) -> None:
        self.table = table
        self.grouped = table in GROUPED_TABLES
        self.path = staging / table_file(table)
        self.spill = staging / ".runs"
        self.spill.mkdir(exist_ok=True)
        self.run_rows = run_rows
        self.buffer: list[tuple[Any, bytes]] = []
        self.seen = 0
        # The first run is the table file itself: it stays the table when the rows come in order.
        self.runs = [_Run(self.path, self.spill / f"{table}-0.keys", hashlib.sha256())]

    def add(self, key: Any, row: Mapping[str, Any]) -> None:
        if self.grouped and not (
            isinstance(key, tuple) and key and isinstance(key[0], str) and key[0] == row.get(GROUP_KEY)
        ):
            # The format promises document order (`iter_groups`): the key must start with it.
            raise ValueError(f"{self.table}: a row's sort key must start with its {GROUP_KEY}")
        self.add_line(key, jsonl_line(row))

    def add_line(self, key: Any, line: bytes) -> None:
        if self.grouped and not (isinstance(key, tuple) and key and isinstance(key[0], str)):
            raise ValueError(f"{self.table}: a row's sort key must start with its {GROUP_KEY}")
        self.buffer.append((key, line))
        self.seen += 1
        if len(self.buffer) >= self.run_rows:
            self._flush()

    def _flush(self) -> None:
        if not self.buffer:
            return
        self.buffer.sort(key=_first)  # stable: rows with equal keys stay in the order they came
        run = self.runs[-1]
        if not run.empty and self.buffer[0][0] < run.last:
            # These rows sort before some already written: a run of their own, merged at the end.
            number = len(self.runs)
            run = _Run(self.spill / f"{self.table}-{number}", self.spill / f"{self.table}-{number}.keys")
            self.runs.append(run)
        run.append(self.buffer)
        self.buffer = []

    def finish(self) -> tuple[str, int]:
        """The table file complete and durable: its SHA-256 and row count."""
        self._flush()
        if len(self.runs) == 1:
            first = self.runs[0]
            first.handle.flush()
            os.fsync(first.handle.fileno())
        self.close()
        if len(self.runs) > 1:
            first = self.runs[0]
            moved = self.spill / f"{self.table}-0"
            os.replace(first.lines, moved)
            first.lines = moved
            merged = heapq.merge(*(run.read() for run in self.runs), key=_first)
            digest = hashlib.sha256()
            _write_table_lines(self.path, (line for _, line in merged), digest)
            return digest.hexdigest(), self.seen
        return self.runs[0].digest.hexdigest(), self.seen

    def close(self) -> None:
        for run in self.runs:
            run.close()


def _first(item: tuple[Any, bytes]) -> Any:
    return item[0]


def _staging(folder: Path) -> Path:
    """A new, empty staging folder beside `folder`."""
    recover(folder)
    parent = folder.parent
    parent.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f".{folder.name}.new-", dir=parent))


def _commit(
    folder: Path, staging: Path, hashes: dict[str, str], counts: dict[str, int], meta: Mapping[str, Any]
) -> bool:
    """Write `snapshot.json` into the staging folder and swap it in; False when nothing changed."""
    shutil.rmtree(staging / ".runs", ignore_errors=True)
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
    parent = folder.parent
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

    def lines() -> Iterator[bytes]:
        nonlocal count
        for row in rows:
            count += 1
            yield jsonl_line(row)

    _write_table_lines(path, lines(), digest)
    return digest.hexdigest(), count


def _write_table_lines(path: Path, lines: Iterable[bytes], digest: Any) -> None:
    """Write serialised rows into a new file in blocks (durably), hashing each block once."""
    pending: list[bytes] = []
    size = 0
    with open(path, "xb") as handle:
        for line in lines:
            pending.append(line)
            size += len(line)
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
