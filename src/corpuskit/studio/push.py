"""`corpuskit push`: put the valid documents into a Label Studio project, idempotently.

The server is the truth. Each task's data carries `doc_id`, `content_sha256` and `taxonomy_version`
(docs/data-model.md); a push reads the project's tasks, compares them with the corpus and plans:

- new: no task has the document's id -> imported (bulk, in batches);
- changed: the task has no annotations or drafts and its data differs -> updated in place; on a
  task with annotations or drafts whose text is the same (`content_sha256`), only the display data
  that is not part of that text (source, section, dates) is updated in place;
- stale: the task has annotations or drafts and the text changed -> never overwritten, marked
  `meta.corpuskit_stale = true` and reported so its annotations can be reviewed;
- unchanged: nothing to do;
- removed: a task whose document is no longer in the corpus -> marked `meta.corpuskit_removed` and
  reported; deleted only with `delete_removed` and only when nobody has annotated it.

Because the plan is recomputed from the server each time, a push killed at any point is finished by
running it again: imported batches are found by `doc_id`, the rest is imported, nothing twice. A batch
whose import failed in a way that leaves its fate unknown is checked against the server before it is
retried. A lock file keeps two pushes of the same corpus from interleaving.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.documents.model import Document, body_text
from corpuskit.errors import DataError, StudioError, UsageError
from corpuskit.studio.client import StudioClient, TransientStudioError, connection
from corpuskit.studio.project import find_projects, project_title
from corpuskit.taxonomy.labelconfig import SOURCE_DISPLAY_KEY

if TYPE_CHECKING:
    from corpuskit.settings import Settings
    from corpuskit.taxonomy.model import Taxonomy

DISPLAY_FIELDS: tuple[str, ...] = ("title", "summary", "section", "source", "published_at", "modified_at")
# The task data annotators' work depends on: never rewritten on a task someone has worked on
# (`content_sha256` covers title, summary and text; pull reads `taxonomy_version` from the task).
ANNOTATED_KEYS = frozenset({"doc_id", "content_sha256", "taxonomy_version", "title", "summary", "text"})
STALE = "corpuskit_stale"
REMOVED = "corpuskit_removed"
LOCK_FILE = ".corpuskit/push.lock"
PAGE_SIZE = 5000
_TASK_FIELDS = "id,data,meta,total_annotations,cancelled_annotations,drafts,total_predictions"


def task_data(doc: Document, taxonomy_version: str) -> dict[str, Any]:
    """A document as Label Studio task data (docs/data-model.md)."""
    data: dict[str, Any] = {
        "doc_id": doc["id"],
        "content_sha256": doc["content_sha256"],
        "taxonomy_version": taxonomy_version,
    }
    for name in DISPLAY_FIELDS:
        data[name] = doc.get(name)
    # Label Studio's editor replaces `$source` with the whole task as JSON: the labelling config
    # shows the source from this key (corpuskit.taxonomy.labelconfig.SOURCE_DISPLAY_KEY).
    data[SOURCE_DISPLAY_KEY] = doc.get("source")
    data["text"] = body_text(doc)
    return data


@dataclass(frozen=True)
class ServerTask:
    """What a push needs to know about one task already in the project."""

    id: int
    data: dict[str, Any]
    meta: dict[str, Any]
    annotated: bool
    has_predictions: bool = False

    @property
    def doc_id(self) -> str | None:
        value = self.data.get("doc_id")
        return value if isinstance(value, str) else None


@dataclass
class Plan:
    """What a push will do; lists hold document ids (and task ids where a task exists)."""

    new: list[dict[str, Any]] = field(default_factory=list)  # task payloads to import
    changed: list[tuple[int, dict[str, Any]]] = field(default_factory=list)  # (task id, new data)
    stale: list[tuple[int, str]] = field(default_factory=list)  # (task id, doc id)
    unchanged: list[str] = field(default_factory=list)
    removed: list[tuple[int, str, bool]] = field(default_factory=list)  # (task id, doc id, annotated)
    duplicates: list[tuple[str, list[int]]] = field(default_factory=list)  # doc id, extra task ids
    marks: dict[int, dict[str, Any]] = field(default_factory=dict)  # task id -> new meta
    predictions: list[dict[str, Any]] = field(default_factory=list)  # for existing tasks

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "stale": len(self.stale),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "duplicates": len(self.duplicates),
        }


@dataclass
class PushResult:
    """The plan and what was applied; `summary()` is the documented `--format json` shape."""

    project_id: int | None
    project_title: str
    server: str
    project_created: bool
    config_updated: bool
    dry_run: bool
    documents: int
    invalid: int
    plan: Plan
    created: int = 0
    updated: int = 0
    marked: int = 0
    deleted: int = 0
    predictions: int = 0
    predictions_skipped: list[str] = field(default_factory=list)
    removed_considered: bool = True

    def summary(self) -> dict[str, Any]:
        return {
            "project": {
                "id": self.project_id,
                "title": self.project_title,
                "server": self.server,
                "created": self.project_created,
                "config_updated": self.config_updated,
            },
            "dry_run": self.dry_run,
            "documents": self.documents,
            "invalid_skipped": self.invalid,
            "plan": self.plan.counts(),
            "stale": sorted(doc for _, doc in self.plan.stale),
            "removed": sorted(doc for _, doc, _ in self.plan.removed),
            "duplicates": sorted(doc for doc, _ in self.plan.duplicates),
            "applied": {
                "created": self.created,
                "updated": self.updated,
                "marked": self.marked,
                "deleted": self.deleted,
                "predictions": self.predictions,
            },
            "predictions_skipped": sorted(self.predictions_skipped),
        }


# --- reading the project -------------------------------------------------------------------------


def _is_annotated(task: dict[str, Any]) -> bool:
    return bool(task.get("total_annotations") or task.get("cancelled_annotations") or task.get("drafts"))


def read_model_versions(client: StudioClient, project_id: int) -> dict[int, set[str]]:
    """Task id -> model versions of the predictions it already has (one request for the project)."""
    body = client.request(
        "GET",
        "/api/predictions",
        params={"project": project_id},
        what=f"read the predictions of project {project_id}",
    ).json()
    versions: dict[int, set[str]] = {}
    for item in body if isinstance(body, list) else body.get("results", []):
        versions.setdefault(int(item["task"]), set()).add(str(item.get("model_version") or ""))
    return versions


def read_tasks(client: StudioClient, project_id: int) -> list[ServerTask]:
    """Every task of the project with its data, marks and whether anyone has worked on it.

    The data manager's task list with an explicit `include` is the fastest full read measured
    (about 3x the export endpoint, which serialises every annotation and prediction)."""
    tasks: list[ServerTask] = []
    page = 1
    while True:
        response = client.request(
            "GET",
            "/api/tasks",
            params={
                "project": project_id,
                "page": page,
                "page_size": PAGE_SIZE,
                "fields": "task_only",
                "include": _TASK_FIELDS,
            },
            what=f"read the tasks of project {project_id}",
        )
        body = response.json()
        items = body.get("tasks", []) if isinstance(body, dict) else []
        for item in items:
            tasks.append(
                ServerTask(
                    id=int(item["id"]),
                    data=item.get("data") or {},
                    meta=item.get("meta") or {},
                    annotated=_is_annotated(item),
                    has_predictions=bool(item.get("total_predictions")),
                )
            )
        total = body.get("total") if isinstance(body, dict) else None
        if len(items) < PAGE_SIZE or (isinstance(total, int) and len(tasks) >= total):
            return tasks
        page += 1


# --- planning -------------------------------------------------------------------------------------


def _meta(task: ServerTask, *, stale: bool, removed: bool) -> dict[str, Any] | None:
    """The task's meta with these marks, or None if it already carries them."""
    if bool(task.meta.get(STALE)) == stale and bool(task.meta.get(REMOVED)) == removed:
        return None
    return {**task.meta, STALE: stale, REMOVED: removed}


