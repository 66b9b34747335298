"""Recorded and hand-written Label Studio exports of corpuskit's own config, through the real conversion.

`label-studio-exports/recorded/` comes from a real server (`scripts/record_exports.py`), `handwritten/`
holds the shapes that server version does not send. Each converts to exactly the tables kept in
`expected/` (rewritten only by `scripts/record_exports.py --expected`, and reviewed as a diff); the
tests below also spell out, value by value, what each shape must become.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from corpuskit.quality.gold import gold
from corpuskit.studio.export_rows import TABLES, Mapper, Tables
from corpuskit.studio.pull import convert_export_file, pull, taxonomy_mapper
from corpuskit.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
EXPORTS = ROOT / "tests" / "data" / "label-studio-exports"
RECORDED = EXPORTS / "recorded"
HANDWRITTEN = EXPORTS / "handwritten"
EXPECTED = EXPORTS / "expected"
FIXTURES = sorted([*RECORDED.glob("*.json"), *HANDWRITTEN.glob("*.json")])


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return taxonomy_mapper(load_taxonomy(ROOT / "schema" / "taxonomy.yaml"))


def _convert(path: Path, mapper: Mapper) -> Tables:
    return convert_export_file(path, mapper)


def _by(rows: list[dict[str, Any]], key: str) -> dict[Any, dict[str, Any]]:
    return {row[key]: row for row in rows}


def test_fixtures_and_expected_files_match_one_to_one() -> None:
    assert [p.name for p in RECORDED.glob("*.json")], "no recorded export"
    assert sorted(p.name for p in EXPECTED.glob("*.json")) == sorted(
        f"{p.parent.name}--{p.name}" for p in FIXTURES
    )


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_converts_to_expected_tables(path: Path, mapper: Mapper) -> None:
    tables = _convert(path, mapper)
    expected = json.loads((EXPECTED / f"{path.parent.name}--{path.name}").read_text(encoding="utf-8"))
    assert sorted(expected) == sorted(TABLES)
    for name in TABLES:
        assert tables.table(name) == expected[name], name


# --- recorded from Label Studio (recorded/README.md lists what was done) ------------------------


def test_recorded_snapshot_export_names_every_annotator(mapper: Mapper) -> None:
    tables = _convert(RECORDED / "export-snapshot.json", mapper)
    got = [
        (r["annotation_id"], r["document_id"], r["annotator"], r["was_cancelled"], r["ground_truth"])
        for r in tables.annotations
    ]
    one = {"id": 2, "email": "recorder-annotator-1@example.org"}
    two = {"id": 3, "email": "recorder-annotator-2@example.org"}
    assert got == [
        (1, "batch-0", one, False, False),
        (2, "batch-0", two, True, False),  # annotator 2 skipped the task annotator 1 submitted
        (3, "batch-1", one, False, False),
        (4, "batch-1", two, False, True),  # marked ground truth by the admin
    ]
    assert tables.problems == []
    assert len(tables.tasks) == 6  # unannotated tasks are exported too


def test_recorded_plain_export_names_annotators_by_id_only(mapper: Mapper) -> None:
    """The export endpoint sends `completed_by` as a bare id (pull then asks the user list)."""
    tables = _convert(RECORDED / "export.json", mapper)
    assert [(r["annotation_id"], r["annotator"]) for r in tables.annotations] == [
        (1, {"id": 2, "email": None}),
        (2, {"id": 3, "email": None}),
        (3, {"id": 2, "email": None}),
        (4, {"id": 3, "email": None}),
    ]
    # ... and predictions as bare ids: the row keeps the id, and a problem says why it is empty.
    (prediction,) = tables.predictions
    assert (prediction["prediction_id"], prediction["model_version"], prediction["result"]) == (1, None, [])
    assert [(p["code"], p["table"], p["item_id"]) for p in tables.problems] == [("id-only", "predictions", 1)]


def test_recorded_update_keeps_the_last_answer(mapper: Mapper) -> None:
    updated = _by(_convert(RECORDED / "export-snapshot.json", mapper).annotations, "annotation_id")[3]
    assert updated["note"] == "changed my mind on a second reading"
    assert updated["updated_at"] > updated["created_at"]


def test_recorded_drafts_stay_apart_and_name_their_author(mapper: Mapper) -> None:
    """Label Studio 1.23 exports a draft's author as an e-mail string in `user`."""
    tables = _convert(RECORDED / "export-snapshot.json", mapper)
    drafts = [(d["draft_id"], d["document_id"], d["annotation_id"], d["annotator"]) for d in tables.drafts]
    assert drafts == [
        (1, "batch-0", None, {"id": None, "email": "recorder-annotator-3@example.org"}),
        (2, "batch-0", None, {"id": None, "email": "recorder-annotator-1@example.org"}),
    ]
    assert {r["annotation_id"] for r in tables.annotations} == {1, 2, 3, 4}
    assert _convert(RECORDED / "export.json", mapper).drafts == tables.drafts


def test_recorded_prediction_is_apart_from_annotations(mapper: Mapper) -> None:
    tables = _convert(RECORDED / "export-snapshot.json", mapper)
    (prediction,) = tables.predictions
    assert (prediction["prediction_id"], prediction["document_id"]) == (1, "batch-0")
    assert (prediction["model_version"], prediction["score"]) == ("keyword-baseline-0.1", 0.62)
    assert "annotator" not in prediction
    assert len(tables.annotations) == 4


