"""Model predictions for a push: read from a JSONL file, embedded in new tasks or added to existing ones."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.errors import DataError, UsageError
from corpuskit.studio.push.plan import Plan, ServerTask

if TYPE_CHECKING:
    from corpuskit.taxonomy.model import Taxonomy


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


def prediction_payload(taxonomy: Taxonomy, row: dict[str, Any], text: str) -> dict[str, Any]:
    """A prediction row as Label Studio takes it: the result in the labelling config's terms."""
    from corpuskit.taxonomy import row_to_result

    prediction: dict[str, Any] = {
        "result": row_to_result(taxonomy, row, text),
        "model_version": row["model_version"],
    }
    if row.get("score") is not None:
        prediction["score"] = float(row["score"])
    return prediction


def attach_predictions(
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
            payload.setdefault("predictions", []).append(
                prediction_payload(taxonomy, row, payload["data"]["text"])
            )
        elif doc_id in existing:
            task = existing[doc_id]
            if row["model_version"] in versions.get(task.id, set()):
                continue
            prediction = prediction_payload(taxonomy, row, str(task.data.get("text", "")))
            plan.predictions.append({"task": task.id, **prediction})
        else:
            skipped.append(doc_id)
