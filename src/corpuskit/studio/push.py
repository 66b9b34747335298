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

The plan is computed from the server's tasks. To spare a re-push the read of every task (about
1 ms per task on Label Studio's side), a push that completed leaves a local record of what it left
in the project (`corpuskit.studio.push_state`); the next push reads only the tasks changed on the
server since (one filtered query), checks the task count, and asks for a task by id only when its
document changed. When the corpus's inputs are byte for byte those of the last push and nothing
on the server changed that the plan depends on, even validation is skipped: the plan is the last
one's outcome. A missing, unreadable or disagreeing record means a full read, as before.

Because the plan is recomputed from the server each time, a push killed at any point is finished by
running it again: imported batches are found by `doc_id`, the rest is imported, nothing twice. A batch
whose import failed in a way that leaves its fate unknown is checked against the server before it is
retried. A lock file keeps two pushes of the same corpus from interleaving.
"""

from __future__ import annotations

import dataclasses
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
from corpuskit.quality.design import PILOT, OverlapDesign
from corpuskit.studio import push_state
from corpuskit.studio.client import TRANSIENT_STATUS, StudioClient, TransientStudioError, connection
from corpuskit.studio.project import find_projects, project_title, task_pages
from corpuskit.studio.push_state import PushState, data_hash
from corpuskit.studio.team import overlap_updates, pilot_sample, project_settings, read_overlaps
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
_TASK_FIELDS = "id,data,meta,updated_at,total_annotations,cancelled_annotations,drafts,total_predictions"
# What push reads of a project: its settings, and the one count it needs (all counts cost more).
_PROJECT_FIELDS = (
    "id,title,label_config,expert_instruction,show_instruction,created_at,task_number,"
    "maximum_annotations,overlap_cohort_percentage,show_overlap_first,sampling,show_annotation_history,"
    "show_collab_predictions,show_ground_truth_first,evaluate_predictions_automatically,"
    "reveal_preannotations_interactively"
)
# The project fields that hold the labelling config (the rest are the team design, see team.py).
_CONFIG_FIELDS = ("title", "label_config", "expert_instruction", "show_instruction")
# Asking for tasks one by one beats reading them all only while they are few.
LOOKUPS_MIN = 50
LOOKUPS_SHARE = 10  # at most one task in this many
PLAN_SERVER = "server"  # every task of the project was read
PLAN_LOCAL = "local"  # from the local record, the tasks changed since and the changed documents' tasks


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
    updated_at: str | None = None

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
    # Unannotated exact copies of a document's task (an import the server finished after the
    # client had given up on it, then imported again): deleted, so a re-run heals them.
    copies: list[tuple[str, int]] = field(default_factory=list)  # (doc id, task id)
    marks: dict[int, dict[str, Any]] = field(default_factory=dict)  # task id -> new meta
    predictions: list[dict[str, Any]] = field(default_factory=list)  # for existing tasks

    def document_ids(self) -> set[str]:
        """The documents of the corpus this plan keeps in the project (not the removed ones)."""
        ids = {p["data"]["doc_id"] for p in self.new} | set(self.unchanged)
        return ids | {doc for _, doc in self.stale} | {str(data.get("doc_id")) for _, data in self.changed}

    def counts(self) -> dict[str, int]:
        return {
            "new": len(self.new),
            "changed": len(self.changed),
            "stale": len(self.stale),
            "unchanged": len(self.unchanged),
            "removed": len(self.removed),
            "duplicates": len(self.duplicates),
            "copies": len(self.copies),
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
    deduplicated: int = 0
    predictions: int = 0
    predictions_skipped: list[str] = field(default_factory=list)
    removed_considered: bool = True
    plan_source: str = PLAN_SERVER
    corpus_unchanged: bool = False  # the inputs were those of the last push: not validated again
    design: OverlapDesign = field(default_factory=OverlapDesign)
    design_repaired: list[str] = field(default_factory=list)  # team settings found changed on the server
    pilot: list[str] = field(default_factory=list)  # the documents of a pilot round (push --pilot)
    overlap_set: int = 0  # tasks whose overlap this push set

    def summary(self) -> dict[str, Any]:
        return {
            "project": {
                "id": self.project_id,
                "title": self.project_title,
                "server": self.server,
                "created": self.project_created,
                "config_updated": self.config_updated,
                "design_repaired": sorted(self.design_repaired),
            },
            "design": {
                **self.design.to_json(),
                **self._design_counts(),
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
                "deduplicated": self.deduplicated,
                "predictions": self.predictions,
                "overlap_set": self.overlap_set,
            },
            "predictions_skipped": sorted(self.predictions_skipped),
            "plan_source": self.plan_source,
            "corpus_unchanged": self.corpus_unchanged,
        }

    def _design_counts(self) -> dict[str, int]:
        """Documents of this push by the number of annotators they wait for."""
        ids = self.plan.document_ids() - set(self.pilot)
        overlapped = sum(1 for doc_id in ids if self.design.in_overlap(doc_id))
        return {"overlapped": overlapped, "single": len(ids) - overlapped, "pilot": len(self.pilot)}


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


def _server_task(item: dict[str, Any]) -> ServerTask:
    updated = item.get("updated_at")
    return ServerTask(
        id=int(item["id"]),
        data=item.get("data") or {},
        meta=item.get("meta") or {},
        annotated=_is_annotated(item),
        has_predictions=bool(item.get("total_predictions")),
        updated_at=updated if isinstance(updated, str) else None,
    )


def _since(watermark: str) -> str:
    """A data manager query: tasks whose `updated_at` is at or after `watermark`."""
    import json

    item = {
        "filter": "filter:tasks:updated_at",
        "operator": "greater_or_equal",
        "type": "Datetime",
        "value": watermark,
    }
    return json.dumps({"filters": {"conjunction": "and", "items": [item]}, "ordering": ["tasks:id"]})


def read_tasks(client: StudioClient, project_id: int, *, since: str | None = None) -> list[ServerTask]:
    """Every task of the project (or those changed at or after `since`, a watermark from
    `corpuskit.studio.push_state.watermark`) with its data, marks and whether anyone worked on it.

    The data manager's task list with an explicit `include` is the fastest full read measured
    (about 3x the export endpoint, which serialises every annotation and prediction)."""
    query = _since(since) if since is not None else None
    pages = task_pages(client, project_id, _TASK_FIELDS, page_size=PAGE_SIZE, query=query)
    return [_server_task(item) for items in pages for item in items]


def read_task(client: StudioClient, task_id: int) -> ServerTask | None:
    """One task by id, or None if the server no longer has it."""
    try:
        body = client.request("GET", f"/api/tasks/{task_id}", what=f"read task {task_id}").json()
    except StudioError as exc:
        if "HTTP 404" in str(exc) and not isinstance(exc, TransientStudioError):
            return None
        raise
    return _server_task(body) if isinstance(body, dict) else None


def latest_update(client: StudioClient, project_id: int) -> tuple[int | None, str | None]:
    """The project's task count and its latest task `updated_at`, from one one-task page."""
    import json

    body = client.request(
        "GET",
        "/api/tasks",
        params={
            "project": project_id,
            "page": 1,
            "page_size": 1,
            "fields": "task_only",
            "include": "id,updated_at",
            "query": json.dumps({"ordering": ["-tasks:updated_at"]}),
        },
        what=f"read the latest change in project {project_id}",
    ).json()
    if not isinstance(body, dict):
        return None, None
    total = body.get("total")
    items = body.get("tasks") or []
    latest = items[0].get("updated_at") if items and isinstance(items[0], dict) else None
    return (total if isinstance(total, int) else None), push_state.watermark(latest)


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
    wanted: dict[str, dict[str, Any]] | None = None,
) -> Plan:
    """Compare the corpus with the project's tasks (pure: no server calls). `wanted` may hold the
    documents' task data already computed (by document id)."""
    plan = Plan()
    by_doc: dict[str, list[ServerTask]] = {}
    for task in sorted(tasks, key=lambda t: t.id):
        if task.doc_id is not None:
            by_doc.setdefault(task.doc_id, []).append(task)
    seen: set[str] = set()
    for doc in documents:
        doc_id = doc["id"]
        data = wanted[doc_id] if wanted is not None else task_data(doc, taxonomy_version)
        seen.add(doc_id)
        found = by_doc.get(doc_id)
        if not found:
            plan.new.append({"data": data, "meta": {STALE: False, REMOVED: False}})
            continue
        # Several tasks for one document: keep the oldest. Unannotated copies with the same content
        # and identity are corpuskit's own double import and go; any other extra task came from
        # outside corpuskit or holds work: reported, never touched, never added to.
        task = found[0]
        if len(found) > 1:
            identity = (task.data.get("doc_id"), task.data.get("content_sha256"))
            extra: list[int] = []
            for other in found[1:]:
                same = (other.data.get("doc_id"), other.data.get("content_sha256")) == identity
                if same and not other.annotated:
                    plan.copies.append((doc_id, other.id))
                else:
                    extra.append(other.id)
            if extra:
                plan.duplicates.append((doc_id, extra))
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


