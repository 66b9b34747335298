"""What the last push left in a Label Studio project, kept locally so a re-push need not read it all.

Reading every task of a project costs Label Studio about 1 ms per task; a re-push of an unchanged
corpus would spend most of its time there. After a push that completed, corpuskit writes
`.corpuskit/push-state/<host>-<port>-<project id>.json` (atomically; it holds task ids and hashes,
never the token): for each document its task ids, a hash of its task's data, whether its marks
are clear and what the plan made of it, plus

- the server's latest task `updated_at` after the push (the *watermark*): Label Studio moves a
  task's `updated_at` on every change through its API to data, meta, annotations and predictions
  (not to drafts: the task of a changed document is always read by id, which shows them), so the
  tasks changed since are one filtered query away;
- the number of tasks, to see deletions (which leave nothing behind to query);
- a digest of the push's inputs (the raw files' bytes, the settings, the schema and taxonomy files,
  corpuskit's own code), to see that the corpus is byte for byte the one last pushed.

A record that is missing, unreadable, for another server or project, or that disagrees with the
server's count is ignored: the push then reads the whole project as before. The server stays the
truth; the record only says where it need not be asked again.
"""

from __future__ import annotations

import contextlib
import dataclasses
import gc
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from corpuskit.files import atomic_write

FORMAT = 1
STATE_DIR = ".corpuskit/push-state"
# Outcomes of the last plan for a document.
SETTLED = "settled"  # one task, data as corpuskit would push it now, marks clear
UNCHANGED = "unchanged"  # unchanged, but its data differs from the corpus's (e.g. kept taxonomy version)
STALE = "stale"
REMOVED = "removed"
UNKNOWN = "unknown"  # not planned (a push of named files): only its task ids and hash are known
LEFT_OUT = "left-out"  # the dedupe record leaves the document out: its tasks are left alone
_OUTCOMES = frozenset({SETTLED, UNCHANGED, STALE, REMOVED, UNKNOWN, LEFT_OUT})
_WATERMARK_FORMAT = "%Y-%m-%dT%H:%M:%S.%fZ"  # what Label Studio's data manager filters parse


def data_hash(data: dict[str, Any]) -> str:
    """A task's data, hashed whole: a text edited in Label Studio keeps its `content_sha256`."""
    import orjson

    return hashlib.sha256(orjson.dumps(data, option=orjson.OPT_SORT_KEYS)).hexdigest()[:32]


def watermark(updated_at: str | None) -> str | None:
    """Label Studio's `updated_at` in the form its data manager filters accept (UTC, microseconds)."""
    if not updated_at:
        return None
    try:
        moment = datetime.fromisoformat(updated_at)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).strftime(_WATERMARK_FORMAT)


@dataclass
class DocState:
    """One document's tasks after the last push: the first is the one corpuskit uses."""

    outcome: str
    hash: str
    clean: bool
    tasks: list[int]


@dataclass
class PushState:
    server: str
    project_id: int
    project_created_at: str | None
    watermark: str | None
    task_count: int
    foreign: list[int]  # tasks without a corpuskit document id
    inputs: str | None  # digest of a whole-corpus push's inputs; None after a push of named files
    time_dependent: bool  # validation found a date in the future: a later run may accept it
    documents: int
    invalid: int
    docs: dict[str, DocState] = field(default_factory=dict)
    pilot: list[str] = field(default_factory=list)  # documents of a pilot round (meta.corpuskit_pilot)
    left_out: list[str] = field(default_factory=list)  # documents the dedupe record left out

    def task_ids(self) -> set[int]:
        ids = set(self.foreign)
        for state in self.docs.values():
            ids.update(state.tasks)
        return ids


def state_path(root: Path, server: str, project_id: int) -> Path:
    """Where the record for this server and project lives."""
    parts = urlsplit(server)
    host = (parts.hostname or "server").replace(":", "_")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return root / STATE_DIR / f"{host}-{port}-{project_id}.json"


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No garbage collection while a record is built: tens of thousands of small objects without
    a cycle among them would otherwise set off collections that walk every object the process
    holds (a collection of the whole heap took about 15 ms of an unchanged re-push)."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def load_state(path: Path, server: str, project_id: int) -> PushState | None:
    """The record, or None if it is missing, unreadable, or for another server or project."""
    with _collector_paused():
        return _load_state(path, server, project_id)


