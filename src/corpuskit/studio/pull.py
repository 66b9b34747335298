"""`corpuskit pull`: export a Label Studio project and write the annotation snapshot.

The export comes from Label Studio's own bulk path (the export endpoint with `download_all_tasks=true`,
or an export snapshot created and downloaded), converted task by task while it downloads; a
truncated or invalid body is an error and the previous snapshot is left as it was.
"""

from __future__ import annotations

import contextlib
import gc
import os
from collections import deque
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson

from corpuskit.errors import DataError, StudioError, UsageError
from corpuskit.snapshot import (
    GROUPED_TABLES,
    TABLES,
    Row,
    SnapshotWriter,
    iter_table,
    jsonl_line,
    read_meta,
    verify_tables,
)
from corpuskit.studio import loop, pull_state
from corpuskit.studio.export_items import iter_task_pieces
from corpuskit.studio.export_rows import (
    SORT_KEYS,
    Mapper,
    Tables,
    convert_export,
    convert_tasks,
    iter_task_tables,
    tasks_of,
)
from corpuskit.taxonomy.annotation_schema import HIDDEN, PRELABELS

if TYPE_CHECKING:
    from corpuskit.settings import Settings
    from corpuskit.studio.client import StudioClient
    from corpuskit.studio.pull_worker import ConvertWorker
    from corpuskit.taxonomy.model import Taxonomy


@dataclass
class PullResult:
    """What a pull wrote: where, how many rows of each table, and whether any file changed."""

    folder: Path
    counts: dict[str, int]
    annotators: int
    cancelled: int
    ground_truth: int
    changed: bool
    meta: dict[str, Any] = field(default_factory=dict)
    problems: list[Row] = field(default_factory=list)
    # Set when the project's summary showed nothing changed since the snapshot in the folder, so
    # nothing was exported: that snapshot's `exported_at`.
    unchanged_since: str | None = None
    # Tasks of the export converted by the worker process beside pull's (`pull_worker`): how
    # the work was shared, for benchmarks; the snapshot is the same either way.
    worker_tasks: int = 0

    @classmethod
    def of_stream(
        cls, folder: Path, streamed: StreamedTables, changed: bool, meta: dict[str, Any]
    ) -> PullResult:
        """What a pull that wrote `streamed`'s rows (`write_stream`) into `folder` reports."""
        return cls(
            folder=folder,
            counts=streamed.counts,
            annotators=len(streamed.annotators),
            cancelled=streamed.cancelled,
            ground_truth=streamed.ground_truth,
            changed=changed,
            meta=meta,
            problems=streamed.problems,
            worker_tasks=streamed.worker_tasks,
        )

    def summary(self) -> dict[str, Any]:
        return {
            "folder": str(self.folder),
            "changed": self.changed,
            "unchanged_since": self.unchanged_since,
            "tasks": self.counts["tasks"],
            "annotations": self.counts["annotations"],
            "annotators": self.annotators,
            "cancelled": self.cancelled,
            "ground_truth": self.ground_truth,
            "drafts": self.counts["drafts"],
            "predictions": self.counts["predictions"],
            "problems": self.counts["problems"],
            # Annotations by whether model pre-labels were on the page (absent from an export file).
            "prelabels": (self.meta.get("loop") or {}).get("annotations"),
        }


def taxonomy_mapper(taxonomy: Taxonomy) -> Mapper:
    """The converter's view of the taxonomy: result parser, annotation schema and annotation checks.

    A row is checked without its `extra` object (what Label Studio returned beyond the row's
    columns, kept for losslessness), which the annotation schema does not describe."""
    import jsonschema
    import jsonschema_rs

    from corpuskit.taxonomy import annotation_schema, check_annotation, result_to_row_fields

    schema = annotation_schema(taxonomy)
    # The compiled validator answers "valid?" fast; jsonschema words the reasons for the rare bad row.
    fast = jsonschema_rs.validator_for(schema, validate_formats=True)
    slow = jsonschema.Draft202012Validator(
        schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )

    def parse(result: list[Any]) -> tuple[dict[str, Any], list[str]]:
        return result_to_row_fields(taxonomy, result)  # a new dict and list each time

    def check(row: Row, text: str) -> list[str]:
        # The converter checks a row before it sets `extra`: no copy then.
        core = row if "extra" not in row else {key: value for key, value in row.items() if key != "extra"}
        if not fast.is_valid(core):
            errors = sorted(slow.iter_errors(core), key=lambda e: [str(p) for p in e.absolute_path])
            reasons = [f"{_path(e.absolute_path)}: {e.message}" for e in errors]
            return reasons or ["does not match the annotation schema"]
        # The converter made the row's fields from this very result (`parse` above).
        return [str(p) for p in check_annotation(core, text, taxonomy, fields_from_result=True)]

    return Mapper(taxonomy_version=taxonomy.version, parse=parse, check=check)