def test_recorded_files_hold_no_secret() -> None:
    for path in [*RECORDED.iterdir()]:
        text = path.read_text(encoding="utf-8")
        for word in ('"password"', '"token"', '"api_key"', "Authorization"):
            assert word not in text, (path.name, word)
        # Only the recording's synthetic accounts: no admin, no person.
        emails = set(re.findall(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", text))
        assert emails and all(
            re.fullmatch(r"recorder-annotator-[\dN][\w.]*@example\.org", e) for e in emails
        ), (
            path.name,
            emails,
        )


# --- hand-written shapes (handwritten/, see PROVENANCE.md) --------------------------------------


def test_completed_by_in_every_shape(mapper: Mapper) -> None:
    tables = _convert(HANDWRITTEN / "completed-by-shapes.json", mapper)
    assert {r["annotation_id"]: r["annotator"] for r in tables.annotations} == {
        201: {"id": 11, "email": None},  # a bare user id
        202: {"id": 12, "email": "hw-annotator-12@example.org"},  # {id, email}
        203: {"id": 13, "email": "hw-annotator-13@example.org"},  # the full user object
        204: {"id": None, "email": "hw-annotator-14@example.org"},  # an e-mail string
        205: {"id": None, "email": None},  # no completed_by key at all
        206: {"id": None, "email": "hw-annotator-16@example.org"},  # {email} only
        207: {"id": None, "email": None},  # completed_by: null
        208: {"id": None, "email": None},  # a string that is not an address: kept, and reported
    }
    extra = {r["annotation_id"]: r["extra"].get("completed_by") for r in tables.annotations}
    # Whatever the annotator column cannot reproduce stays in `extra`, exactly as sent.
    assert extra[203] == {
        "id": 13,
        "email": "hw-annotator-13@example.org",
        "first_name": "Hand-written annotator 13",
        "last_name": "(synthetic)",
    }
    assert (extra[201], extra[202], extra[204], extra[208]) == (
        None,
        None,
        "hw-annotator-14@example.org",
        "someone",
    )
    assert [(p["code"], p["item_id"], p["message"]) for p in tables.problems] == [
        ("annotator", 208, "completed_by of type str is not a user")
    ]


def test_drafts_are_kept_apart_with_their_author(mapper: Mapper) -> None:
    tables = _convert(HANDWRITTEN / "drafts.json", mapper)
    assert [r["annotation_id"] for r in tables.annotations] == [301]
    assert [
        (
            d["draft_id"],
            d["document_id"],
            d["annotation_id"],
            d["annotator"],
            d["stance"]["rnk_military_cooperation"],
        )
        for d in tables.drafts
    ] == [
        (31, "hw-drafts", 301, {"id": 21, "email": None}, "favor"),  # a draft of annotation 301
        (32, "hw-drafts", None, {"id": None, "email": "hw-annotator-22@example.org"}, "neutral"),
        (33, "hw-drafts", None, {"id": None, "email": None}, "unrelated"),
        (34, "hw-drafts-only", None, {"id": 23, "email": "hw-annotator-23@example.org"}, "against"),
    ]
    # A draft is not an answer: the annotation of 301 keeps its submitted stance.
    assert tables.annotations[0]["stance"]["rnk_military_cooperation"] == "against"
    assert tables.problems == []


def test_cancelled_next_to_submitted_is_no_label(mapper: Mapper) -> None:
    tables = _convert(HANDWRITTEN / "cancelled-same-annotator.json", mapper)
    assert [(r["annotation_id"], r["annotator"]["id"], r["was_cancelled"]) for r in tables.annotations] == [
        (401, 31, False),
        (402, 31, True),  # the same annotator's skip beside their submission
        (403, 32, True),  # skipped after picking "against"
        (404, 32, False),
    ]
    (row,) = gold(rows=tables.annotations, taxonomy=load_taxonomy(ROOT / "schema" / "taxonomy.yaml")).rows
    assert row.n_annotations == 2
    decision = row.stance["rnk_military_cooperation"]
    assert (decision.label, dict(decision.votes)) == ("favor", {"favor": 2})


def test_predictions_stay_apart_from_annotations(mapper: Mapper) -> None:
    tables = _convert(HANDWRITTEN / "predictions.json", mapper)
    assert [r["annotation_id"] for r in tables.annotations] == [501]
    assert [
        (
            p["prediction_id"],
            p["document_id"],
            p["model_version"],
            p["score"],
            p["stance"]["rnk_military_cooperation"],
        )
        for p in tables.predictions
    ] == [
        (51, "hw-predicted", "hw-model-a", 0.9, "against"),
        (52, "hw-predicted", "hw-model-b", None, "favor"),
        (53, "hw-predicted", None, None, None),  # exported as a bare id
        (54, "hw-predicted-only", "hw-model-a", 0.4, "unrelated"),
    ]
    assert [(p["code"], p["item_id"]) for p in tables.problems] == [("id-only", 53)]


def test_ground_truth_is_carried(mapper: Mapper, tmp_path: Path) -> None:
    tables = _convert(HANDWRITTEN / "ground-truth.json", mapper)
    assert [(r["annotation_id"], r["ground_truth"]) for r in tables.annotations] == [
        (601, True),
        (602, False),
    ]
    # ... into the snapshot files that quality and release read.
    result = pull(from_export=HANDWRITTEN / "ground-truth.json", out=tmp_path / "annotations")
    assert (result.ground_truth, result.annotators) == (1, 2)
    lines = (tmp_path / "annotations" / "annotations.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["ground_truth"] for line in lines] == [True, False]