# --- planning from the local record ---------------------------------------------------------------

# What a push knows of a task: its document id, a hash of its data, whether its marks are clear.
TaskView = tuple[str | None, str, bool]


def _clean(meta: dict[str, Any]) -> bool:
    return not meta.get(STALE) and not meta.get(REMOVED)


def _view_of(task: ServerTask) -> TaskView:
    return (task.doc_id, data_hash(task.data), _clean(task.meta))


def _record_view(state: PushState, changed: Sequence[ServerTask]) -> dict[int, TaskView]:
    """Every task of the project as the record knows it, overridden by the tasks changed since."""
    view: dict[int, TaskView] = {task_id: (None, "", True) for task_id in state.foreign}
    for doc_id, doc in state.docs.items():
        for position, task_id in enumerate(doc.tasks):
            # Only the first task's hash is recorded; the others are duplicates, always looked at.
            view[task_id] = (doc_id, doc.hash if position == 0 else "", doc.clean)
    for task in changed:
        view[task.id] = _view_of(task)
    return view


def _by_doc(view: dict[int, TaskView]) -> dict[str, list[int]]:
    by_doc: dict[str, list[int]] = {}
    for task_id in sorted(view):
        doc_id = view[task_id][0]
        if doc_id is not None:
            by_doc.setdefault(doc_id, []).append(task_id)
    return by_doc