def _path(parts: Any) -> str:
    text = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in parts).lstrip(".")
    return text or "(row)"


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """Python's cyclic garbage collector off while a pull builds its rows.

    A pull makes millions of small objects, none in a cycle, and keeps most of them until the
    snapshot is written; each full collection walks every one kept so far, which took about as
    long as the conversion itself (docs/performance.md). Reference counting frees everything as
    usual; the collector runs again afterwards."""
    was_on = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_on:
            gc.enable()


def convert_export_file(path: Path, mapper: Mapper) -> Tables:
    """Parse a Label Studio JSON export file (list of tasks or one task) and convert it."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from exc
    try:
        export = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"{path}: not a valid JSON export (truncated?): {exc}") from exc
    del data
    if not isinstance(export, list | dict):
        raise DataError(f"{path}: a Label Studio export is a list of tasks or one task object")
    return convert_export(export, mapper)


@_collector_paused()
def convert_stream(chunks: Iterator[bytes], mapper: Mapper) -> Tables:
    """Convert a JSON export while it downloads: each task is parsed (`export_items`) and converted
    as soon as its bytes have arrived, so the export is never held or written whole. An export that
    is one task object rather than a list is read whole (Label Studio's export endpoints always
    send a list)."""
    return convert_tasks(_export_tasks(chunks), mapper)


def convert_stream_by_task(chunks: Iterator[bytes], mapper: Mapper) -> Iterator[Tables]:
    """`convert_stream` one task at a time: the rows of each task (`iter_task_tables`: unsorted,
    with their positions) as soon as its bytes have arrived, for a caller that folds them and keeps
    none (`corpuskit status`)."""
    return iter_task_tables(_export_tasks(chunks), mapper)


def _export_tasks(chunks: Iterator[bytes]) -> Iterable[Any]:
    """The tasks of a JSON export's body, parsed one at a time when it is a list (always, from
    Label Studio), else the one task object read whole."""
    pieces = _export_pieces(chunks)  # reads the body's start now: an empty export fails here
    return (task for _, task in pieces)


def _export_pieces(chunks: Iterator[bytes]) -> Iterable[tuple[bytes | None, Any]]:
    """`_export_tasks` with each task's bytes where orjson read it from them
    (`export_items.iter_task_pieces`)."""
    head = b""
    for chunk in chunks:
        head += chunk
        if head.strip():
            break
    if not head.strip():
        raise DataError("the export is empty")
    if not head.lstrip().startswith(b"["):
        try:
            tasks = tasks_of(_loads(head + b"".join(chunks)))
        except ValueError as exc:  # a JSON value that is neither a list nor an object
            raise DataError(str(exc)) from None
        return [(None, task) for task in tasks]
    return iter_task_pieces(head, chunks)


def _loads(data: bytes) -> Any:
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise DataError(f"not a valid JSON export (truncated?): {exc}") from exc


def add_emails(client: StudioClient, tables: Tables, users: list[dict[str, Any]] | None = None) -> None:
    """The export endpoint names annotators by id only; the server's user list gives their emails.

    `users`: the list as read before the export (by the project summary); it is read again only
    when it lacks an annotator (a user added during the export)."""
    rows = [*tables.annotations, *tables.drafts]
    rows += [p["value"] for p in tables.problems if p["code"] == "invalid-annotation"]
    wanted = {r["annotator"]["id"] for r in rows if r["annotator"]["email"] is None} - {None}
    if not wanted:
        return
    if users is None or not wanted <= {u.get("id") for u in users}:
        users = None
    UserEmails(client, users).fill_tables(tables)


class UserEmails:
    """Annotators' emails from the server's user list (the export names annotators by id only).

    The list is read when first needed, unless given (as read before the export); a given list is
    read again, once, when it lacks an annotator (a user added during the export). `fill` is what
    `add_emails` does to each row, for a caller that sees the rows one at a time."""

    def __init__(self, client: StudioClient, users: list[dict[str, Any]] | None = None) -> None:
        self.client = client
        self.emails = None if users is None else self._index(users)
        self.fresh = False

    @staticmethod
    def _index(users: list[dict[str, Any]]) -> dict[Any, Any]:
        return {u["id"]: u.get("email") for u in users if "id" in u}

    def fill(self, annotator: dict[str, Any]) -> dict[str, Any]:
        """`annotator` ({id, email}) with its email from the user list when it had none."""
        user_id = annotator["id"]
        if annotator["email"] is not None or user_id is None:
            return annotator
        if self.emails is None or (user_id not in self.emails and not self.fresh):
            self.emails = self.read_again()
            self.fresh = True
        if user_id not in self.emails:
            return annotator
        return {"id": user_id, "email": self.emails[user_id]}

    def read_again(self) -> dict[Any, Any]:
        """The server's user list, read now: annotator id -> email."""
        from corpuskit.studio.gateway import Gateway

        return self._index(Gateway(self.client).users.list())

    def fill_tables(self, tables: Tables) -> None:
        """`fill` every annotator the snapshot names: annotations, drafts, and the annotations
        kept as problems (`invalid-annotation`)."""
        for row in (*tables.annotations, *tables.drafts):
            row["annotator"] = self.fill(row["annotator"])
        for problem in tables.problems:
            if problem["code"] == "invalid-annotation":
                problem["value"]["annotator"] = self.fill(problem["value"]["annotator"])