def make_plan(
    documents: Sequence[Document],
    tasks: Sequence[ServerTask],
    taxonomy_version: str,
    *,
    consider_removed: bool = True,
) -> Plan:
    """Compare the corpus with the project's tasks (pure: no server calls)."""
    plan = Plan()
    by_doc: dict[str, list[ServerTask]] = {}
    for task in sorted(tasks, key=lambda t: t.id):
        if task.doc_id is not None:
            by_doc.setdefault(task.doc_id, []).append(task)
    seen: set[str] = set()
    for doc in documents:
        data = task_data(doc, taxonomy_version)
        doc_id = doc["id"]
        seen.add(doc_id)
        found = by_doc.get(doc_id)
        if not found:
            plan.new.append({"data": data, "meta": {STALE: False, REMOVED: False}})
            continue
        # Several tasks for one document come from imports outside corpuskit: keep the oldest,
        # report the rest, never add another.
        task = found[0]
        if len(found) > 1:
            plan.duplicates.append((doc_id, [t.id for t in found[1:]]))
        if task.annotated:
            is_stale = task.data.get("content_sha256") != data["content_sha256"]
            if is_stale:
                plan.stale.append((task.id, doc_id))
            else:
                # The text the annotators saw is the same: display data around it may follow the
                # document (and a task pushed before a display key existed gets it).
                shown = {**task.data, **{k: v for k, v in data.items() if k not in ANNOTATED_KEYS}}
                if shown != task.data:
                    plan.changed.append((task.id, shown))
                else:
                    plan.unchanged.append(doc_id)
            meta = _meta(task, stale=is_stale, removed=False)
            if meta is not None:
                plan.marks[task.id] = meta
        elif task.data != data:
            plan.changed.append((task.id, data))
            meta = _meta(task, stale=False, removed=False)
            if meta is not None:
                plan.marks[task.id] = meta
        else:
            plan.unchanged.append(doc_id)
            meta = _meta(task, stale=False, removed=False)
            if meta is not None:
                plan.marks[task.id] = meta
    if consider_removed:
        for doc_id, found in sorted(by_doc.items()):
            if doc_id in seen:
                continue
            for task in found:
                plan.removed.append((task.id, doc_id, task.annotated))
                meta = _meta(task, stale=bool(task.meta.get(STALE)), removed=True)
                if meta is not None:
                    plan.marks[task.id] = meta
    return plan