def _replay(state: PushState, changed: Sequence[ServerTask]) -> Plan | None:
    """The last plan's outcome again, when the corpus is the one last pushed and no task changed
    since in a way the plan depends on (None otherwise). Annotations on a task whose document was
    settled change nothing: its data is already what the corpus asks for."""
    owner = {task_id: doc_id for doc_id, doc in state.docs.items() for task_id in doc.tasks}
    for task in changed:
        doc_id = owner.get(task.id)
        if doc_id is None:
            if task.doc_id is None and task.id in state.foreign:
                continue
            return None
        doc = state.docs[doc_id]
        if task.doc_id != doc_id or task.id != doc.tasks[0] or data_hash(task.data) != doc.hash:
            return None
        if _clean(task.meta) != doc.clean:
            return None
        # Whether a task with a pending outcome (stale, removed, data kept for its annotations)
        # is still annotated matters; the task the watermark was taken from is as last seen.
        if doc.outcome != push_state.SETTLED and push_state.watermark(task.updated_at) != state.watermark:
            return None
    plan = Plan()
    for doc_id, doc in sorted(state.docs.items()):
        if doc.outcome == push_state.UNKNOWN:
            return None
        if doc.outcome == push_state.REMOVED:
            # Whether it is annotated is not known here; True keeps anything from deleting it.
            plan.removed.extend((task_id, doc_id, True) for task_id in doc.tasks)
            continue
        if len(doc.tasks) > 1:
            return None  # whether the extra tasks hold work is only known from the server
        if doc.outcome == push_state.STALE:
            plan.stale.append((doc.tasks[0], doc_id))
        else:
            plan.unchanged.append(doc_id)
    return plan


