"""Adjudication: disagreements go to a review project in Label Studio, the adjudicator's answers come back.

One run does, in order:
1. pull the review project (through `corpuskit.studio.pull`, into a temporary folder) and merge the
   adjudicator's submitted answers into `annotations/adjudications.jsonl` (latest answer per document);
2. decide gold with those adjudications and pick the documents that still need one: a label left
   unresolved because annotators disagree (`tie`, `no_majority`) or ground truths conflict
   (with `any_disagreement`, also labels decided by a majority that was not unanimous);
3. push those documents that are not in the review project yet (tasks are identified by `doc_id`),
   with the task data of the main project and each annotator's answer as a prediction whose
   `model_version` names the annotator.
Re-running therefore adds only new disagreements and never duplicates a task.
"""

from __future__ import annotations

import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.errors import DataError, StudioError, UsageError
from corpuskit.quality.context import default_snapshot
from corpuskit.quality.gold import GoldRow, compute_gold, read_adjudications
from corpuskit.quality.ratings import annotator_key, build_ratings, read_rows
from corpuskit.settings import Settings, load_settings
from corpuskit.snapshot import (
    ADJUDICATIONS_FILE,
    ANNOTATIONS_FILE,
    TASKS_FILE,
    is_snapshot,
    read_snapshot,
    write_jsonl,
)

if TYPE_CHECKING:
    from corpuskit.studio.client import StudioClient
    from corpuskit.taxonomy.model import Taxonomy

DISAGREEMENT_FLAGS = frozenset({"tie", "no_majority", "ground_truth_conflict"})
TITLE_SUFFIX = " (adjudication)"


@dataclass
class AdjudicationResult:
    project_id: int
    project_title: str
    adjudications_file: Path
    adjudications: int  # documents with an adjudicated answer in the file after this run
    pulled: int  # adjudicator answers that were new or changed in this run
    disagreements: list[str] = field(default_factory=list)  # documents that need adjudication
    pushed: list[str] = field(default_factory=list)  # of those, sent to the review project now
    already_in_review: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "project_title": self.project_title,
            "adjudications_file": str(self.adjudications_file),
            "adjudications": self.adjudications,
            "pulled": self.pulled,
            "disagreements": len(self.disagreements),
            "pushed": self.pushed,
            "already_in_review": len(self.already_in_review),
        }


def review_title(settings: Settings, taxonomy: Taxonomy) -> str:
    """`<main project title> (adjudication)`, shortened to Label Studio's 50 characters."""
    from corpuskit.studio.project import MAX_TITLE, project_title

    base = project_title(settings, taxonomy)
    return base[: MAX_TITLE - len(TITLE_SUFFIX)].rstrip() + TITLE_SUFFIX


def needs_adjudication(row: GoldRow, any_disagreement: bool = False) -> bool:
    """Whether annotators disagree on a label of this document in a way gold cannot settle."""
    for _, decision in row.decisions():
        if decision.decided_by in ("ground_truth", "adjudicated"):
            continue
        if DISAGREEMENT_FLAGS & set(decision.flags):
            return True
        if any_disagreement and len(decision.votes) > 1:
            return True
    return False


def annotator_label(row: Mapping[str, Any]) -> str:
    """What the adjudicator sees as the prediction's model version: e-mail, else `id:<n>`."""
    who = row.get("annotator") or {}
    if isinstance(who, Mapping) and who.get("email"):
        return str(who["email"])
    return annotator_key(row)


def adjudication_rows(review_rows: Sequence[Mapping[str, Any]], project_id: int) -> dict[str, dict[str, Any]]:
    """The latest submitted (not cancelled) review annotation of each document, as adjudication rows."""
    latest: dict[str, Mapping[str, Any]] = {}
    for row in review_rows:
        if row.get("was_cancelled"):
            continue
        doc = str(row["document_id"])
        key = (str(row.get("updated_at") or ""), int(row.get("annotation_id") or 0))
        best = latest.get(doc)
        if best is None or key >= (str(best.get("updated_at") or ""), int(best.get("annotation_id") or 0)):
            latest[doc] = row
    return {
        doc: {
            "document_id": doc,
            "stance": row.get("stance") or {},
            "topics": row.get("topics"),
            "spans": row.get("spans") or [],
            "note": row.get("note"),
            "adjudicator": row.get("annotator"),
            "project_id": project_id,
            "task_id": row.get("task_id"),
            "annotation_id": row.get("annotation_id"),
            "content_sha256": row.get("content_sha256"),
            "taxonomy_version": row.get("taxonomy_version"),
            "created_at": row.get("created_at"),
            "updated_at": row.get("updated_at"),
        }
        for doc, row in latest.items()
    }


def merge_adjudications(path: Path, new: Mapping[str, dict[str, Any]]) -> tuple[int, int]:
    """Replace the rows of documents adjudicated anew, keep every other row; return (changed, total)."""
    rows = {str(r.get("document_id")): r for r in read_rows(path)} if path.is_file() else {}
    changed = sum(1 for doc, row in new.items() if rows.get(doc) != row)
    if changed or not path.is_file():
        rows.update(new)
        write_jsonl(path, (rows[doc] for doc in sorted(rows)))
    return changed, len(rows)


