"""Label Studio JSON export -> the snapshot tables (`corpuskit.snapshot`: tasks, annotations, drafts,
predictions, problems).

Lossless by construction: every key Label Studio returned either lands in a column that reproduces it
exactly, or is kept verbatim in the row's `extra` object; results that do not fit the taxonomy and rows
that fail the annotation schema are reported in `problems` (with the whole row), never dropped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

from corpuskit.quality.design import PILOT
from corpuskit.snapshot import TABLES, Row

# The LS key that each snapshot column reproduces; anything else goes to `extra`.
_ANNOTATION_COLUMNS = {
    "id": "annotation_id",
    "result": "result",
    "was_cancelled": "was_cancelled",
    "ground_truth": "ground_truth",
    "lead_time": "lead_time",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
_DRAFT_COLUMNS = {
    "id": "draft_id",
    "result": "result",
    "lead_time": "lead_time",
    "created_at": "created_at",
    "updated_at": "updated_at",
    "annotation": "annotation_id",
}
_PREDICTION_COLUMNS = {
    "id": "prediction_id",
    "result": "result",
    "model_version": "model_version",
    "score": "score",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
_TASK_COLUMNS = {"id": "task_id", "data": "data", "meta": "meta"}
# Task keys that become tables of their own.
_TASK_CHILDREN = ("annotations", "drafts", "predictions")


@dataclass
class Tables:
    """The rows of one snapshot, one list per table, in the snapshot's sort order once `sort()` ran."""

    tasks: list[Row] = field(default_factory=list)
    annotations: list[Row] = field(default_factory=list)
    drafts: list[Row] = field(default_factory=list)
    predictions: list[Row] = field(default_factory=list)
    problems: list[Row] = field(default_factory=list)

    def table(self, name: str) -> list[Row]:
        rows: list[Row] = getattr(self, name)
        return rows

    def by_table(self) -> dict[str, list[Row]]:
        """Every table by its snapshot name, as `write_snapshot` takes them."""
        return {name: self.table(name) for name in TABLES}

    def sort(self) -> None:
        for name, key in SORT_KEYS.items():
            self.table(name).sort(key=key)


@dataclass(frozen=True)
class Mapper:
    """What the converter needs from the taxonomy: its version, a result parser and the row checks.

    `parse(result) -> (fields, problems)` turns a Label Studio result list into stance/topics/spans/note;
    `check(row, text) -> reasons` says why a finished annotation row (given without its `extra`) is not
    acceptable (empty if it is).
    """

    taxonomy_version: str
    parse: Callable[[list[Any]], tuple[dict[str, Any], list[str]]]
    check: Callable[[Row, str], list[str]]


def _opt(value: Any) -> tuple[int, Any]:
    """Sort key that puts missing values last and never compares None with a number."""
    if value is None:
        return (2, 0)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return (1, str(value))
    return (0, value)


def _problem_key(row: Row) -> tuple[Any, ...]:
    return (
        row["document_id"] or "",
        _opt(row["task_id"]),
        row["table"],
        _opt(row["item_id"]),
        row["position"],
        row["code"],
        row["message"],
    )


def _task_key(row: Row) -> tuple[Any, ...]:
    return (row["document_id"], _opt(row["task_id"]), row["position"])


def _item_key(column: str) -> Callable[[Row], tuple[Any, ...]]:
    def key(row: Row) -> tuple[Any, ...]:
        return (row["document_id"], _opt(row[column]), _opt(row["task_id"]), row["position"])

    return key


# The snapshot's row order within each table: by document, then ids; the position in the export
# (tasks) or in the task's list (the rest) only breaks ties.
SORT_KEYS: dict[str, Callable[[Row], tuple[Any, ...]]] = {
    "tasks": _task_key,
    "annotations": _item_key("annotation_id"),
    "drafts": _item_key("draft_id"),
    "predictions": _item_key("prediction_id"),
    "problems": _problem_key,
}


_EXACT = (str, int, bool, type(None))  # types whose == is JSON identity (not float: 0.0 == -0.0)


# The integers orjson writes; `_same` raises on any other, and the shortcut for bare ids must too.
_ORJSON_INTS = (-(2**63), 2**64 - 1)


def _same(a: Any, b: Any) -> bool:
    # JSON identity, so that True != 1 and 3 != 3.0 (a column must reproduce the exact value).
    if a is b:
        return True  # a column that holds the exported object itself (a result list)
    if type(a) is type(b) and isinstance(a, _EXACT):
        return bool(a == b)
    return orjson.dumps(a, option=orjson.OPT_SORT_KEYS) == orjson.dumps(b, option=orjson.OPT_SORT_KEYS)