def _fetch(client: StudioClient, task_ids: Sequence[int]) -> list[ServerTask] | None:
    """The tasks by id (a few requests in flight), or None if one of them is gone."""
    if not task_ids:
        return []
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(lambda task_id: read_task(client, task_id), task_ids))
    tasks = [task for task in found if task is not None]
    return tasks if len(tasks) == len(found) else None


def _plan_locally(
    client: StudioClient,
    documents: Sequence[Document],
    wanted: dict[str, dict[str, Any]],
    hashes: dict[str, str],
    state: PushState,
    changed: Sequence[ServerTask],
    taxonomy_version: str,
    consider_removed: bool,
) -> tuple[Plan, dict[int, TaskView]] | None:
    """The plan from the record, the tasks changed since, and the tasks of changed documents read
    one by one; None when that would take more requests than reading the project."""
    view = _record_view(state, changed)
    fresh = {task.id: task for task in changed}
    by_doc = _by_doc(view)
    settled: list[str] = []
    looked: list[Document] = []
    needed: list[int] = []
    for doc in documents:
        doc_id = doc["id"]
        ids = by_doc.get(doc_id, [])
        if len(ids) == 1 and ids[0] not in fresh:
            _, digest, clean = view[ids[0]]
            if clean and digest == hashes[doc_id]:
                settled.append(doc_id)
                continue
        looked.append(doc)
        needed.extend(task_id for task_id in ids if task_id not in fresh)
    if consider_removed:
        for doc_id, ids in by_doc.items():
            if doc_id not in wanted:
                needed.extend(task_id for task_id in ids if task_id not in fresh)
    if len(needed) > max(LOOKUPS_MIN, len(view) // LOOKUPS_SHARE):
        return None
    fetched = _fetch(client, needed)
    if fetched is None:
        return None
    for task in fetched:
        view[task.id] = _view_of(task)
    plan = make_plan(
        looked, [*changed, *fetched], taxonomy_version, consider_removed=consider_removed, wanted=wanted
    )
    plan.unchanged.extend(settled)
    return plan, view


def _state_after(
    previous: PushState,
    plan: Plan,
    view: dict[int, TaskView],
    hashes: dict[str, str],
) -> PushState:
    """The record of the project once `plan` has been applied to the tasks in `view`."""
    stale = {doc_id for _, doc_id in plan.stale}
    removed = {doc_id for _, doc_id, _ in plan.removed}
    state = dataclasses.replace(previous, docs={}, foreign=[])
    for task_id in sorted(view):
        if view[task_id][0] is None:
            state.foreign.append(task_id)
    for doc_id, ids in _by_doc(view).items():
        _, digest, clean = view[ids[0]]
        if doc_id in removed:
            outcome = push_state.REMOVED
        elif doc_id in stale:
            outcome = push_state.STALE
        elif doc_id in hashes:
            settled = len(ids) == 1 and clean and digest == hashes[doc_id]
            outcome = push_state.SETTLED if settled else push_state.UNCHANGED
        else:
            outcome = push_state.UNKNOWN
        state.docs[doc_id] = push_state.DocState(outcome, digest, clean, ids)
    state.task_count = len(view)
    return state


# --- predictions ----------------------------------------------------------------------------------


def read_predictions(path: Path) -> list[dict[str, Any]]:
    """Model predictions, one JSON object per line: `{document_id, model_version, stance, topics,
    spans?, score?}`; a malformed line is a DataError naming the file and line."""
    from corpuskit.jsonl import iter_numbered

    rows: list[dict[str, Any]] = []
    try:
        numbered = list(iter_numbered(path))
    except OSError as exc:
        raise UsageError(f"{path}: cannot be read: {exc.strerror}") from None
    for number, row in numbered:
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

    path = settings.path(settings.guidelines)
    if settings.guidelines == DEFAULT_GUIDELINES and not path.is_file():
        return guidelines_html(taxonomy, None)  # the default file is optional; a named one is not
    return guidelines_html(taxonomy, path)


def _project_settings(
    settings: Settings, taxonomy: Taxonomy, title: str, design: OverlapDesign
) -> dict[str, Any]:
    from corpuskit.taxonomy import label_config

    return {
        "title": title,
        "label_config": label_config(taxonomy),
        "expert_instruction": _guidelines(settings, taxonomy),
        "show_instruction": True,
        **project_settings(design),
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


def _post_import(client: StudioClient, project_id: int, batch: list[dict[str, Any]]) -> list[int] | None:
    """One import request, never retried here (the server may have taken it before the answer was
    lost); the new task ids in the batch's order, or None if the server did not say.

    The body is encoded with orjson: the SDK's own encoder walks every value in Python and cost
    more than the rest of the client side of a push."""
    import httpx
    import orjson

    what = f"import tasks into project {project_id}"
    try:
        response = client.http.post(
            f"/api/projects/{project_id}/import",
            params={"return_task_ids": "true"},
            content=orjson.dumps(batch),
            headers={"Authorization": client.auth_header(), "Content-Type": "application/json"},
        )
    except httpx.TimeoutException:
        raise TransientStudioError(f"{what}: Label Studio at {client.url} did not answer in time") from None
    except httpx.TransportError as exc:
        raise TransientStudioError(
            f"{what}: cannot reach Label Studio at {client.url} ({type(exc).__name__})"
        ) from None
    if response.status_code in TRANSIENT_STATUS:
        status = response.status_code
        raise TransientStudioError(f"{what}: Label Studio at {client.url} answered HTTP {status}")
    if response.status_code >= 400:
        from corpuskit.studio.client import _body_detail

        client._raise_for_status(response.status_code, _body_detail(response), what)
    try:
        body = orjson.loads(response.content)
    except orjson.JSONDecodeError:
        raise TransientStudioError(
            f"{what}: Label Studio at {client.url} sent a cut-off or malformed answer"
        ) from None
    ids = body.get("task_ids") if isinstance(body, dict) else None
    if not isinstance(ids, list) or len(ids) != len(batch) or not all(isinstance(i, int) for i in ids):
        return None
    return ids


def _import_batches(
    client: StudioClient,
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
    bar = _progress(len(payloads), progress, "importing")
    try:
        for start in range(0, len(payloads), batch_size):
            batch = payloads[start : start + batch_size]
            for attempt in range(1, client.attempts + 1):
                try:
                    ids = _post_import(client, project_id, batch)
                    created += len(batch)
                    if ids is None or task_ids is None:
                        task_ids = None
                    else:
                        task_ids.update(zip((p["data"]["doc_id"] for p in batch), ids, strict=True))
                    break
                except TransientStudioError as exc:
                    if attempt == client.attempts:
                        raise TransientStudioError(f"{exc} after {attempt} attempts") from None
                    time.sleep(client.backoff * 2 ** (attempt - 1))
                    # The server may have taken the batch before the connection broke: import
                    # only what it does not have.
                    present = {t.doc_id: t.id for t in read_tasks(client, project_id)}
                    missing = [p for p in batch if p["data"]["doc_id"] not in present]
                    created += len(batch) - len(missing)
                    if task_ids is not None:
                        task_ids.update(
                            (p["data"]["doc_id"], present[p["data"]["doc_id"]])
                            for p in batch
                            if p["data"]["doc_id"] in present
                        )
                    batch = missing
                    if not batch:
                        break
            bar.update(len(payloads[start : start + batch_size]))
            if on_batch is not None:
                on_batch(created)
    finally:
        bar.close()
    return created, task_ids


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
    pilot: int | None = None,
) -> PushResult:
    """Create or update the Label Studio project from the taxonomy and push the valid documents.

    `paths` limits the push to some files (then nothing counts as removed). With `dry_run` the
    plan is computed and nothing on the server changes. `pilot=N` pushes only a seeded sample of
    N documents, stratified by outlet and language, that every member of the team labels
    (docs/team.md); their tasks are marked `meta.corpuskit_pilot`."""
    from corpuskit.settings import load_settings
    from corpuskit.taxonomy import load_taxonomy

    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if pilot is not None and pilot < 1:
        raise UsageError("--pilot needs at least 1 document")
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
                pilot,
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
    pilot: int | None = None,
) -> PushResult:
    from corpuskit.validation.api import iter_valid_documents, validate

    client.whoami()  # an unreachable server or a refused token fails before any other work
    design = OverlapDesign.from_settings(settings)
    wanted_settings = _project_settings(settings, taxonomy, title, design)
    info: dict[str, Any] | None
    if project is not None:
        info = client.project(project, fields=_PROJECT_FIELDS)
    else:
        found = find_projects(client, title)
        if len(found) > 1:
            ids = ", ".join(str(p["id"]) for p in found)
            raise StudioError(
                f"several Label Studio projects are titled {title!r} (ids {ids}): pass --project"
            )
        info = client.project(int(found[0]["id"]), fields=_PROJECT_FIELDS) if found else None
    # Hashed before validation reads the files: a file edited during the push then differs from
    # the record, never the other way round.
    inputs = _inputs_digest(settings) if paths is None and not prediction_rows and pilot is None else None
    state, changed = (
        _usable_state(client, settings, info) if not prediction_rows and pilot is None else (None, [])
    )
    replay = None
    if state is not None and inputs is not None and state.inputs == inputs and not state.time_dependent:
        replay = _replay(state, changed)
        if replay is not None and delete_removed and replay.removed:
            replay = None  # deleting needs each removed task's annotations: plan from the tasks
    if replay is not None and state is not None:
        documents: list[Document] = []
        n_documents, n_invalid, time_dependent = state.documents, state.invalid, state.time_dependent
    else:
        result = validate(paths, settings=settings, progress=progress)
        documents = list(iter_valid_documents(paths, settings=settings, result=result))
        n_documents, n_invalid = len(documents), result.invalid
        time_dependent = any(d.code == "future-date" for d in result.diagnostics)
    pilot_ids: list[str] = []
    if pilot is not None:
        pilot_ids = pilot_sample(documents, pilot, design.seed)
        chosen = set(pilot_ids)
        documents = [doc for doc in documents if doc["id"] in chosen]
    created_project = False
    config_updated = False
    if info is not None:
        project_id: int | None = int(info["id"])
        title = str(info.get("title") or title) if project is not None else title
        changes = _differs(info, wanted_settings)
        if project is not None:
            changes.pop("title", None)
        if changes and not dry_run:
            client.request(
                "PATCH", f"/api/projects/{project_id}", json=changes, what=f"update project {project_id}"
            )
        config_updated = any(key in changes for key in _CONFIG_FIELDS)
        design_repaired = sorted(key for key in changes if key not in _CONFIG_FIELDS)
    elif dry_run:
        project_id = None
        created_project = True
        design_repaired = []
    else:
        project_id = _create_project(client, title, wanted_settings)
        created_project = True
        design_repaired = []
    wanted = {doc["id"]: task_data(doc, taxonomy.version) for doc in documents}
    hashes = {doc_id: data_hash(data) for doc_id, data in wanted.items()}
    plan_source = PLAN_SERVER
    view: dict[int, TaskView] | None = None
    tasks: list[ServerTask] = []
    if replay is not None:
        plan, plan_source = replay, PLAN_LOCAL
    else:
        local = None
        if state is not None:
            local = _plan_locally(
                client, documents, wanted, hashes, state, changed, taxonomy.version, not paths
            )
        if local is not None:
            (plan, view), plan_source = local, PLAN_LOCAL
        else:
            tasks = read_tasks(client, project_id) if project_id is not None else []
            consider_removed = not paths and pilot is None
            plan = make_plan(
                documents, tasks, taxonomy.version, consider_removed=consider_removed, wanted=wanted
            )
            view = {task.id: _view_of(task) for task in tasks}
    if pilot_ids:
        _mark_pilot(plan, tasks)
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
        documents=n_documents,
        invalid=n_invalid,
        plan=plan,
        predictions_skipped=skipped,
        removed_considered=not paths,
        plan_source=plan_source,
        corpus_unchanged=replay is not None,
        design=design,
        design_repaired=design_repaired,
        # A main round names the pilot documents already in the project (when it read the tasks).
        pilot=pilot_ids or sorted({str(t.doc_id) for t in tasks if t.meta.get(PILOT)}),
    )
    if dry_run or project_id is None:
        return outcome
    outcome.created, new_ids = _import_batches(client, project_id, plan.new, batch_size, progress, on_batch)
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
    doomed: list[int] = []
    if delete_removed:
        doomed = [task_id for task_id, _, annotated in plan.removed if not annotated]
        for task_id in doomed:
            client.request("DELETE", f"/api/tasks/{task_id}", what=f"delete task {task_id}")
        outcome.deleted = len(doomed)
    for _, task_id in plan.copies:
        client.request("DELETE", f"/api/tasks/{task_id}", what=f"delete duplicate task {task_id}")
    doomed += [task_id for _, task_id in plan.copies]
    outcome.deduplicated = len(plan.copies)
    if plan.predictions:
        client.call(
            f"import predictions into project {project_id}",
            client.sdk.projects.import_predictions,
            project_id,
            request=plan.predictions,
            retry=False,
        )
        outcome.predictions += len(plan.predictions)
    if replay is None or design_repaired:
        outcome.overlap_set, pilot_docs = _apply_overlaps(
            client, project_id, design, state, view, new_ids, progress
        )
        outcome.pilot = outcome.pilot or pilot_docs
    elif state is not None:
        outcome.pilot = outcome.pilot or list(state.pilot)  # a replay reads no task: the record knows
    record = state or PushState(
        server=client.url,
        project_id=project_id,
        project_created_at=None,
        watermark=None,
        task_count=0,
        foreign=[],
        inputs=None,
        time_dependent=False,
        documents=0,
        invalid=0,
    )
    record = dataclasses.replace(
        record,
        project_created_at=info.get("created_at") if info is not None else None,
        inputs=inputs,
        time_dependent=time_dependent,
        documents=n_documents,
        invalid=n_invalid,
        pilot=sorted(outcome.pilot),
    )
    previous = state.watermark if state is not None else None
    _remember(client, settings, record, plan, view, new_ids, hashes, doomed, changed, previous)
    return outcome