def mark_prelabels(tables: Tables, info: dict[str, Any], history: list[loop.Event]) -> dict[str, Any]:
    """Set each annotation's `prelabels` from the project's history; the loop summary with counts."""
    marks = PrelabelMarks(info, history)
    marks.mark(tables)
    return marks.summary()


class PrelabelMarks:
    """`mark_prelabels` for rows that come a task at a time: `mark` each task's rows (or all of
    them at once), then `summary`."""

    def __init__(self, info: dict[str, Any], history: list[loop.Event]) -> None:
        self.info = info
        self.history = history
        self.current = loop.LoopState.of_project(info)
        # Predictions that carry labels and were not pushed by `corpuskit suggest` (e.g. `push
        # --predictions`): a page opened from the Data Manager pre-fills from them whatever the
        # project's switch says, so an annotation made after one arrived on its task cannot be
        # called hidden.
        self.ours = {event.state.model_version for event in history if event.by == "suggest"}
        self.counts = dict.fromkeys(PRELABELS, 0)

    def mark(self, tables: Tables) -> None:
        """Set `prelabels` on these annotations, from these predictions (of the same tasks)."""
        foreign: dict[Any, str] = {}
        for prediction in tables.predictions:
            if prediction.get("result") and prediction.get("model_version") not in self.ours:
                stamp = str(prediction.get("created_at") or "")
                task = prediction.get("task_id")
                foreign[task] = min(foreign.get(task, stamp), stamp)
        history, current, counts = self.history, self.current, self.counts
        for row in tables.annotations:
            lead = row.get("lead_time")
            state = loop.visibility(
                history, current, row.get("created_at"), lead if lead is not None else None
            )
            if state == HIDDEN and row.get("task_id") in foreign:
                state = loop.later_or_unknown(foreign[row["task_id"]], row.get("created_at"), state)
            row["prelabels"] = state
            counts[state] += 1

    def summary(self) -> dict[str, Any]:
        """The snapshot's `loop` section: the state in force, its history, and the counts marked."""
        return {**loop.summary(self.info, self.history), "annotations": dict(self.counts)}


@dataclass
class StreamedTables:
    """What `write_stream` keeps of the rows it wrote: the counts `PullResult` reports and the
    problems (few, sorted as in the snapshot)."""

    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(TABLES, 0))
    annotators: set[tuple[Any, Any]] = field(default_factory=set)
    cancelled: int = 0
    ground_truth: int = 0
    problems: list[Row] = field(default_factory=list)
    # Tasks the worker process converted (`pull_worker`); the rest were converted here.
    worker_tasks: int = 0


@dataclass
class Batch:
    """A batch of an export's tasks converted (`convert_batch`): its rows serialised, each with its
    table and sort key, in the order they were made, and what `StreamedTables` counts of them."""

    rows: list[tuple[str, Any, bytes]] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(GROUPED_TABLES, 0))
    annotators: set[tuple[Any, Any]] = field(default_factory=set)
    cancelled: int = 0
    ground_truth: int = 0
    problems: list[Row] = field(default_factory=list)
    # `prelabels` marks made, by state (`PrelabelMarks.counts` grew by these).
    prelabels: dict[str, int] = field(default_factory=dict)