def _extra(source: Mapping[str, Any], row: Row, columns: Mapping[str, str], skip: Iterable[str] = ()) -> Row:
    if type(source) is dict:
        # Ask only about the few mapped keys (most values are the row's own objects, so `is` settles
        # them), then drop them from a copy: same keys in the same order as the general loop.
        extra = source.copy()
        for key in skip:
            extra.pop(key, None)
        for key, column in columns.items():
            if key in extra and column in row:
                mine, theirs = row[column], extra[key]
                if mine is theirs or _same(mine, theirs):
                    del extra[key]
        return extra
    return _extra_of_mapping(source, row, columns, skip)


def _extra_of_mapping(
    source: Mapping[str, Any], row: Row, columns: Mapping[str, str], skip: Iterable[str] = ()
) -> Row:
    # Any mapping, read only through its items() (a dict subclass may answer [] and items() apart).
    skipped = set(skip)
    extra: Row = {}
    for key, value in source.items():
        if key in skipped:
            continue
        column = columns.get(key)
        if column is not None and column in row and _same(row[column], value):
            continue
        extra[key] = value
    return extra


def annotator_of(completed_by: Any) -> tuple[dict[str, Any], str | None]:
    """`completed_by` in any of its export shapes -> ({id, email}, problem or None).

    Real exports hold a full user object, an email-only object, a bare user id, an email address
    (a draft's `user` in Label Studio 1.23's exports), or nothing."""
    if completed_by is None:
        return {"id": None, "email": None}, None
    if isinstance(completed_by, str) and "@" in completed_by:
        return {"id": None, "email": completed_by}, None
    if isinstance(completed_by, bool):
        return {"id": None, "email": None}, f"completed_by {completed_by!r} is not a user"
    if isinstance(completed_by, int):
        return {"id": completed_by, "email": None}, None
    if isinstance(completed_by, dict):
        uid = completed_by.get("id")
        email = completed_by.get("email")
        ok_id = uid is None or (isinstance(uid, int) and not isinstance(uid, bool))
        ok_email = email is None or isinstance(email, str)
        if ok_id and ok_email:
            return {"id": uid, "email": email}, None
        return (
            {"id": uid if ok_id else None, "email": email if ok_email else None},
            "completed_by has an id or email of the wrong type",
        )
    return {"id": None, "email": None}, f"completed_by of type {type(completed_by).__name__} is not a user"


def tasks_of(export: Any) -> list[Any]:
    """A JSON export is a list of tasks, but a single task object occurs too."""
    if isinstance(export, list):
        return export
    if isinstance(export, dict):
        return [export]
    raise ValueError(f"a Label Studio export is a list of tasks or one task, not {type(export).__name__}")