# --- the team design -------------------------------------------------------------------------------


def _mark_pilot(plan: Plan, tasks: Sequence[ServerTask]) -> None:
    """Every task of a pilot push carries `meta.corpuskit_pilot` (new ones from the import)."""
    for payload in plan.new:
        payload["meta"][PILOT] = True
    wanted = plan.document_ids()
    for task in tasks:
        if task.doc_id in wanted and not task.meta.get(PILOT):
            plan.marks[task.id] = {**plan.marks.get(task.id, task.meta), PILOT: True}


def _apply_overlaps(
    client: StudioClient,
    project_id: int,
    design: OverlapDesign,
    state: PushState | None,
    view: dict[int, TaskView] | None,
    new_ids: dict[str, int] | None,
    progress: bool,
) -> tuple[int, list[str]]:
    """Set the overlap of every task that the design wants different from the project's k; returns
    how many were set and the pilot documents found.

    One light read of every task's overlap and marks; a PATCH only where it differs (in the default
    design, where every document gets k, only after a pilot round or a change on the server)."""
    current = read_overlaps(client, project_id)
    doc_of: dict[int, str | None] = {}
    if view is not None:
        doc_of.update((task_id, seen[0]) for task_id, seen in view.items())
    elif state is not None:
        doc_of.update((task_id, doc_id) for doc_id, doc in state.docs.items() for task_id in doc.tasks)
    doc_of.update((task_id, doc_id) for doc_id, task_id in (new_ids or {}).items())
    if any(task_id not in doc_of for task_id in current):
        doc_of.update((task.id, task.doc_id) for task in read_tasks(client, project_id))
    patched = _patch_all(client, overlap_updates(design, current, doc_of), progress, "setting overlap")
    pilot = sorted({str(doc_of.get(task_id)) for task_id, (_, meta) in current.items() if meta.get(PILOT)})
    return patched, pilot