def _review_project(client: StudioClient, title: str, config: str, project: int | None) -> tuple[int, str]:
    from corpuskit.studio.project import find_projects

    if project is not None:
        info = client.project(project)
        return int(info["id"]), str(info.get("title"))
    found = find_projects(client, title)
    if len(found) > 1:
        ids = ", ".join(str(p["id"]) for p in found)
        raise StudioError(f"several projects are titled {title!r} (ids {ids}): pass --project")
    if found:
        return int(found[0]["id"]), title
    created = client.call(
        f"create review project {title!r}",
        client.sdk.projects.create,
        retry=False,
        title=title,
        label_config=config,
        description="Documents on which annotators disagree; each annotator's answer is a prediction.",
        show_collab_predictions=True,
    )
    return int(created.id), title


def _snapshot_tables(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Annotation and task rows of the main snapshot (tasks carry the data to copy into the review)."""
    if is_snapshot(folder):
        snap = read_snapshot(folder, tables=("annotations", "tasks"))
        return snap.annotations, snap.tasks
    tasks = folder / TASKS_FILE
    return read_rows(folder / ANNOTATIONS_FILE), read_rows(tasks) if tasks.is_file() else []


def adjudicate(
    snapshot: str | Path | None = None,
    *,
    project: int | None = None,
    any_disagreement: bool = False,
    settings: Settings | None = None,
    taxonomy: Taxonomy | None = None,
    url: str | None = None,
    token: str | None = None,
) -> AdjudicationResult:
    """Pull adjudications back, then push the documents that still need one (see the module docstring)."""
    from corpuskit.studio.client import Connection, StudioClient, connection
    from corpuskit.taxonomy import load_taxonomy

    settings = settings or load_settings()
    folder = Path(snapshot) if snapshot is not None else default_snapshot(settings)
    if not (folder / ANNOTATIONS_FILE).is_file():
        raise UsageError(f"{folder / ANNOTATIONS_FILE}: no annotation snapshot (run `corpuskit pull` first)")
    taxonomy = taxonomy or load_taxonomy(settings.path(settings.taxonomy))
    conn = Connection(url.rstrip("/"), token) if url and token else connection(settings)
    with StudioClient(conn) as client:
        return _adjudicate(client, folder, project, any_disagreement, settings, taxonomy)


def _adjudicate(
    client: StudioClient,
    folder: Path,
    project: int | None,
    any_disagreement: bool,
    settings: Settings,
    taxonomy: Taxonomy,
) -> AdjudicationResult:
    from corpuskit.studio.pull import pull
    from corpuskit.taxonomy import label_config

    title = review_title(settings, taxonomy)
    project_id, title = _review_project(client, title, label_config(taxonomy), project)

    with tempfile.TemporaryDirectory(prefix=".adjudication-", dir=folder.parent) as tmp:
        review = Path(tmp) / "review"
        pull(
            project=project_id,
            out=review,
            settings=settings,
            taxonomy=taxonomy,
            url=client.conn.url,
            token=client.conn.token,
        )
        pulled = read_snapshot(review, tables=("annotations", "tasks"))
    in_review = {str(t["document_id"]) for t in pulled.tasks}
    path = folder / ADJUDICATIONS_FILE
    changed, total = merge_adjudications(path, adjudication_rows(pulled.annotations, project_id))

    rows, tasks = _snapshot_tables(folder)
    ratings = build_ratings(rows, taxonomy, source=str(folder / ANNOTATIONS_FILE))
    gold = compute_gold(ratings, read_adjudications(path), settings.min_annotators)
    disagreements = [r.document_id for r in gold.rows if needs_adjudication(r, any_disagreement)]
    new = [doc for doc in disagreements if doc not in in_review]
    result = AdjudicationResult(
        project_id=project_id,
        project_title=title,
        adjudications_file=path,
        adjudications=total,
        pulled=changed,
        disagreements=disagreements,
        already_in_review=[doc for doc in disagreements if doc in in_review],
    )
    if not new:
        return result
    data = {str(t["document_id"]): t.get("data") for t in tasks}
    answers: dict[str, list[Mapping[str, Any]]] = {}
    counted = {(a.document_id, a.annotation_id) for a in ratings.annotations}
    for row in rows:
        if (row.get("document_id"), row.get("annotation_id")) in counted:
            answers.setdefault(str(row["document_id"]), []).append(row)
    payload = []
    for doc in new:
        if not isinstance(data.get(doc), Mapping):
            raise DataError(
                f"{folder / TASKS_FILE}: no task data for document {doc!r} to show the adjudicator"
            )
        predictions = [
            {"model_version": annotator_label(row), "result": row.get("result") or []}
            for row in sorted(answers.get(doc, []), key=annotator_label)
        ]
        payload.append({"data": data[doc], "predictions": predictions})
    # Not retried: a broken connection may hide an import that happened; the next run sees those
    # tasks in the review project and does not push them twice.
    client.call(
        f"import {len(payload)} tasks into review project {project_id}",
        client.sdk.projects.import_tasks,
        project_id,
        request=payload,
        retry=False,
    )
    result.pushed = new
    return result
