"""Carrying out a plan on the server: the push lock, the batched import that never doubles a task,
the updates, marks and deletions, predictions, and each task's overlap.

A push killed at any point is finished by running it again: the plan is recomputed from the
server, imported batches are found by `doc_id`, the rest is imported, nothing twice. A batch whose
import failed in a way that leaves its fate unknown is checked against the server before it is
retried. A lock file keeps two pushes of the same corpus from interleaving.
"""

from __future__ import annotations

import fcntl
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.errors import UsageError
from corpuskit.quality.design import PILOT, OverlapDesign
from corpuskit.studio.push.plan import Plan, TaskView
from corpuskit.studio.push.state import PushState
from corpuskit.studio.push.tasks import read_tasks
from corpuskit.studio.team import overlap_updates, read_overlaps

if TYPE_CHECKING:
    from corpuskit.studio.gateway import Gateway

LOCK_FILE = ".corpuskit/push.lock"


@contextmanager
def push_lock(root: Path) -> Iterator[None]:
    """Hold `.corpuskit/push.lock` for the duration of a push (fails at once if another holds it)."""
    path = root / LOCK_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a+") as handle:
        try:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise UsageError(f"{path}: another corpuskit push of this corpus is running") from None
        try:
            handle.seek(0)
            handle.truncate()
            handle.write(f"{os.getpid()}\n")
            handle.flush()
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def _progress(total: int | None, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="task", file=sys.stderr, disable=not enabled, leave=False)


def import_progress(total: int | None, enabled: bool) -> Any:
    """The import's progress bar on stderr (`total` None: not known yet)."""
    return _progress(total, enabled, "importing")


def import_batch(
    studio: Gateway, project_id: int, batch: list[dict[str, Any]]
) -> tuple[int, dict[str, int] | None]:
    """One batch, retried; before each new try the server is asked which of its documents it
    already has (it may have taken the batch before the connection broke) and only the others are
    sent. Returns how many tasks it created and each document's task id (None if not said)."""
    created = 0
    ids: dict[str, int] | None = {}
    left = batch

    def attempt() -> None:
        nonlocal created, ids
        if not left:
            return
        new = studio.tasks.import_once(project_id, left)
        created += len(left)
        if new is None or ids is None:
            ids = None
        else:
            ids.update(zip((p["data"]["doc_id"] for p in left), new, strict=True))

    def look() -> None:
        nonlocal created, left
        present = {t.doc_id: t.id for t in read_tasks(studio, project_id)}
        missing = [p for p in left if p["data"]["doc_id"] not in present]
        created += len(left) - len(missing)
        if ids is not None:
            ids.update(
                (p["data"]["doc_id"], present[p["data"]["doc_id"]])
                for p in left
                if p["data"]["doc_id"] in present
            )
        left = missing

    studio.client.retry(attempt, before_retry=look)
    return created, ids


# At most about this many characters of text in one import request, whatever `batch_size` allows:
# Label Studio parses and stores a request whole, so a batch of long documents is split sooner.
# 1,000 news documents of about 3.6 KB stay one batch.
BATCH_CHARS = 8_000_000


def payload_chars(payload: dict[str, Any]) -> int:
    """The characters of a task's text (headline, standfirst, body): what a batch is sized by."""
    data = payload["data"]
    return sum(len(data.get(key) or "") for key in ("title", "summary", "text"))


def batches(payloads: Sequence[dict[str, Any]], batch_size: int) -> Iterator[Sequence[dict[str, Any]]]:
    """The payloads in import batches of at most `batch_size` tasks and about `BATCH_CHARS` of text
    (a single task longer than that is a batch of its own)."""
    start, chars = 0, 0
    for end, payload in enumerate(payloads):
        size = payload_chars(payload)
        if end > start and (end - start >= batch_size or chars + size > BATCH_CHARS):
            yield payloads[start:end]
            start, chars = end, 0
        chars += size
    if start < len(payloads):
        yield payloads[start:]


def import_batches(
    studio: Gateway,
    project_id: int,
    payloads: list[dict[str, Any]],
    batch_size: int,
    progress: bool,
    on_batch: Callable[[int], None] | None,
) -> tuple[int, dict[str, int] | None]:
    """Import in batches; a batch whose outcome is unknown is re-checked on the server, never doubled.

    Returns how many tasks were created and each document's new task id (None if the server did
    not say for some batch)."""
    created = 0
    task_ids: dict[str, int] | None = {}
    bar = import_progress(len(payloads), progress)
    try:
        for batch in batches(payloads, batch_size):
            made, ids = import_batch(studio, project_id, list(batch))
            created += made
            if ids is None or task_ids is None:
                task_ids = None
            else:
                task_ids.update(ids)
            bar.update(len(batch))
            if on_batch is not None:
                on_batch(created)
    finally:
        bar.close()
    return created, task_ids


