"""The annotation snapshot folder's format: file names, row types and the one JSONL serialiser.

A snapshot folder (`annotations/` by default) holds one `<table>.jsonl` per table and `snapshot.json`;
beside them live the quality files `gold.jsonl` and `adjudications.jsonl`, which a re-pull carries
over. Every JSONL file is written by `jsonl_bytes`: one row per line, keys sorted at every depth,
UTF-8, no spaces, so that a changed row is a changed line in `git diff`. The row types below are
`docs/data-model.md` in code.

The document tables (`GROUPED_TABLES`) are sorted by `document_id` (`GROUP_KEY`), so every row of one
document is on consecutive lines: a reader can take one document at a time (`io.iter_groups`) and
hold nothing of the others. `write_snapshot` refuses rows out of that order and records it in
`snapshot.json` (`ORDER_KEY`); the readers check it again line by line.
"""

# No `from __future__ import annotations`: TypedDict must see `NotRequired` to tell optional keys.
import hashlib
from collections.abc import Iterable, Mapping
from typing import Any, NotRequired, TypedDict

import orjson

TABLES: tuple[str, ...] = ("tasks", "annotations", "drafts", "predictions", "problems")
META_FILE = "snapshot.json"
GOLD_FILE = "gold.jsonl"
ADJUDICATIONS_FILE = "adjudications.jsonl"
FORMAT = 1

Row = dict[str, Any]


def table_file(table: str) -> str:
    """The file name of a table (`annotations` -> `annotations.jsonl`)."""
    return f"{table}.jsonl"


TASKS_FILE = table_file("tasks")

# The tables whose rows belong to one document each, and the key they are sorted (grouped) by.
GROUPED_TABLES: tuple[str, ...] = ("tasks", "annotations", "drafts", "predictions")
GROUP_KEY = "document_id"
# snapshot.json's record of that order (absent from snapshots written before it was recorded).
ORDER_KEY = "sorted_by"
ANNOTATIONS_FILE = table_file("annotations")

_OPTIONS = orjson.OPT_SORT_KEYS


def jsonl_line(row: Mapping[str, Any]) -> bytes:
    """One row as one line: keys sorted at every depth, UTF-8, a newline at the end."""
    return orjson.dumps(row, option=_OPTIONS) + b"\n"


def jsonl_bytes(rows: Iterable[Mapping[str, Any]]) -> bytes:
    """Rows as JSONL (see `jsonl_line`)."""
    return b"".join(jsonl_line(row) for row in rows)


def meta_bytes(meta: Mapping[str, Any]) -> bytes:
    """`snapshot.json`: keys sorted, indented for people."""
    return orjson.dumps(meta, option=_OPTIONS | orjson.OPT_INDENT_2) + b"\n"


# --- row types (docs/data-model.md) ------------------------------------------------------------------


class Annotator(TypedDict):
    id: int | None
    email: str | None


class Span(TypedDict):
    start: int
    end: int
    text: str
    target: str | None
    speaker: str | None


class _TaskKeys(TypedDict):
    """The keys every task-level row starts with: which document, which task, which version."""

    document_id: str
    task_id: int | None
    content_sha256: str | None
    taxonomy_version: str


class TaskRow(_TaskKeys):
    """`tasks.jsonl`: one row per task, also the ones nobody annotated."""

    data: dict[str, Any]
    meta: dict[str, Any] | None
    extra: dict[str, Any]


class _Labels(_TaskKeys):
    """The labels an answer carries, as the taxonomy names them (annotations, drafts, predictions)."""

    stance: dict[str, str | None]
    topics: list[str] | None
    spans: list[Span]
    note: str | None
    created_at: str | None
    updated_at: str | None
    result: list[Any]
    extra: dict[str, Any]


class AnnotationRow(_Labels):
    """`annotations.jsonl`: one row per annotation, submitted or cancelled."""

    annotation_id: int | None
    annotator: Annotator
    lead_time: int | float | None
    was_cancelled: bool
    ground_truth: bool
    original: dict[str, Any] | None
    pilot: NotRequired[bool]
    prelabels: NotRequired[str]  # hidden | shown | unknown, from the project's recorded history


class DraftRow(_Labels):
    """`drafts.jsonl`: one row per draft, never mixed with submitted work."""

    draft_id: int | None
    annotation_id: int | None
    annotator: Annotator
    lead_time: int | float | None


class PredictionRow(_Labels):
    """`predictions.jsonl`: one row per model prediction."""

    prediction_id: int | None
    model_version: str | None
    score: int | float | None


class ProblemRow(TypedDict):
    """`problems.jsonl`: anything Label Studio returned that does not fit (reported, never dropped)."""

    code: str
    message: str
    document_id: str | None
    task_id: int | None
    table: str
    item_id: int | None
    position: int
    value: Any


class SnapshotMeta(TypedDict):
    """`snapshot.json`."""

    project_id: int | None
    project_title: str | None
    server: str | None
    source: str | None
    exported_at: str
    taxonomy_version: str
    design: NotRequired[dict[str, Any]]
    loop: NotRequired[dict[str, Any]]
    format: int
    counts: dict[str, int]
    files: dict[str, str]
    sorted_by: NotRequired[str]  # ORDER_KEY: GROUP_KEY, from the version that records the order
    complete: bool


class Decision(TypedDict):
    label: str | bool | None
    decided_by: str
    n_annotators: int
    votes: dict[str, int]
    agreement: float | None
    flags: list[str]


class GoldFileRow(TypedDict):
    """`gold.jsonl` (written by `corpuskit gold`): one row per document."""

    document_id: str
    n_annotations: int
    stance: dict[str, Decision]
    topics: dict[str, Decision]
    topic_labels: list[str]
    pilot: NotRequired[bool]


class AdjudicationRow(TypedDict):
    """`adjudications.jsonl` (written by `corpuskit adjudicate`): the adjudicator's latest answer."""

    document_id: str
    stance: dict[str, str | None]
    topics: list[str] | None
    spans: list[Span]
    note: str | None
    adjudicator: Annotator
    project_id: int
    task_id: int | None
    annotation_id: int | None
    content_sha256: str | None
    taxonomy_version: str | None
    created_at: str | None
    updated_at: str | None


ROW_TYPES: dict[str, type] = {
    "tasks": TaskRow,
    "annotations": AnnotationRow,
    "drafts": DraftRow,
    "predictions": PredictionRow,
    "problems": ProblemRow,
}


def pseudonym(annotator: Mapping[str, Any] | None) -> tuple[str, int | None]:
    """Who an annotator is outside Label Studio: `annotator-<user id>`, else `annotator-<hash of the
    e-mail>`, else `annotator-unknown`; with the user id when there is one. The report, the release and
    everything derived from a snapshot name annotators this way, so e-mails (personal data) stay in it."""
    annotator = annotator or {}
    user_id = annotator.get("id")
    if isinstance(user_id, int) and not isinstance(user_id, bool):
        return f"annotator-{user_id}", user_id
    email = annotator.get("email")
    if email:
        return "annotator-" + hashlib.sha256(str(email).lower().encode()).hexdigest()[:12], None
    return "annotator-unknown", None