# --- the local record -----------------------------------------------------------------------------


def _inputs_digest(settings: Settings) -> str | None:
    """The digest of a whole-corpus push's inputs (None if the raw folder cannot be listed)."""
    from corpuskit.documents.reader import iter_files

    try:
        files = list(iter_files([settings.path(settings.raw)]))
    except (UsageError, OSError):
        return None
    schema_dir = settings.path(settings.schema).parent
    config = sorted({settings.path(settings.taxonomy), *(p for p in schema_dir.rglob("*") if p.is_file())})
    shown = {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}
    shown.pop("label_studio_api_key", None)
    return push_state.inputs_digest(files, config, repr(sorted(shown.items(), key=lambda kv: kv[0])))


def _usable_state(
    client: StudioClient, settings: Settings, info: dict[str, Any] | None
) -> tuple[PushState | None, list[ServerTask]]:
    """The record of the last push to this project and the tasks changed since, if the record
    still describes the project (same project, and a task count that adds up)."""
    if info is None:
        return None, []
    project_id = int(info["id"])
    path = push_state.state_path(settings.root, client.url, project_id)
    state = push_state.load_state(path, client.url, project_id)
    if state is None or state.project_created_at != info.get("created_at"):
        return None, []
    changed = read_tasks(client, project_id, since=state.watermark)
    # Deleted tasks leave nothing to query: the count shows them (tasks added since are in `changed`).
    if info.get("task_number") != len(state.task_ids() | {task.id for task in changed}):
        return None, []
    return state, changed


