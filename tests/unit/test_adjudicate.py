"""Adjudication without a server: which documents need one, and how answers become adjudications."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from corpuskit.quality.adjudicate import (
    adjudication_rows,
    annotator_label,
    merge_adjudications,
    needs_adjudication,
)
from corpuskit.quality.gold import compute_gold
from corpuskit.quality.ratings import build_ratings
from corpuskit.settings import Settings
from corpuskit.studio.review import review_title
from corpuskit.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
T = "q"


def row(doc: str, who: int, value: str, topics: list[str], **extra: Any) -> dict[str, Any]:
    return {
        "document_id": doc,
        "annotation_id": extra.pop("aid", who),
        "annotator": {"id": who, "email": f"a{who}@example.org"},
        "stance": {T: value},
        "topics": topics,
        **extra,
    }


def gold_rows(rows: list[dict[str, Any]]) -> dict[str, Any]:
    return {r.document_id: r for r in compute_gold(build_ratings(rows)).rows}


def test_only_disagreements_gold_cannot_settle_need_adjudication() -> None:
    rows = [
        row("tie", 1, "x", []),
        row("tie", 2, "y", []),
        row("two-one", 1, "x", []),
        row("two-one", 2, "x", []),
        row("two-one", 3, "y", []),
        row("same", 1, "x", ["t"]),
        row("same", 2, "x", ["t"]),
        row("topic-tie", 1, "x", ["t"]),
        row("topic-tie", 2, "x", []),
        row("single", 1, "x", []),
    ]
    gold = gold_rows(rows)
    assert [d for d in gold if needs_adjudication(gold[d])] == ["tie", "topic-tie"]
    assert [d for d in gold if needs_adjudication(gold[d], any_disagreement=True)] == [
        "tie",
        "topic-tie",
        "two-one",
    ]


def test_ground_truth_settles_a_tie() -> None:
    gold = gold_rows([row("d", 1, "x", []), row("d", 2, "y", [], ground_truth=True)])
    assert not needs_adjudication(gold["d"])


def test_adjudication_rows_take_the_latest_submitted_answer() -> None:
    review = [
        row("d", 9, "x", ["t"], aid=1, updated_at="2024-01-01", task_id=5),
        row("d", 9, "y", [], aid=2, updated_at="2024-02-01", task_id=5),
        row("d", 9, "z", [], aid=3, updated_at="2024-03-01", task_id=5, was_cancelled=True),
        row("e", 8, "x", ["t"], aid=4, updated_at="2024-01-01", task_id=6),
    ]
    rows = adjudication_rows(review, project_id=7)
    assert sorted(rows) == ["d", "e"]
    assert (rows["d"]["stance"], rows["d"]["annotation_id"], rows["d"]["project_id"]) == ({T: "y"}, 2, 7)
    assert rows["d"]["adjudicator"] == {"id": 9, "email": "a9@example.org"}


def test_merge_keeps_other_documents_and_reports_changes(tmp_path: Path) -> None:
    path = tmp_path / "adjudications.jsonl"
    first = adjudication_rows([row("d", 9, "x", [], updated_at="1")], 7)
    assert merge_adjudications(path, first) == (1, 1)
    assert merge_adjudications(path, first) == (0, 1)
    stamp = path.stat().st_mtime_ns
    assert merge_adjudications(path, {}) == (0, 1)  # a review project without answers loses nothing
    assert path.stat().st_mtime_ns == stamp
    assert merge_adjudications(path, adjudication_rows([row("e", 9, "y", [], updated_at="2")], 7)) == (1, 2)
    docs = [json.loads(line)["document_id"] for line in path.read_text().splitlines()]
    assert docs == ["d", "e"]


def test_predictions_name_the_annotator() -> None:
    assert annotator_label(row("d", 3, "x", [])) == "a3@example.org"
    assert annotator_label({"annotator": {"id": 3, "email": None}, "annotation_id": 1}) == "id:3"


def test_review_title_fits_label_studio() -> None:
    taxonomy = load_taxonomy(ROOT / "schema" / "taxonomy.yaml")
    title = review_title(Settings(root=ROOT), taxonomy)
    assert title.endswith(" (adjudication)") and len(title) <= 50
    assert (
        review_title(Settings(root=ROOT, project_title="News stance"), taxonomy)
        == "News stance (adjudication)"
    )