def convert_batch(
    start: int,
    tasks: Iterable[Any],
    mapper: Mapper,
    emails: UserEmails | None,
    marks: PrelabelMarks | None,
) -> Batch:
    """Convert the export's tasks at positions `start`, `start + 1`, ...: each task's rows get
    their emails (`emails`) and `prelabels` marks (`marks`), their sort keys, and are serialised.
    Pull's process and its worker (`pull_worker`) both convert with this."""
    batch = Batch()
    before = dict(marks.counts) if marks is not None else {}
    counts, rows = batch.counts, batch.rows
    for part in iter_task_tables(tasks, mapper, start=start):
        if emails is not None:
            emails.fill_tables(part)
        if marks is not None:
            marks.mark(part)
        for row in part.annotations:
            who = row["annotator"]
            if who["id"] is not None or who["email"] is not None:
                batch.annotators.add((who["id"], who["email"]))
            batch.cancelled += bool(row["was_cancelled"])
            batch.ground_truth += bool(row["ground_truth"])
        for name in GROUPED_TABLES:
            table = part.table(name)
            if not table:
                continue
            key = SORT_KEYS[name]
            for row in table:
                order = key(row)
                del row["position"]  # only breaks ties; stored, it would make diffs noisy
                rows.append((name, order, jsonl_line(row)))
            counts[name] += len(table)
        batch.problems += part.problems
    if marks is not None:
        batch.prelabels = {state: marks.counts[state] - before[state] for state in before}
    return batch


# Tasks converted as one batch: about 0.1 MB of export, a millisecond or two of conversion (smaller
# batches kept both processes busier in `scripts/bench_pull_client.py --worker`).
BATCH_TASKS = 16
# Batches converted but not yet written (waiting for one before them, at the worker) at most.
_QUEUED = 16


def write_stream(
    chunks: Iterator[bytes],
    mapper: Mapper,
    writer: SnapshotWriter,
    *,
    emails: UserEmails | None = None,
    marks: PrelabelMarks | None = None,
    worker: ConvertWorker | None = None,
    batch_tasks: int | None = None,
) -> StreamedTables:
    """Convert a JSON export while it downloads and hand its rows to `writer` in the export's
    order, with their emails (`emails`) and `prelabels` marks (`marks`): no row is kept once
    written (except problems), so a pull's memory does not grow with the project. The snapshot's
    bytes are those `convert_stream` + `add_emails` + `mark_prelabels` + `write_snapshot` give.

    Tasks go in batches of `batch_tasks` (default `BATCH_TASKS`) to `worker` while it has room
    (its setup must hold these emails' user list and these marks' project); the others are
    converted here meanwhile, and so is a batch the worker declines."""
    kept = StreamedTables()
    if worker is not None:
        worker.forget()  # a download started again: answers for the last attempt are void
    queue: deque[tuple[int, list[tuple[bytes | None, Any]], Batch | int]] = deque()

    def write_done(wait: bool) -> None:
        while queue:
            start, items, job = queue[0]
            if isinstance(job, Batch):
                batch = job
            else:
                assert worker is not None
                answer = worker.result(job, wait=wait)
                if answer is None:
                    return
                if isinstance(answer, Batch):
                    batch = answer
                    kept.worker_tasks += len(items)
                    if marks is not None:
                        for state, count in answer.prelabels.items():
                            marks.counts[state] += count
                else:
                    batch = convert_batch(start, (task for _, task in items), mapper, emails, marks)
            queue.popleft()
            _fold(batch, writer, kept)

    with _collector_paused():
        for start, items in _batched(_export_pieces(chunks), batch_tasks or BATCH_TASKS):
            job: Batch | int
            if worker is not None and worker.accepts():
                job = worker.submit(start, [piece if piece is not None else task for piece, task in items])
            else:
                job = convert_batch(start, (task for _, task in items), mapper, emails, marks)
            queue.append((start, items, job))
            write_done(wait=len(queue) > _QUEUED)
        write_done(wait=True)
        kept.problems.sort(key=SORT_KEYS["problems"])
        for problem in kept.problems:
            writer.add("problems", SORT_KEYS["problems"](problem), problem)
        kept.counts["problems"] = len(kept.problems)
    return kept