# --- predictions ----------------------------------------------------------------------------------


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Model predictions, one JSON object per line: `{document_id, model_version, stance, topics,
    spans?, score?}`; a malformed line is a DataError naming the file and line."""
    import orjson

    rows: list[dict[str, Any]] = []
    try:
        lines = path.read_bytes().splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from None
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            row = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise DataError(f"{path}:{number}: not valid JSON: {exc}") from None
        if not isinstance(row, dict):
            raise DataError(f"{path}:{number}: a prediction is a JSON object")
        for key in ("document_id", "model_version"):
            if not isinstance(row.get(key), str) or not row[key]:
                raise DataError(f"{path}:{number}: {key}: a non-empty string is required")
        score = row.get("score")
        if score is not None and not isinstance(score, int | float):
            raise DataError(f"{path}:{number}: score: must be a number")
        rows.append(row)
    return rows


def _prediction(taxonomy: Taxonomy, row: dict[str, Any], text: str) -> dict[str, Any]:
    from corpuskit.taxonomy import row_to_result

    prediction: dict[str, Any] = {
        "result": row_to_result(taxonomy, row, text),
        "model_version": row["model_version"],
    }
    if row.get("score") is not None:
        prediction["score"] = float(row["score"])
    return prediction


def _attach_predictions(
    plan: Plan,
    rows: Sequence[dict[str, Any]],
    tasks: Sequence[ServerTask],
    taxonomy: Taxonomy,
    skipped: list[str],
    versions: dict[int, set[str]],
) -> None:
    """Embed predictions in new tasks; queue them for existing tasks that lack that model version."""
    new_by_doc = {payload["data"]["doc_id"]: payload for payload in plan.new}
    existing: dict[str, ServerTask] = {}
    for task in sorted(tasks, key=lambda t: t.id, reverse=True):
        if task.doc_id is not None:
            existing[task.doc_id] = task
    for row in rows:
        doc_id = row["document_id"]
        if doc_id in new_by_doc:
            payload = new_by_doc[doc_id]
            payload.setdefault("predictions", []).append(_prediction(taxonomy, row, payload["data"]["text"]))
        elif doc_id in existing:
            task = existing[doc_id]
            if row["model_version"] in versions.get(task.id, set()):
                continue
            prediction = _prediction(taxonomy, row, str(task.data.get("text", "")))
            plan.predictions.append({"task": task.id, **prediction})
        else:
            skipped.append(doc_id)


# --- the project ----------------------------------------------------------------------------------


def _guidelines(settings: Settings, taxonomy: Taxonomy) -> str:
    from corpuskit.taxonomy import guidelines_html
    from corpuskit.taxonomy.guidelines import DEFAULT_GUIDELINES

    configured = settings.extra.get("guidelines")
    path = settings.path(str(configured or DEFAULT_GUIDELINES))
    if configured is None and not path.is_file():
        return guidelines_html(taxonomy, None)
    return guidelines_html(taxonomy, path)


def _project_settings(settings: Settings, taxonomy: Taxonomy, title: str) -> dict[str, Any]:
    from corpuskit.taxonomy import label_config

    return {
        "title": title,
        "label_config": label_config(taxonomy),
        "expert_instruction": _guidelines(settings, taxonomy),
        "show_instruction": True,
    }


def _differs(project: dict[str, Any], wanted: dict[str, Any]) -> dict[str, Any]:
    """The settings that differ; Label Studio strips surrounding whitespace from what it stores."""

    def norm(value: Any) -> Any:
        return value.strip() if isinstance(value, str) else value

    return {key: value for key, value in wanted.items() if norm(project.get(key)) != norm(value)}


# --- applying -------------------------------------------------------------------------------------


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


def _progress(total: int, enabled: bool, desc: str) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, desc=desc, unit="task", file=sys.stderr, disable=not enabled, leave=False)


def _import_batches(
    client: StudioClient,
    project_id: int,
    payloads: list[dict[str, Any]],
    batch_size: int,
    progress: bool,
    on_batch: Callable[[int], None] | None,
) -> int:
    """Import in batches; a batch whose outcome is unknown is re-checked on the server, never doubled."""
    created = 0
    bar = _progress(len(payloads), progress, "importing")
    try:
        for start in range(0, len(payloads), batch_size):
            batch = payloads[start : start + batch_size]
            for attempt in range(1, client.attempts + 1):
                try:
                    client.call(
                        f"import tasks into project {project_id}",
                        client.sdk.projects.import_tasks,
                        project_id,
                        request=batch,
                        retry=False,
                    )
                    created += len(batch)
                    break
                except TransientStudioError:
                    if attempt == client.attempts:
                        raise
                    time.sleep(client.backoff * 2 ** (attempt - 1))
                    # The server may have taken the batch before the connection broke: import
                    # only what it does not have.
                    present = {t.doc_id for t in read_tasks(client, project_id)}
                    missing = [p for p in batch if p["data"]["doc_id"] not in present]
                    created += len(batch) - len(missing)
                    batch = missing
                    if not batch:
                        break
            bar.update(len(payloads[start : start + batch_size]))
            if on_batch is not None:
                on_batch(created)
    finally:
        bar.close()
    return created


def _create_project(client: StudioClient, title: str, wanted: dict[str, Any]) -> int:
    """Create the project, once: after a lost answer it is looked up by title before another try."""
    for attempt in range(1, client.attempts + 1):
        try:
            made = client.call("create the project", client.sdk.projects.create, retry=False, **wanted)
            return int(made.id)
        except TransientStudioError:
            if attempt == client.attempts:
                raise
            time.sleep(client.backoff * 2 ** (attempt - 1))
            # The server may have created it before the connection broke or the gateway gave up.
            found = find_projects(client, title)
            if found:
                return int(found[0]["id"])
    raise AssertionError("unreachable")


def _patch_all(
    client: StudioClient, updates: Sequence[tuple[int, dict[str, Any]]], progress: bool, desc: str
) -> int:
    if not updates:
        return 0
    bar = _progress(len(updates), progress, desc)

    def patch(item: tuple[int, dict[str, Any]]) -> None:
        task_id, body = item
        client.request("PATCH", f"/api/tasks/{task_id}", json=body, what=f"update task {task_id}")
        bar.update(1)

    try:
        # A few requests in flight hide the per-request latency; more only queue on the server.
        with ThreadPoolExecutor(max_workers=4) as pool:
            list(pool.map(patch, updates))
    finally:
        bar.close()
    return len(updates)


def push(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    settings: Settings | None = None,
    project: int | None = None,
    dry_run: bool = False,
    delete_removed: bool = False,
    predictions: str | os.PathLike[str] | None = None,
    batch_size: int = 1000,
    progress: bool | None = None,
    client: StudioClient | None = None,
    on_batch: Callable[[int], None] | None = None,
) -> PushResult:
    """Create or update the Label Studio project from the taxonomy and push the valid documents.

    `paths` limits the push to some files (then nothing counts as removed). With `dry_run` the
    plan is computed and nothing on the server changes."""
    from corpuskit.settings import load_settings
    from corpuskit.taxonomy import load_taxonomy

    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    settings = settings or load_settings()
    if progress is None:
        progress = sys.stderr.isatty()
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    prediction_rows = read_predictions(Path(predictions)) if predictions is not None else []
    title = project_title(settings, taxonomy)
    own_client = client is None
    client = client or StudioClient(connection(settings))
    try:
        with push_lock(settings.root):
            return _push_locked(
                client,
                settings,
                taxonomy,
                title,
                paths,
                project,
                dry_run,
                delete_removed,
                prediction_rows,
                batch_size,
                progress,
                on_batch,
            )
    finally:
        if own_client:
            client.close()


def _push_locked(
    client: StudioClient,
    settings: Settings,
    taxonomy: Taxonomy,
    title: str,
    paths: Sequence[str | os.PathLike[str]] | None,
    project: int | None,
    dry_run: bool,
    delete_removed: bool,
    prediction_rows: list[dict[str, Any]],
    batch_size: int,
    progress: bool,
    on_batch: Callable[[int], None] | None,
) -> PushResult:
    from corpuskit.validation.api import iter_valid_documents, validate

    client.whoami()  # an unreachable server or a refused token fails before any other work
    result = validate(paths, settings=settings, progress=progress)
    documents = list(iter_valid_documents(paths, settings=settings, result=result))
    wanted = _project_settings(settings, taxonomy, title)
    created_project = False
    config_updated = False
    info: dict[str, Any] | None
    if project is not None:
        info = client.project(project)
    else:
        found = find_projects(client, title)
        if len(found) > 1:
            ids = ", ".join(str(p["id"]) for p in found)
            raise StudioError(
                f"several Label Studio projects are titled {title!r} (ids {ids}): pass --project"
            )
        info = client.project(int(found[0]["id"])) if found else None
    if info is not None:
        project_id: int | None = int(info["id"])
        title = str(info.get("title") or title) if project is not None else title
        changes = _differs(info, wanted)
        if project is not None:
            changes.pop("title", None)
        if changes and not dry_run:
            client.call(f"update project {project_id}", client.sdk.projects.update, project_id, **changes)
        config_updated = bool(changes)
    elif dry_run:
        project_id = None
        created_project = True
    else:
        project_id = _create_project(client, title, wanted)
        created_project = True
    tasks = read_tasks(client, project_id) if project_id is not None else []
    plan = make_plan(documents, tasks, taxonomy.version, consider_removed=not paths)
    skipped: list[str] = []
    if prediction_rows:
        versions = (
            read_model_versions(client, project_id)
            if project_id is not None and any(t.has_predictions for t in tasks)
            else {}
        )
        _attach_predictions(plan, prediction_rows, tasks, taxonomy, skipped, versions)
    outcome = PushResult(
        project_id=project_id,
        project_title=title,
        server=client.url,
        project_created=created_project,
        config_updated=config_updated,
        dry_run=dry_run,
        documents=len(documents),
        invalid=result.invalid,
        plan=plan,
        predictions_skipped=skipped,
        removed_considered=not paths,
    )
    if dry_run or project_id is None:
        return outcome
    outcome.created = _import_batches(client, project_id, plan.new, batch_size, progress, on_batch)
    outcome.predictions = sum(len(p.get("predictions", [])) for p in plan.new)
    marks = dict(plan.marks)
    updates: list[tuple[int, dict[str, Any]]] = []
    for task_id, data in plan.changed:
        body: dict[str, Any] = {"data": data}
        if task_id in marks:
            body["meta"] = marks.pop(task_id)
        updates.append((task_id, body))
    outcome.updated = _patch_all(client, updates, progress, "updating")
    meta_only = [(task_id, {"meta": meta}) for task_id, meta in sorted(marks.items())]
    outcome.marked = _patch_all(client, meta_only, progress, "marking")
    if delete_removed:
        doomed = [task_id for task_id, _, annotated in plan.removed if not annotated]
        for task_id in doomed:
            client.request("DELETE", f"/api/tasks/{task_id}", what=f"delete task {task_id}")
        outcome.deleted = len(doomed)
    if plan.predictions:
        client.call(
            f"import predictions into project {project_id}",
            client.sdk.projects.import_predictions,
            project_id,
            request=plan.predictions,
            retry=False,
        )
        outcome.predictions += len(plan.predictions)
    return outcome
