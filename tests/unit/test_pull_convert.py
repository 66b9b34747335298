"""Label Studio export -> snapshot tables, on every real export fixture and a synthetic one in our config."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corpuskit.studio.export_rows import COLUMNS, Mapper, Tables, annotator_of, convert_export, source_of
from corpuskit.studio.pull import taxonomy_mapper
from corpuskit.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "label-studio-exports"
DATA = ROOT / "tests" / "data" / "pull"
EXPECTED: dict[str, Any] = json.loads((DATA / "expected.json").read_text(encoding="utf-8"))
CASES = sorted(name for name in EXPECTED if not name.startswith("_"))


def _path(name: str) -> Path:
    return DATA / name if (DATA / name).exists() else REAL / name


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return taxonomy_mapper(load_taxonomy(ROOT / "schema" / "taxonomy.yaml"))


def _tasks(name: str) -> list[dict[str, Any]]:
    export = json.loads(_path(name).read_text(encoding="utf-8"))
    return export if isinstance(export, list) else [export]


def _all_annotation_rows(tables: Tables) -> list[dict[str, Any]]:
    """Accepted rows plus the rows kept whole in problems because they failed the checks."""
    rejected = [p["value"] for p in tables.problems if p["code"] == "invalid-annotation"]
    return tables.annotations + rejected


def test_every_real_export_is_covered() -> None:
    real = {p.name for p in REAL.glob("*.json")}
    assert real <= set(CASES)


@pytest.mark.parametrize("name", CASES)
def test_export_converts_to_expected_tables(name: str, mapper: Mapper) -> None:
    want = EXPECTED[name]
    source = _tasks(name)
    tables = convert_export(json.loads(_path(name).read_text(encoding="utf-8")), mapper)
    rows = _all_annotation_rows(tables)

    assert len(tables.tasks) == want["tasks"]
    per_task = [
        sum(1 for r in rows if r["task_id"] == t["task_id"] and r["document_id"] == t["document_id"])
        for t in sorted(tables.tasks, key=lambda t: _position_of(t, tables, source))
    ]
    assert per_task == want["per_task"]
    known = {(r["annotator"]["id"], r["annotator"]["email"]) for r in rows} - {(None, None)}
    assert sorted(known, key=repr) == sorted((tuple(a) for a in want["annotators"]), key=repr)
    assert sum(r["was_cancelled"] for r in rows) == want["cancelled"]
    assert sum(r["ground_truth"] for r in rows) == want["ground_truth"]
    assert len(tables.drafts) == want["drafts"]
    assert sorted(map(repr, (p["model_version"] for p in tables.predictions))) == sorted(
        map(repr, want["model_versions"])
    )
    assert len(tables.annotations) == want["accepted"]
    assert sum(p["code"] == "no-doc-id" for p in tables.problems) == want["no_doc_id"]


def _position_of(task_row: dict[str, Any], tables: Tables, source: list[dict[str, Any]]) -> int:
    for index, task in enumerate(source):
        data = task.get("data", task)
        if task_row["task_id"] == task.get("id") and task_row["data"] == {
            k: v for k, v in data.items() if k not in ("annotations", "drafts", "predictions")
        }:
            return index
    raise AssertionError(f"task row {task_row['document_id']} matches no task of the export")


@pytest.mark.parametrize("name", CASES)
def test_nothing_label_studio_returned_is_lost(name: str, mapper: Mapper) -> None:
    """Every annotation, draft and prediction is rebuilt, key for key, from its row (columns + extra)."""
    tables = convert_export(json.loads(_path(name).read_text(encoding="utf-8")), mapper)
    rows = {
        "annotations": _all_annotation_rows(tables),
        "drafts": tables.drafts,
        "predictions": tables.predictions,
    }
    for task in _tasks(name):
        for table in ("annotations", "drafts", "predictions"):
            for item in task.get(table) or []:
                rebuilt = [_rebuild(row, table) for row in rows[table]]
                assert any(_covers(candidate, item) for candidate in rebuilt), (table, item)
        rebuilt_tasks = [_rebuild(row, "tasks") | {"data": row["data"]} for row in tables.tasks]
        outer = {k: v for k, v in task.items() if k not in ("annotations", "drafts", "predictions")}
        if "data" in task:
            assert any(_covers(candidate, outer) for candidate in rebuilt_tasks)
        else:  # a flat import-style task is its own data
            assert any(row["data"] == outer for row in tables.tasks)


def _rebuild(row: dict[str, Any], table: str) -> dict[str, Any]:
    rebuilt = source_of(row, COLUMNS[table])
    if table == "annotations" and "completed_by" not in row["extra"]:
        rebuilt["completed_by"] = row["annotator"] if row["annotator"]["email"] else row["annotator"]["id"]
    return rebuilt


def _covers(rebuilt: dict[str, Any], original: dict[str, Any]) -> bool:
    def same(a: Any, b: Any) -> bool:
        return json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)

    for key, value in original.items():
        if key == "completed_by" and isinstance(value, dict) and not same(rebuilt.get(key), value):
            # an email-only or {id, email} object is reproduced by the annotator column
            if {k: value.get(k) for k in ("id", "email")} != rebuilt.get(key) or set(value) - {"id", "email"}:
                return False
            continue
        if key not in rebuilt or not same(rebuilt[key], value):
            return False
    return True


def test_synthetic_rows_in_full(mapper: Mapper) -> None:
    """Our own config: every field of each accepted row, the draft, the prediction and each problem."""
    tables = convert_export(json.loads((DATA / "synthetic_export.json").read_text(encoding="utf-8")), mapper)
    sha = "0" * 63 + "a"
    by_id = {row["annotation_id"]: row for row in tables.annotations}
    assert [r["annotation_id"] for r in tables.annotations] == [100, 101, 102]
    full = by_id[100]
    assert {k: v for k, v in full.items() if k not in ("result", "extra")} == {
        "document_id": "doc-a",
        "content_sha256": sha,
        "task_id": 10,
        "annotation_id": 100,
        "annotator": {"id": 2, "email": "ann@example.org"},
        "taxonomy_version": "1.0.0",
        "stance": {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"},
        "topics": ["military_cooperation", "war_in_ukraine"],
        "spans": [
            {
                "start": 47,
                "end": 74,
                "text": '"We need more air defence,"',
                "target": "ukraine_military_aid",
                "speaker": "Zelensky",
            }
        ],
        "note": "hard call",
        "lead_time": 12.5,
        "created_at": "2024-11-02T10:00:00Z",
        "updated_at": "2024-11-02T10:05:00Z",
        "was_cancelled": False,
        "ground_truth": False,
        "original": None,
    }
    source = json.loads((DATA / "synthetic_export.json").read_text(encoding="utf-8"))
    assert full["result"] == source[0]["annotations"][0]["result"]
    assert full["extra"] == {
        "completed_by": {"id": 2, "email": "ann@example.org", "first_name": "Ann", "last_name": ""},
        "draft_created_at": None,
        "task": 10,
        "project": 3,
    }
    cancelled = by_id[101]
    assert cancelled["was_cancelled"] is True
    assert cancelled["stance"] == {"rnk_military_cooperation": None, "ukraine_military_aid": None}
    assert cancelled["annotator"] == {"id": 3, "email": "bob@example.org"}
    assert cancelled["extra"] == {}
    gt = by_id[102]
    assert (gt["ground_truth"], gt["annotator"], gt["lead_time"]) == (True, {"id": 3, "email": None}, 30)

    assert tables.drafts == [
        {
            "document_id": "doc-a",
            "content_sha256": sha,
            "task_id": 10,
            "taxonomy_version": "1.0.0",
            "draft_id": 7,
            "annotation_id": None,
            "annotator": {"id": 3, "email": None},
            "stance": {"rnk_military_cooperation": "neutral", "ukraine_military_aid": None},
            "topics": [],
            "spans": [],
            "note": None,
            "lead_time": 3.5,
            "created_at": "2024-11-04T08:00:00Z",
            "updated_at": "2024-11-04T08:01:00Z",
            "result": source[0]["drafts"][0]["result"],
            "extra": {
                "user": 3,
                "created_username": "bob@example.org, 3",
                "was_postponed": False,
                "task": 10,
            },
        }
    ]
    (prediction,) = tables.predictions
    assert (prediction["prediction_id"], prediction["model_version"], prediction["score"]) == (
        5,
        "baseline-0.1",
        0.8,
    )
    assert prediction["stance"] == {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"}
    assert [t["document_id"] for t in tables.tasks] == ["doc-a", "doc-b", "doc-c"]
    assert tables.tasks[1]["extra"] == {}

    problems = [(p["code"], p["document_id"], p["item_id"]) for p in tables.problems]
    assert problems == [
        ("invalid-annotation", "doc-a", 103),
        ("invalid-annotation", "doc-c", 120),
        ("result", "doc-c", 120),
        ("result", "doc-c", 120),
    ]
    assert "offsets 0..99 fall outside the text" in tables.problems[0]["message"]
    assert tables.problems[0]["value"]["annotation_id"] == 103  # the whole row is kept
    assert "unknown topic 'space_race'" in tables.problems[2]["message"]


@pytest.mark.parametrize(
    ("completed_by", "annotator"),
    [
        ({"id": 1, "email": "a@x.org", "first_name": "", "last_name": ""}, {"id": 1, "email": "a@x.org"}),
        ({"email": "a@x.org"}, {"id": None, "email": "a@x.org"}),
        (7, {"id": 7, "email": None}),
        # A draft's `user` in Label Studio 1.23's exports (tests/data/label-studio-exports/recorded/).
        ("a@x.org", {"id": None, "email": "a@x.org"}),
        (None, {"id": None, "email": None}),
    ],
)
def test_completed_by_in_each_shape(completed_by: Any, annotator: dict[str, Any]) -> None:
    assert annotator_of(completed_by) == (annotator, None)


def test_completed_by_of_another_type_is_a_problem() -> None:
    assert annotator_of("someone") == ({"id": None, "email": None}, "completed_by of type str is not a user")