def _fold(batch: Batch, writer: SnapshotWriter, kept: StreamedTables) -> None:
    for name, order, line in batch.rows:
        writer.add_line(name, order, line)
    for name, count in batch.counts.items():
        kept.counts[name] += count
    kept.annotators |= batch.annotators
    kept.cancelled += batch.cancelled
    kept.ground_truth += batch.ground_truth
    kept.problems += batch.problems


def _batched(
    items: Iterable[tuple[bytes | None, Any]], size: int
) -> Iterator[tuple[int, list[tuple[bytes | None, Any]]]]:
    """(position of the first, the items) for each run of `size` items."""
    batch: list[tuple[bytes | None, Any]] = []
    start = 0
    for item in items:
        batch.append(item)
        if len(batch) == size:
            yield start, batch
            start += size
            batch = []
    if batch:
        yield start, batch


def _public_url(url: str) -> str:
    """The server URL as recorded in the snapshot: without any user:password part."""
    from urllib.parse import urlsplit, urlunsplit

    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, parts.fragment))


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@_collector_paused()
def pull(
    *,
    project: int | None = None,
    out: str | os.PathLike[str] | None = None,
    from_export: str | os.PathLike[str] | None = None,
    settings: Settings | None = None,
    taxonomy: Taxonomy | None = None,
    method: str = "snapshot",
    url: str | None = None,
    token: str | None = None,
) -> PullResult:
    """Pull every annotation of a Label Studio project (or convert `from_export`) into a snapshot folder.

    The folder (`out`, default `[tool.corpuskit] annotations`) is replaced atomically and left
    untouched when nothing changed; the server URL is recorded, the token never is."""
    from corpuskit.quality.design import OverlapDesign
    from corpuskit.settings import load_settings
    from corpuskit.studio.client import Connection, StudioClient, connection
    from corpuskit.studio.gateway import Gateway
    from corpuskit.studio.project import project_title
    from corpuskit.studio.pull_worker import ConvertWorker, Setup, worth_starting
    from corpuskit.taxonomy import load_taxonomy

    settings = settings or load_settings()
    folder = Path(out) if out is not None else settings.path(settings.annotations)
    if taxonomy is None:
        taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    mapper = taxonomy_mapper(taxonomy)

    if from_export is not None:
        source = Path(from_export)
        meta: dict[str, Any] = {
            "project_id": None,
            "project_title": None,
            "server": None,
            "source": source.name,
            "exported_at": _now(),
            "taxonomy_version": taxonomy.version,
        }
        return _pull_file(source, folder, mapper, meta)

    conn = Connection(url.rstrip("/"), token) if url and token else connection(settings)
    with StudioClient(conn) as client:
        studio = Gateway(client)
        if project is None:
            project = int(studio.projects.require(project_title(settings, taxonomy))["id"])
        with ThreadPoolExecutor(max_workers=1) as pool:
            # Taken before the export begins (a change during the export shows at the next
            # pull), while the project's settings are read.
            summary_of = pool.submit(pull_state.project_summary, studio, project)
            info = studio.projects.get(project, fields=loop.FIELDS)  # no counts computed
            project_id = int(info["id"])
            design = OverlapDesign.from_settings(settings).to_json()
            record = pull_state.state_path(settings.root, conn.url, project_id)
            history = loop.history(settings.root, studio.url, info)
            # The snapshot's `loop` section and each annotation's `prelabels` follow the
            # project's queue settings and their recorded history: a change there is a change
            # of the snapshot.
            in_force = {key: info.get(key) for key in sorted(loop.STATE_FIELDS)}
            inputs = pull_state.inputs_digest(
                taxonomy, {**design, "loop": repr((in_force, info.get("description"), history))}
            )
            server_summary, users = summary_of.result()
        same = _same_as_last(record, conn.url, project_id, folder, inputs, server_summary)
        if same is not None:
            return same
        pull_state.forget_state(record)  # the folder is about to change
        started = _now()
        emails = UserEmails(client, users)
        attempts: list[SnapshotWriter] = []
        # Started now, the worker gets ready while the server builds the export.
        tasks = None if server_summary is None else server_summary.get("tasks")
        worker = (
            ConvertWorker(Setup(taxonomy, users, info, history))
            if worth_starting(tasks if isinstance(tasks, int) else None)
            else None
        )

        def consume(chunks: Iterator[bytes]) -> tuple[PrelabelMarks, StreamedTables]:
            # A retried download starts again from the first byte, into a new staging folder.
            while attempts:
                attempts.pop().discard()
            attempts.append(SnapshotWriter(folder))
            marks = PrelabelMarks(info, history)
            streamed = write_stream(chunks, mapper, attempts[-1], emails=emails, marks=marks, worker=worker)
            return marks, streamed

        try:
            try:
                marks, streamed = studio.exports.read(project_id, consume, method)
            except DataError as exc:
                raise StudioError(f"project {project_id}: the export is truncated or not valid JSON") from exc
            writer = attempts.pop()
        finally:
            if worker is not None:
                worker.close()
            while attempts:
                attempts.pop().discard()
    try:
        meta = _pulled_meta(project_id, info, conn.url, started, taxonomy, design, marks)
    except BaseException:
        writer.discard()
        raise
    changed = writer.commit(meta)
    result = PullResult.of_stream(folder, streamed, changed, meta)
    if server_summary is not None:
        pull_state.save_state(
            record,
            pull_state.PullState(
                server=conn.url,
                project_id=project_id,
                folder=str(folder.resolve()),
                files=dict(read_meta(folder)["files"]),
                inputs=inputs,
                summary=server_summary,
                annotators=result.annotators,
                cancelled=result.cancelled,
                ground_truth=result.ground_truth,
            ),
        )
    return result