class _Converter:
    def __init__(self, mapper: Mapper) -> None:
        self.mapper = mapper
        self.out = Tables()
        self.pilot = False  # the current task belongs to the pilot round (meta.corpuskit_pilot)

    def problem(
        self,
        *,
        code: str,
        message: str,
        document_id: str | None,
        task_id: Any,
        table: str,
        position: int,
        item_id: Any = None,
        value: Any = None,
    ) -> None:
        self.out.problems.append(
            {
                "code": code,
                "message": message,
                "document_id": document_id,
                "task_id": task_id,
                "table": table,
                "item_id": item_id,
                "position": position,
                "value": value,
            }
        )

    def task(self, index: int, task: Any) -> None:
        if not isinstance(task, dict):
            self.problem(
                code="not-a-task",
                message=f"export item {index} is a {type(task).__name__}, not a task object",
                document_id=None,
                task_id=None,
                table="tasks",
                position=index,
                value=task,
            )
            return
        # Label Studio's import convention: a task without a `data` key is its own data.
        flat = "data" not in task
        data = task if flat else task["data"]
        task_id = task.get("id")
        if isinstance(task_id, bool) or not isinstance(task_id, int):
            task_id = None
        doc_id = data.get("doc_id") if isinstance(data, dict) else None
        if isinstance(doc_id, str) and doc_id:
            document_id = doc_id
        else:
            document_id = str(task_id) if task_id is not None else f"item-{index}"
            self.problem(
                code="no-doc-id",
                message=f"task has no data.doc_id (not pushed by corpuskit); document_id is {document_id!r}",
                document_id=document_id,
                task_id=task_id,
                table="tasks",
                position=index,
            )
        if not isinstance(data, dict):
            self.problem(
                code="bad-data",
                message=f"task data is a {type(data).__name__}, not an object",
                document_id=document_id,
                task_id=task_id,
                table="tasks",
                position=index,
            )
            data = {}
        sha = data.get("content_sha256")
        version = data.get("taxonomy_version")
        body = data.get("text")
        text = body if isinstance(body, str) else ""
        base = {
            "document_id": document_id,
            "task_id": task_id,
            "content_sha256": sha if isinstance(sha, str) else None,
            "taxonomy_version": version if isinstance(version, str) else self.mapper.taxonomy_version,
        }
        row: Row = {
            **base,
            "position": index,
            "data": data if not flat else {k: v for k, v in task.items() if k not in _TASK_CHILDREN},
            "meta": task.get("meta"),
        }
        row["extra"] = {} if flat else _extra(task, row, _TASK_COLUMNS, skip=_TASK_CHILDREN)
        self.out.tasks.append(row)
        meta = task.get("meta")
        self.pilot = isinstance(meta, dict) and meta.get(PILOT) is True
        for name, handler in (
            ("annotations", self.annotation),
            ("drafts", self.draft),
            ("predictions", self.prediction),
        ):
            items = task.get(name)
            if items is None:
                continue
            if not isinstance(items, list):
                self.problem(
                    code="bad-list",
                    message=f"task {name} is a {type(items).__name__}, not a list",
                    document_id=document_id,
                    task_id=task_id,
                    table="tasks",
                    position=index,
                    value=items,
                )
                continue
            for position, item in enumerate(items):
                if isinstance(item, int) and not isinstance(item, bool):
                    # The export endpoint serialises predictions as bare ids; the row keeps the id.
                    self.problem(
                        code="id-only",
                        message=f"{name}[{position}] was exported as its id {item} only "
                        "(the export snapshot path returns the full object)",
                        document_id=document_id,
                        task_id=task_id,
                        table=name,
                        item_id=item,
                        position=position,
                    )
                    handler(base, position, {"id": item, "result": []}, text)
                    continue
                if not isinstance(item, dict):
                    self.problem(
                        code="bad-item",
                        message=f"{name}[{position}] is a {type(item).__name__}, not an object",
                        document_id=document_id,
                        task_id=task_id,
                        table=name,
                        position=position,
                        value=item,
                    )
                    continue
                handler(base, position, item, text)

    def parsed(
        self, base: Row, table: str, position: int, item_id: Any, result: Any
    ) -> tuple[dict[str, Any], list[Any]]:
        if not isinstance(result, list):
            self.problem(
                code="bad-result",
                message=f"result is a {type(result).__name__}, not a list",
                document_id=base["document_id"],
                task_id=base["task_id"],
                table=table,
                item_id=item_id,
                position=position,
                value=result,
            )
            return self.mapper.parse([])[0], []
        fields, problems = self.mapper.parse(result)
        for message in problems:
            self.problem(
                code="result",
                message=message,
                document_id=base["document_id"],
                task_id=base["task_id"],
                table=table,
                item_id=item_id,
                position=position,
            )
        return fields, result

    def annotation(self, base: Row, position: int, item: Row, text: str) -> None:
        ann_id = _int_or_none(item.get("id"))
        fields, result = self.parsed(base, "annotations", position, ann_id, item.get("result"))
        annotator, who = annotator_of(item.get("completed_by"))
        row: Row = {
            **base,
            "annotation_id": ann_id,
            "annotator": annotator,
            **fields,
            "lead_time": _number_or_none(item.get("lead_time")),
            "created_at": _str_or_none(item.get("created_at")),
            "updated_at": _str_or_none(item.get("updated_at")),
            "was_cancelled": item.get("was_cancelled") is True,
            "ground_truth": item.get("ground_truth") is True,
            "original": None,
            "result": result if isinstance(item.get("result"), list) else [],
        }
        if self.pilot:
            row["pilot"] = True
        extra = _extra(item, row, _ANNOTATION_COLUMNS)
        given = extra.get("completed_by")
        if (
            type(given) is int
            and given is annotator["id"]
            and annotator["email"] is None
            and _ORJSON_INTS[0] <= given <= _ORJSON_INTS[1]
        ):
            # A bare user id (what the export sends): the test below, without serialising it twice.
            del extra["completed_by"]
        elif (
            "completed_by" in extra
            # A bare id or an exact {id, email} object is reproduced by the annotator column.
            and (
                _same(extra["completed_by"], annotator)
                or (_same(extra["completed_by"], annotator["id"]) and annotator["email"] is None)
            )
        ):
            del extra["completed_by"]
        reasons = self.mapper.check(row, text)  # before `extra` is set: the check leaves it out
        row["extra"] = extra
        if who:
            self.problem(
                code="annotator",
                message=who,
                document_id=base["document_id"],
                task_id=base["task_id"],
                table="annotations",
                item_id=ann_id,
                position=position,
            )
        row["position"] = position
        if reasons:
            self.problem(
                code="invalid-annotation",
                message="; ".join(reasons),
                document_id=base["document_id"],
                task_id=base["task_id"],
                table="annotations",
                item_id=ann_id,
                position=position,
                value=row,
            )
            return
        self.out.annotations.append(row)

    def draft(self, base: Row, position: int, item: Row, text: str) -> None:
        draft_id = _int_or_none(item.get("id"))
        fields, result = self.parsed(base, "drafts", position, draft_id, item.get("result"))
        user = item.get("user", item.get("completed_by"))
        annotator, _ = annotator_of(user)
        row: Row = {
            **base,
            "draft_id": draft_id,
            "annotation_id": _int_or_none(item.get("annotation")),
            "annotator": annotator,
            **fields,
            "lead_time": _number_or_none(item.get("lead_time")),
            "created_at": _str_or_none(item.get("created_at")),
            "updated_at": _str_or_none(item.get("updated_at")),
            "result": result if isinstance(item.get("result"), list) else [],
        }
        row["extra"] = _extra(item, row, _DRAFT_COLUMNS)
        row["position"] = position
        self.out.drafts.append(row)

    def prediction(self, base: Row, position: int, item: Row, text: str) -> None:
        pred_id = _int_or_none(item.get("id"))
        fields, result = self.parsed(base, "predictions", position, pred_id, item.get("result"))
        version = item.get("model_version")
        row: Row = {
            **base,
            "prediction_id": pred_id,
            "model_version": version if isinstance(version, str) else None,
            "score": _number_or_none(item.get("score")),
            **fields,
            "created_at": _str_or_none(item.get("created_at")),
            "updated_at": _str_or_none(item.get("updated_at")),
            "result": result if isinstance(item.get("result"), list) else [],
        }
        row["extra"] = _extra(item, row, _PREDICTION_COLUMNS)
        row["position"] = position
        self.out.predictions.append(row)


