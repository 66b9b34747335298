"""Adjudication without a server: which documents need one, what their review tasks show, and how
the adjudicator's answers become `adjudications.jsonl` rows.

The review project on Label Studio (create, push, pull back) lives with push and pull, in `studio/review.py`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.errors import DataError
from corpuskit.quality.gold import GoldRow, compute_gold, read_adjudications
from corpuskit.quality.ratings import annotator_key, build_ratings, read_rows
from corpuskit.snapshot import ANNOTATIONS_FILE, TASKS_FILE, is_snapshot, read_snapshot, write_jsonl

if TYPE_CHECKING:
    from corpuskit.taxonomy.model import Taxonomy

DISAGREEMENT_FLAGS = frozenset({"tie", "no_majority", "ground_truth_conflict"})


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


def _snapshot_tables(folder: Path) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Annotation and task rows of the main snapshot (tasks carry the data to copy into the review)."""
    if is_snapshot(folder):
        snap = read_snapshot(folder, tables=("annotations", "tasks"))
        return snap.annotations, snap.tasks
    tasks = folder / TASKS_FILE
    return read_rows(folder / ANNOTATIONS_FILE), read_rows(tasks) if tasks.is_file() else []


@dataclass
class Selection:
    """The documents that need adjudication, and what their review tasks would show."""

    disagreements: list[str]
    data: dict[str, Any] = field(default_factory=dict)  # document id -> its task data
    answers: dict[str, list[Mapping[str, Any]]] = field(default_factory=dict)  # counted answers


def select(
    folder: Path, adjudications: Path, taxonomy: Taxonomy, min_annotators: int, any_disagreement: bool
) -> Selection:
    """Decide gold from the snapshot in `folder` with the `adjudications` file, and pick the
    documents that still need an adjudication."""
    rows, tasks = _snapshot_tables(folder)
    ratings = build_ratings(rows, taxonomy, source=str(folder / ANNOTATIONS_FILE))
    gold = compute_gold(ratings, read_adjudications(adjudications), min_annotators)
    disagreements = [r.document_id for r in gold.rows if needs_adjudication(r, any_disagreement)]
    answers: dict[str, list[Mapping[str, Any]]] = {}
    counted = {(a.document_id, a.annotation_id) for a in ratings.annotations}
    for row in rows:
        if (row.get("document_id"), row.get("annotation_id")) in counted:
            answers.setdefault(str(row["document_id"]), []).append(row)
    data = {str(t["document_id"]): t.get("data") for t in tasks}
    return Selection(disagreements, data, answers)


def review_tasks(selection: Selection, documents: Sequence[str], folder: Path) -> list[dict[str, Any]]:
    """The review tasks of `documents`: the main project's task data, and each annotator's answer
    as a prediction whose `model_version` names the annotator."""
    payload = []
    for doc in documents:
        if not isinstance(selection.data.get(doc), Mapping):
            raise DataError(
                f"{folder / TASKS_FILE}: no task data for document {doc!r} to show the adjudicator"
            )
        predictions = [
            {"model_version": annotator_label(row), "result": row.get("result") or []}
            for row in sorted(selection.answers.get(doc, []), key=annotator_label)
        ]
        payload.append({"data": selection.data[doc], "predictions": predictions})
    return payload