def _remember(
    client: StudioClient,
    settings: Settings,
    record: PushState,
    plan: Plan,
    view: dict[int, TaskView] | None,
    new_ids: dict[str, int] | None,
    hashes: dict[str, str],
    deleted: Sequence[int],
    changed: Sequence[ServerTask],
    previous_watermark: str | None,
) -> None:
    """Write the record of what this push left in the project; drop it if that cannot be known.

    Only a push that got this far writes it: an interrupted one leaves the previous record, whose
    watermark makes the next push read every task changed since, its own imports included."""
    path = push_state.state_path(settings.root, client.url, record.project_id)
    try:
        if record.project_created_at is None:  # a project this push created
            created_at = client.project(record.project_id, fields="id,created_at").get("created_at")
            record = dataclasses.replace(record, project_created_at=created_at)
        if view is None:
            # The plan was the last one's and nothing was written; the watermark moves past the
            # tasks changed since (annotators at work) so that the next push reads fewer.
            latest = max(
                (mark for task in changed if (mark := push_state.watermark(task.updated_at))),
                default=record.watermark,
            )
            if latest != previous_watermark:
                push_state.save_state(path, dataclasses.replace(record, watermark=latest))
            return
        if new_ids is None:
            push_state.forget_state(path)
            return
        view = dict(view)
        for payload in plan.new:
            doc_id = payload["data"]["doc_id"]
            view[new_ids[doc_id]] = (doc_id, hashes[doc_id], True)
        for task_id, data in plan.changed:
            view[task_id] = (view[task_id][0], data_hash(data), view[task_id][2])
        for task_id, meta in plan.marks.items():
            view[task_id] = (view[task_id][0], view[task_id][1], _clean(meta))
        for task_id in deleted:
            view.pop(task_id, None)
        state = _state_after(record, plan, view, hashes)
        total, latest = latest_update(client, record.project_id)
        if total != len(view):
            push_state.forget_state(path)  # someone else changed the project meanwhile
            return
        push_state.save_state(path, dataclasses.replace(state, watermark=latest, task_count=total))
    except (StudioError, OSError, KeyError):
        # The push itself is complete; without a record the next one reads the whole project.
        push_state.forget_state(path)