def _int_or_none(value: Any) -> int | None:
    if type(value) is int:
        return value
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _number_or_none(value: Any) -> int | float | None:
    if type(value) is float or type(value) is int:
        return value
    return value if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def _str_or_none(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def convert_export(export: Any, mapper: Mapper) -> Tables:
    """Convert a parsed Label Studio JSON export (a list of tasks, or one task) into sorted tables."""
    return convert_tasks(tasks_of(export), mapper)


def convert_tasks(tasks: Iterable[Any], mapper: Mapper) -> Tables:
    """Convert an export's tasks as they come (e.g. parsed while the export downloads) into sorted
    tables; only the rows are kept, never the export itself."""
    converter = _Converter(mapper)
    for index, task in enumerate(tasks):
        converter.task(index, task)
    converter.out.sort()
    # Positions only break ties between rows without ids; stored, they would make diffs noisy.
    for name in ("tasks", "annotations", "drafts", "predictions"):
        for row in converter.out.table(name):
            row.pop("position", None)
    return converter.out


def iter_task_tables(tasks: Iterable[Any], mapper: Mapper, *, start: int = 0) -> Iterator[Tables]:
    """Convert an export's tasks one at a time: the rows of each task as their own `Tables`, in the
    order the converter makes them (not sorted), each row still carrying its `position` in the
    task's list, which the snapshot's sort order uses to break ties. Nothing is kept between tasks,
    so a caller that folds the rows as they come holds one task at a time. `start` is the first
    task's position in the export."""
    converter = _Converter(mapper)
    for index, task in enumerate(tasks, start):
        converter.out = Tables()
        converter.task(index, task)
        yield converter.out


def source_of(row: Row, columns: Mapping[str, str]) -> Row:
    """Rebuild the Label Studio object a row came from (its mapped keys plus `extra`): the lossless check."""
    rebuilt: Row = {key: row[column] for key, column in columns.items() if column in row}
    extra: Row = row["extra"]
    return rebuilt | extra


COLUMNS = {
    "tasks": _TASK_COLUMNS,
    "annotations": _ANNOTATION_COLUMNS,
    "drafts": _DRAFT_COLUMNS,
    "predictions": _PREDICTION_COLUMNS,
}
