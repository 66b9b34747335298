"""A first push that imports while validation still reads the corpus, and takes it back on failure.

Into a project without tasks, every valid document is new: the plan needs no task of the server,
only the corpus. Validation hands each document over as soon as it passes every check
(`corpuskit.validation.crossrecord.Admission`), and a worker thread imports them batch by batch
meanwhile, so the push costs about what the import costs instead of validation plus import (the
import waits on the server; validation works on this side's own core).

A push that fails on this side before the corpus is read to the end (an interrupt, an unexpected
error) takes back what it imported: the tasks it created that nobody has worked on are deleted,
and the project too when the push created it and it is left empty. A failure of the server
itself ends the push as before: a rerun finishes it, nothing imported twice (`apply`).
"""

from __future__ import annotations

import contextlib
import queue
import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from corpuskit.errors import StudioError
from corpuskit.studio.push.apply import BATCH_CHARS, import_batch, import_progress, payload_chars
from corpuskit.studio.push.tasks import read_tasks

if TYPE_CHECKING:
    from corpuskit.studio.gateway import Gateway

_DONE = None
FIRST_BATCH = 100
_WAIT = 0.2  # seconds between looks at a worker that may have stopped


class StreamedImport:
    """Task payloads imported in batches on a worker thread while the caller still adds them."""

    def __init__(
        self,
        studio: Gateway,
        project: Callable[[], int],
        *,
        batch_size: int,
        progress: bool,
        on_batch: Callable[[int], None] | None,
    ) -> None:
        self.studio = studio
        # The worker settles the project (creates it, or sets its settings) before its first
        # batch, while validation reads the first documents: its id is known from then on.
        self._project = project
        self.project_id: int | None = None
        self.batch_size = batch_size
        self.on_batch = on_batch
        self.created = 0
        self.task_ids: dict[str, int] | None = {}
        self.sent: list[str] = []  # document ids handed to the worker, in order
        self.failure: BaseException | None = None
        self._pending: list[dict[str, Any]] = []
        self._pending_chars = 0
        # The first batches are small, so the server starts while validation has read only a few
        # documents (and a small corpus overlaps at all); each next one doubles, up to batch_size.
        self._next_size = min(batch_size, FIRST_BATCH)
        # A few batches queued at most: validation runs ahead of the server by that much.
        self._queue: queue.Queue[list[dict[str, Any]] | None] = queue.Queue(maxsize=3)
        self._stop = threading.Event()
        self._bar = import_progress(None, progress)
        self._thread = threading.Thread(target=self._work, name="corpuskit-import", daemon=True)
        self._thread.start()

    def add(self, payload: dict[str, Any]) -> None:
        """Queue one task; raises the worker's failure, so that the caller stops reading."""
        self._raise_failure()
        size = payload_chars(payload)
        if self._pending and self._pending_chars + size > BATCH_CHARS:
            self._send_pending()  # sized by text as `apply.batches` sizes them
        self._pending.append(payload)
        self._pending_chars += size
        self.sent.append(payload["data"]["doc_id"])
        if len(self._pending) >= self._next_size:
            self._send_pending()

    def _send_pending(self) -> None:
        self._put(self._pending)
        self._pending, self._pending_chars = [], 0
        self._next_size = min(self.batch_size, 2 * self._next_size)

    def finish(self) -> tuple[int, dict[str, int] | None]:
        """Import what is left, wait for the worker; how many tasks were created and their ids."""
        if self._pending:
            self._put(self._pending)
            self._pending = []
        self._put(_DONE)
        self._thread.join()
        self._bar.close()
        self._raise_failure()
        return self.created, self.task_ids

    def stop(self) -> None:
        """Stop after the batch in flight (its outcome is then known) and wait for the worker."""
        self._stop.set()
        while self._thread.is_alive():
            with contextlib.suppress(queue.Full):
                self._queue.put_nowait(_DONE)
            self._thread.join(_WAIT)
        self._bar.close()

    def _put(self, item: list[dict[str, Any]] | None) -> None:
        while True:
            self._raise_failure()
            try:
                self._queue.put(item, timeout=_WAIT)
                return
            except queue.Full:
                continue

    def _raise_failure(self) -> None:
        if self.failure is not None:
            raise self.failure

    def _work(self) -> None:
        try:
            self.project_id = project_id = self._project()
        except BaseException as exc:  # handed to the caller's thread, raised there
            self.failure = exc
            return
        held: list[list[dict[str, Any]] | None] = []  # taken from the queue, not sent yet
        while not self._stop.is_set():
            batch = held.pop() if held else self._queue.get()
            if batch is _DONE or self._stop.is_set():
                return
            # The batches queued while the server took the last one (or while the project was
            # created) go in one request, up to batch_size: each import has a fixed cost on the
            # server (about 0.1 s), and validation hands over the first batches faster than that.
            while len(batch) < self.batch_size:
                try:
                    more = self._queue.get_nowait()
                except queue.Empty:
                    break
                if (
                    more is _DONE
                    or len(batch) + len(more) > self.batch_size
                    or sum(map(payload_chars, batch)) + sum(map(payload_chars, more)) > BATCH_CHARS
                ):
                    held.append(more)
                    break
                batch = batch + more
            try:
                made, ids = import_batch(self.studio, project_id, batch)
            except BaseException as exc:  # handed to the caller's thread, raised there
                self.failure = exc
                return
            self.created += made
            if ids is None or self.task_ids is None:
                self.task_ids = None
            else:
                self.task_ids.update(ids)
            self._bar.update(len(batch))
            if self.on_batch is not None:
                self.on_batch(self.created)


def take_back(studio: Gateway, project_id: int, sent: list[str], *, project_created: bool) -> int:
    """Delete the tasks a failed push imported (found by document id) that nobody has worked on,
    and the project when this push created it and nothing else is in it; returns how many tasks
    were deleted. A task someone annotated meanwhile is kept (and said on stderr)."""
    ours = set(sent)
    tasks = read_tasks(studio, project_id)
    mine = [task for task in tasks if task.doc_id in ours]
    kept = [task for task in mine if task.annotated]
    doomed = [task.id for task in mine if not task.annotated]
    if project_created and not kept and len(mine) == len(tasks):
        studio.projects.delete(project_id)
        return len(doomed)
    studio.tasks.delete_many(project_id, doomed)
    if kept:
        print(
            f"corpuskit: push stopped; {len(kept)} task(s) it imported were annotated meanwhile and are "
            "kept (push again to finish)",
            file=sys.stderr,
        )
    return len(doomed)


def rollback_failed(exc: BaseException, error: BaseException) -> StudioError:
    """The error of a push whose taking back failed too: what happened, and how to finish."""
    return StudioError(
        f"push stopped ({type(exc).__name__}: {exc}) and the tasks it had imported could not be "
        f"removed ({error}); run `corpuskit push` again to finish the push"
    )