def _pull_file(source: Path, folder: Path, mapper: Mapper, meta: dict[str, Any]) -> PullResult:
    """`pull --from-export`: the file converted as it is read, in 1 MB chunks, and written as a
    pull from a server writes (`write_stream`), so a large export file is never held whole."""

    def chunks(handle: Any) -> Iterator[bytes]:
        while True:
            try:
                chunk = handle.read(1 << 20)
            except OSError as exc:
                raise UsageError(f"{source}: cannot be read: {exc.strerror}") from exc
            if not chunk:
                return
            yield chunk

    try:
        handle = source.open("rb")
    except OSError as exc:
        raise UsageError(f"{source}: cannot be read: {exc.strerror}") from exc
    with handle, SnapshotWriter(folder) as writer:
        try:
            streamed = write_stream(chunks(handle), mapper, writer)
        except DataError as exc:
            raise DataError(f"{source}: {exc}") from exc
    return PullResult.of_stream(folder, streamed, writer.commit(meta), meta)


def _pulled_meta(
    project_id: int,
    info: dict[str, Any],
    url: str,
    started: str,
    taxonomy: Taxonomy,
    design: dict[str, Any],
    marks: PrelabelMarks,
) -> dict[str, Any]:
    return {
        "project_id": project_id,
        "project_title": info.get("title"),
        "server": _public_url(url),
        "source": None,
        "exported_at": started,
        "taxonomy_version": taxonomy.version,
        # The overlap design in the settings at pull time (docs/team.md): the card states it and
        # the quality gate reads it to tell designed single annotations from missing ones.
        "design": design,
        # Queue order, pre-label visibility and model version in force, their recorded history
        # and, per annotation (`prelabels`), the visibility it was made under.
        "loop": marks.summary(),
    }


def _same_as_last(
    record: Path,
    server: str,
    project_id: int,
    folder: Path,
    inputs: str,
    summary: dict[str, Any] | None,
) -> PullResult | None:
    """The last pull's result when nothing it depends on changed since (`pull_state`), else None."""
    last = pull_state.load_state(record)
    if summary is None or last is None:
        return None
    if (last.server, last.project_id, last.folder, last.inputs) != (
        server,
        project_id,
        str(folder.resolve()),
        inputs,
    ):
        return None
    if last.summary != summary:
        return None
    try:
        meta = verify_tables(folder)  # the tables on disk are still the ones written
    except (UsageError, DataError):
        return None
    if meta.get("files") != last.files or meta.get("project_id") != project_id:
        return None
    counts = meta.get("counts") or {}
    return PullResult(
        folder=folder,
        counts={table: int(counts.get(table, 0)) for table in TABLES},
        annotators=last.annotators,
        cancelled=last.cancelled,
        ground_truth=last.ground_truth,
        changed=False,
        meta=meta,
        problems=list(iter_table(folder, "problems", meta=meta)),
        unchanged_since=str(meta.get("exported_at")),
    )
