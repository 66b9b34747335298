"""Back up and restore a corpus's Label Studio: its database, its data folder and its settings.

One archive (tar, gzip-compressed when the name ends in `.gz`/`.tgz`, mode 0600: it holds the
admin token and the annotators' accounts) with `manifest.json` as its last member: the format, when
and from which server kind it was made, and the SHA-256 and size of every other member. A restore
reads the manifest first, checks every member against it in a staging folder beside the target and
only then moves the staging folder into place, so a damaged archive leaves nothing behind.

- The database is copied consistently while annotators keep labelling: SQLite through its online
  backup API (the embedded server), PostgreSQL through `pg_dump` (a team server, one transaction).
- Label Studio's data folder (its secret key, media, uploads) and corpuskit's settings of the
  server (`credentials.json`, the demo accounts; for a team server also the proxy's CA, so the
  annotators' trust survives a restore) are copied as files.
- Not copied: pid files, logs, the live database files themselves.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import sqlite3
import tarfile
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from corpuskit.errors import DataError, StudioError, UsageError
from corpuskit.files import atomic_write

FORMAT = "corpuskit.studio-backup/1"
MANIFEST = "manifest.json"
DATABASE_DIR = "database"
SQLITE_NAME = "label_studio.sqlite3"
EMBEDDED = "embedded"
TEAM = "team"
# Never archived: they describe a running process or are the live database itself.
_SKIP_NAMES = {"server.json", "server.log", "port", "team.json"}
_SKIP_SUFFIXES = (
    ".sqlite3",
    ".moved-to-team",
    ".sqlite3-wal",
    ".sqlite3-shm",
    ".sqlite3-journal",
    ".pid",
    ".lock",
    ".tmp",
)
_SKIP_DIRS = {"postgres"}  # a team server's cluster: its content travels as the pg_dump


@dataclass(frozen=True)
class BackupResult:
    path: Path
    mode: str
    files: int
    bytes: int
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {
            "archive": str(self.path),
            "mode": self.mode,
            "files": self.files,
            "bytes": self.bytes,
            "sha256": self.sha256,
        }


@dataclass(frozen=True)
class RestoreResult:
    folder: Path
    mode: str
    files: int
    created_at: str

    def to_json(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "mode": self.mode,
            "files": self.files,
            "created_at": self.created_at,
        }


def _sha256(path: Path) -> str:
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def _files(data_dir: Path) -> Iterator[Path]:
    """The files of the studio folder that a backup carries, in a stable order."""
    for path in sorted(data_dir.rglob("*")):
        relative = path.relative_to(data_dir)
        if not path.is_file() or path.is_symlink():
            continue
        if relative.parts[0] in _SKIP_DIRS or path.name in _SKIP_NAMES or path.name.endswith(_SKIP_SUFFIXES):
            continue
        if path.name.startswith(".") and path.name.endswith(".tmp"):
            continue
        yield path


def _copy_sqlite(source: Path, target: Path) -> None:
    """A consistent copy of a live SQLite database (its online backup API; writers keep going)."""
    if not source.is_file():
        raise StudioError(f"{source}: no Label Studio database to back up")
    src = sqlite3.connect(f"file:{source}?mode=ro", uri=True, timeout=60)
    try:
        dst = sqlite3.connect(target)
        try:
            src.backup(dst, pages=256)
        finally:
            dst.close()
    finally:
        src.close()


def server_mode(data_dir: Path) -> str:
    """`team` when the folder holds a team server's PostgreSQL cluster, else `embedded`."""
    return TEAM if (data_dir / "postgres").is_dir() else EMBEDDED


def _dump_team(data_dir: Path, target: Path) -> None:
    """pg_dump the team server's database: from the running cluster, else from the cluster started
    for the dump alone (and stopped again)."""
    from corpuskit.studio import postgres, server, teamserver

    password = teamserver.load_database_password(data_dir)
    if password is None:
        raise StudioError(f"{data_dir / server.DATABASE_FILE}: missing; this team server cannot be read")
    running = teamserver.status(data_dir)
    if running is not None and running.database is not None and running.alive.get(teamserver.POSTGRES):
        postgres.dump(running.database.port, password, target)
        return
    cluster = postgres.start(data_dir / server.POSTGRES_DIR, server.free_port(), password)
    try:
        postgres.dump(cluster.port, password, target)
    finally:
        postgres.stop(cluster.recorded())


def _restore_team(staging: Path, dump: Path) -> None:
    """A fresh cluster in the staging folder, loaded with the dump, then stopped."""
    from corpuskit.studio import postgres, server, teamserver

    password = teamserver.load_database_password(staging)
    if password is None:
        raise DataError(f"{server.DATABASE_FILE}: missing from the backup; its database cannot be restored")
    postgres.allow_passage(staging)
    cluster = postgres.start(staging / server.POSTGRES_DIR, server.free_port(), password)
    try:
        postgres.restore_dump(cluster.port, password, dump)
    finally:
        postgres.stop(cluster.recorded())