def _load_state(path: Path, server: str, project_id: int) -> PushState | None:
    import orjson

    try:
        raw = orjson.loads(path.read_bytes())
        if raw.get("format") != FORMAT or raw["server"] != server or raw["project_id"] != project_id:
            return None
        docs = {}
        for doc_id, (outcome, digest, clean, *tasks) in raw["docs"].items():
            if outcome not in _OUTCOMES or not tasks or not all(isinstance(t, int) for t in tasks):
                return None
            docs[str(doc_id)] = DocState(str(outcome), str(digest), bool(clean), list(tasks))
        return PushState(
            server=server,
            project_id=project_id,
            project_created_at=raw["project_created_at"],
            watermark=raw["watermark"],
            task_count=int(raw["task_count"]),
            foreign=[int(t) for t in raw["foreign"]],
            inputs=raw["inputs"],
            time_dependent=bool(raw["time_dependent"]),
            documents=int(raw["documents"]),
            invalid=int(raw["invalid"]),
            docs=docs,
            pilot=[str(doc_id) for doc_id in raw.get("pilot", [])],
            left_out=[str(doc_id) for doc_id in raw.get("left_out", [])],
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_state(path: Path, state: PushState) -> None:
    """Write the record atomically (temporary file in the same folder, fsync, rename)."""
    import orjson

    body = {
        "format": FORMAT,
        **{f.name: getattr(state, f.name) for f in dataclasses.fields(state) if f.name != "docs"},
        "docs": {doc_id: [d.outcome, d.hash, d.clean, *d.tasks] for doc_id, d in sorted(state.docs.items())},
    }
    atomic_write(path, orjson.dumps(body))


def forget_state(path: Path) -> None:
    """Drop a record that can no longer be trusted (the next push reads the whole project)."""
    path.unlink(missing_ok=True)


# Beside validation's signature cache: a cache like it, not a record of the project.
FINGERPRINTS_FILE = ".corpuskit/cache/push-fingerprints.json"
# A file changed this recently may change again within the file system's timestamp granularity
# without its stat showing it (git's "racily clean" case): its bytes are hashed again next time.
_SETTLED_AFTER_NS = 2_000_000_000


def _stat_key(path: Path) -> list[int] | None:
    try:
        stat = path.stat()
    except OSError:
        return None
    return [stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns, stat.st_ino]


def _file_sha256(
    path: Path, known: dict[str, list[Any]], seen: dict[str, list[Any]], now: int
) -> bytes | None:
    """A file's SHA-256, from `known` when its size, times and inode are those recorded with it
    (ctime moves on every write and cannot be set back), else read and hashed."""
    key = _stat_key(path)
    if key is None:
        return None
    name = str(path)
    entry = known.get(name)
    if entry is not None and entry[:4] == key:
        seen[name] = entry
        return bytes.fromhex(entry[4])
    try:
        with open(path, "rb") as handle:
            value = hashlib.file_digest(handle, "sha256").digest()
    except OSError:
        return None
    if now - key[2] > _SETTLED_AFTER_NS:
        seen[name] = [*key, value.hex()]
    return value


def inputs_digest(
    files: list[Path], config_files: list[Path], settings_repr: str, fingerprints: Path | None = None
) -> str:
    """A digest of everything a whole-corpus push's plan depends on besides the server: the raw
    files (path and bytes), the schema and taxonomy files, the settings, and corpuskit's code (by
    size and modification time, so an edited checkout counts as a different program).

    With `fingerprints` (`FINGERPRINTS_FILE` under the corpus root), each file's SHA-256 is kept with
    its size, times and inode, and a file whose stat is unchanged is not read again: an unchanged
    re-push then costs a `stat` per raw file instead of reading the whole corpus."""
    import time

    import orjson

    import corpuskit

    known: dict[str, list[Any]] = {}
    if fingerprints is not None:
        try:
            loaded = orjson.loads(fingerprints.read_bytes())
            if isinstance(loaded, dict):
                known = {k: v for k, v in loaded.items() if isinstance(v, list) and len(v) == 5}
        except (OSError, ValueError):
            known = {}
    seen: dict[str, list[Any]] = {}
    now = time.time_ns()
    digest = hashlib.sha256()
    digest.update(f"corpuskit {corpuskit.__version__}\n{settings_repr}\n".encode())
    package = Path(corpuskit.__file__).parent
    for source in sorted(package.rglob("*.py")):
        stat = source.stat()
        digest.update(f"{source.relative_to(package)} {stat.st_size} {stat.st_mtime_ns}\n".encode())
    for group, paths in (("config", config_files), ("raw", files)):
        for path in paths:
            digest.update(f"{group} {path}\n".encode())
            value = _file_sha256(path, known, seen, now)
            digest.update(b"missing" if value is None else value)
    if fingerprints is not None and seen != known:
        with contextlib.suppress(OSError):  # only a cache: the next push reads the files again
            atomic_write(fingerprints, orjson.dumps(seen))
    return digest.hexdigest()