def patch_all(
    studio: Gateway, updates: Sequence[tuple[int, dict[str, Any]]], progress: bool, desc: str
) -> int:
    if not updates:
        return 0
    bar = _progress(len(updates), progress, desc)

    def patch(item: tuple[int, dict[str, Any]]) -> None:
        task_id, body = item
        studio.tasks.update(task_id, body)
        bar.update(1)

    try:
        # A few requests in flight hide the per-request latency; more only queue on the server.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(patch, updates))
    finally:
        bar.close()
    return len(updates)


@dataclass
class Applied:
    """What applying a plan did."""

    created: int = 0
    updated: int = 0
    marked: int = 0
    deleted: int = 0
    deduplicated: int = 0
    predictions: int = 0
    new_ids: dict[str, int] | None = None  # each new document's task id, if the server said
    doomed: list[int] = field(default_factory=list)  # the tasks deleted


def apply_plan(
    studio: Gateway,
    project_id: int,
    plan: Plan,
    *,
    delete_removed: bool,
    batch_size: int,
    progress: bool,
    on_batch: Callable[[int], None] | None,
    imported: tuple[int, dict[str, int] | None] | None = None,
) -> Applied:
    """Import the new tasks, update the changed ones, set the marks, delete what goes, add the
    predictions of existing tasks. `imported` (tasks created, their ids) says the new tasks were
    imported already (`streaming`)."""
    done = Applied()
    if imported is not None:
        done.created, done.new_ids = imported
    else:
        done.created, done.new_ids = import_batches(
            studio, project_id, plan.new, batch_size, progress, on_batch
        )
    done.predictions = sum(len(p.get("predictions", [])) for p in plan.new)
    marks = dict(plan.marks)
    updates: list[tuple[int, dict[str, Any]]] = []
    for task_id, data in plan.changed:
        body: dict[str, Any] = {"data": data}
        if task_id in marks:
            body["meta"] = marks.pop(task_id)
        updates.append((task_id, body))
    done.updated = patch_all(studio, updates, progress, "updating")
    meta_only = [(task_id, {"meta": meta}) for task_id, meta in sorted(marks.items())]
    done.marked = patch_all(studio, meta_only, progress, "marking")
    if delete_removed:
        done.doomed = [task_id for task_id, _, annotated in plan.removed if not annotated]
        for task_id in done.doomed:
            studio.tasks.delete(task_id)
        done.deleted = len(done.doomed)
    for _, task_id in plan.copies:
        studio.tasks.delete(task_id, what=f"delete duplicate task {task_id}")
    done.doomed += [task_id for _, task_id in plan.copies]
    done.deduplicated = len(plan.copies)
    if plan.predictions:
        studio.predictions.import_(project_id, plan.predictions)
        done.predictions += len(plan.predictions)
    return done


def apply_overlaps(
    studio: Gateway,
    project_id: int,
    design: OverlapDesign,
    state: PushState | None,
    view: dict[int, TaskView] | None,
    new_ids: dict[str, int] | None,
    progress: bool,
    *,
    imported: Sequence[dict[str, Any]] | None = None,
) -> tuple[int, list[str]]:
    """Set the overlap of every task that the design wants different from the project's k; returns
    how many were set and the pilot documents found.

    One light read of every task's overlap and marks; a PATCH only where it differs (in the default
    design, where every document gets k, only after a pilot round or a change on the server).
    `imported` are the payloads of a project that had no task before this push: every task in it
    is one of them, created with the project's k (its cohort is 100 %, so Label Studio re-draws
    nothing), so the read is spared (it costs the server about 1 ms per task)."""
    if imported is not None and new_ids is not None:
        current = {
            new_ids[payload["data"]["doc_id"]]: (design.k, payload.get("meta") or {}) for payload in imported
        }
    else:
        current = read_overlaps(studio.client, project_id)
    doc_of: dict[int, str | None] = {}
    if view is not None:
        doc_of.update((task_id, seen[0]) for task_id, seen in view.items())
    elif state is not None:
        doc_of.update((task_id, doc_id) for doc_id, doc in state.docs.items() for task_id in doc.tasks)
    doc_of.update((task_id, doc_id) for doc_id, task_id in (new_ids or {}).items())
    if any(task_id not in doc_of for task_id in current):
        doc_of.update((task.id, task.doc_id) for task in read_tasks(studio, project_id))
    patched = patch_all(studio, overlap_updates(design, current, doc_of), progress, "setting overlap")
    pilot = sorted({str(doc_of.get(task_id)) for task_id, (_, meta) in current.items() if meta.get(PILOT)})
    return patched, pilot