def backup(data_dir: Path, target: Path) -> BackupResult:
    """Write a backup archive of the studio folder `data_dir` to `target` (never overwritten)."""
    from corpuskit.studio import server

    data_dir = Path(data_dir).resolve()
    target = Path(target).resolve()
    if not (data_dir / server.CREDENTIALS_FILE).is_file():
        raise UsageError(f"{data_dir}: no Label Studio here to back up (no {server.CREDENTIALS_FILE})")
    if target.exists():
        raise UsageError(f"{target}: already exists; a backup never overwrites a file")
    if target.is_relative_to(data_dir):
        raise UsageError(f"{target}: inside the studio folder it backs up; write it elsewhere")
    mode = server_mode(data_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    compress = target.name.endswith((".gz", ".tgz"))
    with tempfile.TemporaryDirectory(prefix=".backup-", dir=target.parent) as scratch:
        work = Path(scratch)
        database: list[tuple[str, Path]] = []
        if mode == EMBEDDED:
            copy = work / SQLITE_NAME
            _copy_sqlite(data_dir / server.LS_DATA / SQLITE_NAME, copy)
            database.append((f"{DATABASE_DIR}/{SQLITE_NAME}", copy))
        else:
            dump = work / "labelstudio.dump"
            _dump_team(data_dir, dump)
            database.append((f"{DATABASE_DIR}/labelstudio.dump", dump))
        members = [*database, *((p.relative_to(data_dir).as_posix(), p) for p in _files(data_dir))]
        manifest: dict[str, Any] = {
            "format": FORMAT,
            "created_at": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
            "mode": mode,
            "label_studio": _label_studio_version(),
            "files": {},
        }

        def write(raw: IO[bytes]) -> None:
            with tarfile.open(fileobj=raw, mode="w:gz" if compress else "w") as tar:
                for name, path in members:
                    # Hashed from the bytes added: a media file changing meanwhile cannot disagree.
                    data = path.read_bytes()
                    manifest["files"][name] = {"sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
                    _add(tar, name, data)
                _add(tar, MANIFEST, (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode())

        atomic_write(target, write, mode=0o600)
    size = target.stat().st_size
    return BackupResult(target, mode, len(members), size, _sha256(target))


def _add(tar: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    info.mode = 0o600
    info.mtime = 0
    tar.addfile(info, io.BytesIO(data))


def _label_studio_version() -> str | None:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("label-studio")
    except PackageNotFoundError:
        return None


def read_manifest(source: Path) -> dict[str, Any]:
    """The archive's manifest; a file that is not a corpuskit backup is a DataError naming it."""
    try:
        with tarfile.open(source) as tar:
            member = tar.getmember(MANIFEST)
            handle = tar.extractfile(member)
            if handle is None:
                raise KeyError(MANIFEST)
            manifest = json.loads(handle.read())
    except FileNotFoundError:
        raise UsageError(f"{source}: no such backup") from None
    except (tarfile.TarError, KeyError, ValueError, OSError, EOFError) as exc:
        raise DataError(f"{source}: not a readable corpuskit backup ({type(exc).__name__})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise DataError(f"{source}: {MANIFEST}: not a {FORMAT} archive")
    return manifest


def restore(source: Path, data_dir: Path) -> RestoreResult:
    """Restore an archive into `data_dir`, which must be new or empty and have no server running.

    Every member is checked against the manifest in a staging folder first; the staging folder
    becomes `data_dir` only when all of them match (and, for a team server, the database was
    loaded into a fresh cluster)."""
    from corpuskit.studio import server, teamserver

    source = Path(source).resolve()
    data_dir = Path(data_dir).resolve()
    team = teamserver.status(data_dir)
    if server.status(data_dir) is not None or (team is not None and team.any_alive):
        raise UsageError(f"{data_dir}: a Label Studio server is running on this folder; stop it first")
    if data_dir.exists() and any(data_dir.iterdir()):
        raise UsageError(f"{data_dir}: not empty; restore into a new folder (nothing was changed)")
    manifest = read_manifest(source)
    files: dict[str, Any] = manifest.get("files") or {}
    mode = str(manifest.get("mode"))
    data_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{data_dir.name}.restore-", dir=data_dir.parent))
    try:
        os.chmod(staging, 0o700)
        seen: set[str] = set()
        with tarfile.open(source) as tar:
            for member in tar:
                if member.name == MANIFEST:
                    continue
                expected = files.get(member.name)
                if expected is None or not member.isfile():
                    raise DataError(f"{source}: {member.name}: not in the manifest")
                path = (staging / member.name).resolve()
                if not path.is_relative_to(staging):
                    raise DataError(f"{source}: {member.name}: a path outside the folder")
                handle = tar.extractfile(member)
                data = handle.read() if handle is not None else b""
                if hashlib.sha256(data).hexdigest() != expected.get("sha256") or len(data) != expected.get(
                    "size"
                ):
                    raise DataError(f"{source}: {member.name}: SHA-256 does not match the manifest (damaged)")
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(data)
                seen.add(member.name)
        missing = sorted(set(files) - seen)
        if missing:
            raise DataError(f"{source}: {missing[0]}: in the manifest but not in the archive (cut short?)")
        database = staging / DATABASE_DIR
        if mode == EMBEDDED:
            (staging / server.LS_DATA).mkdir(exist_ok=True, mode=0o700)
            os.replace(database / SQLITE_NAME, staging / server.LS_DATA / SQLITE_NAME)
        elif mode == TEAM:
            _restore_team(staging, database / "labelstudio.dump")
        else:
            raise DataError(f"{source}: {MANIFEST}: unknown server kind {mode!r}")
        shutil.rmtree(database)
        if data_dir.exists():
            data_dir.rmdir()  # empty (checked above)
        os.replace(staging, data_dir)
    except BaseException:
        with contextlib.suppress(OSError):
            shutil.rmtree(staging)
        raise
    return RestoreResult(data_dir, mode, len(files), str(manifest.get("created_at")))
