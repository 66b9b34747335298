"""What a push will do, from the corpus and the project's tasks: pure, no server calls.

Each task's data carries `doc_id`, `content_sha256` and `taxonomy_version` (docs/data-model.md);
comparing the corpus with the tasks gives:

- new: no task has the document's id -> imported (bulk, in batches);
- changed: the task has no annotations or drafts and its data differs -> updated in place; on a
  task with annotations or drafts whose text is the same (`content_sha256`), only the display data
  that is not part of that text (source, section, dates) is updated in place;
- stale: the task has annotations or drafts and the text changed -> never overwritten, marked
  `meta.corpuskit_stale = true` and reported so its annotations can be reviewed;
- unchanged: nothing to do;
- removed: a task whose document is no longer in the corpus -> marked `meta.corpuskit_removed` and
  reported; deleted only with `delete_removed` and only when nobody has annotated it;
- left out: a task whose document the dedupe record leaves out (corpuskit.validation.dedupe) ->
  reported and left as it is: never marked, updated or deleted, so no annotation is lost.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from corpuskit.documents.language import direction
from corpuskit.documents.model import Document, body_text
from corpuskit.quality.design import PILOT
from corpuskit.studio.push.state import data_hash
from corpuskit.taxonomy.labelconfig import SOURCE_DISPLAY_KEY

DISPLAY_FIELDS: tuple[str, ...] = ("title", "summary", "section", "source", "published_at", "modified_at")
# The task data annotators' work depends on: never rewritten on a task someone has worked on
# (`content_sha256` covers title, summary and text; pull reads `taxonomy_version` from the task).
ANNOTATED_KEYS = frozenset({"doc_id", "content_sha256", "taxonomy_version", "title", "summary", "text"})
STALE = "corpuskit_stale"
REMOVED = "corpuskit_removed"


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
    # Which way the document reads: for the data manager's filters and for whoever reads the
    # export (the labelling config lays each paragraph out by its own script, see labelconfig).
    data["language"] = doc["language"]
    data["direction"] = direction(doc["language"])
    data["text"] = body_text(doc)
    # Only when something was stripped: the tasks of a corpus that strips nothing keep their data.
    if doc.get("removed_lines"):
        data["removed_lines"] = doc["removed_lines"]
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
    left_out: list[tuple[int, str]] = field(default_factory=list)  # (task id, doc id), left alone

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
            "left_out": len(self.left_out),
        }


def _is_annotated(task: dict[str, Any]) -> bool:
    return bool(task.get("total_annotations") or task.get("cancelled_annotations") or task.get("drafts"))


def server_task(item: dict[str, Any]) -> ServerTask:
    updated = item.get("updated_at")
    return ServerTask(
        id=int(item["id"]),
        data=item.get("data") or {},
        meta=item.get("meta") or {},
        annotated=_is_annotated(item),
        has_predictions=bool(item.get("total_predictions")),
        updated_at=updated if isinstance(updated, str) else None,
    )


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
    left_out: frozenset[str] = frozenset(),
) -> Plan:
    """Compare the corpus with the project's tasks (pure: no server calls). `wanted` may hold the
    documents' task data already computed (by document id); the tasks of `left_out` documents (the
    dedupe record's) are listed in `plan.left_out` and nothing else is done to them."""
    plan = Plan()
    by_doc: dict[str, list[ServerTask]] = {}
    for task in sorted(tasks, key=lambda t: t.id):
        if task.doc_id in left_out:
            plan.left_out.append((task.id, task.doc_id))
        elif task.doc_id is not None:
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


# What a push knows of a task: its document id, a hash of its data, whether its marks are clear.
TaskView = tuple[str | None, str, bool]


def clean(meta: dict[str, Any]) -> bool:
    return not meta.get(STALE) and not meta.get(REMOVED)


def view_of(task: ServerTask) -> TaskView:
    return (task.doc_id, data_hash(task.data), clean(task.meta))


def mark_pilot(plan: Plan, tasks: Sequence[ServerTask]) -> None:
    """Every task of a pilot push carries `meta.corpuskit_pilot` (new ones from the import)."""
    for payload in plan.new:
        payload["meta"][PILOT] = True
    wanted = plan.document_ids()
    for task in tasks:
        if task.doc_id in wanted and not task.meta.get(PILOT):
            plan.marks[task.id] = {**plan.marks.get(task.id, task.meta), PILOT: True}
