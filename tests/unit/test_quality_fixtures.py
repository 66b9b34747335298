"""Gold and agreement on Label Studio's own multi-annotator exports (tests/data/label-studio-exports).

These exports use other label configs, so they go through the pull converter with a generic mapping:
every `choices` block becomes a stance "target" named after its `from_name`, and the labels of every
`rectanglelabels` region become the annotation's topic set. What each file holds is described in
the fixtures' PROVENANCE.md.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corpuskit.quality.agreement import compute_agreement
from corpuskit.quality.gold import compute_gold
from corpuskit.quality.ratings import build_ratings
from corpuskit.studio.export_rows import Mapper, convert_export

EXPORTS = Path(__file__).resolve().parents[1] / "data" / "label-studio-exports"


def generic_parse(result: list[Any]) -> tuple[dict[str, Any], list[str]]:
    stance: dict[str, str] = {}
    topics: set[str] = set()
    for item in result:
        value = item.get("value", {})
        if item.get("type") == "choices":
            stance[item["from_name"]] = value["choices"][0]
        elif item.get("type") == "rectanglelabels":
            topics.update(value["rectanglelabels"])
    return {"stance": stance, "topics": sorted(topics)}, []


MAPPER = Mapper(taxonomy_version="fixture", parse=generic_parse, check=lambda row, text: [])


def rows_of(name: str) -> list[dict[str, Any]]:
    return convert_export(json.loads((EXPORTS / name).read_text(encoding="utf-8")), MAPPER).annotations


def test_two_annotators_on_one_image_task() -> None:
    """yolo_data.json: task 1 by annotators 2 and 1 (both 'parasites' + 'white'), task 2 by annotator 1."""
    ratings = build_ratings(rows_of("yolo_data.json"))
    assert ratings.annotators == ["id:1", "id:2"]
    gold = {r.document_id: r for r in compute_gold(ratings).rows}
    assert gold["1"].topics["parasites"].to_json() == {
        "label": True,
        "decided_by": "majority",
        "n_annotators": 2,
        "votes": {"present": 2},
        "agreement": 1.0,
        "flags": [],
    }
    assert gold["1"].topic_labels == ["parasites", "white"]
    assert {t: (d.decided_by, d.flags) for t, d in gold["2"].topics.items()} == {
        "parasites": ("single", ("single_annotator",)),
        "white": ("single", ("single_annotator",)),
    }
    result = compute_agreement(ratings, draws=100)
    assert result.topic_set.pairable_items == 1
    assert result.topic_set.percent_agreement == 1.0
    assert result.topic_set.alpha.value is None  # one pair, one value: no variation, alpha is 0/0
    figures = {a.annotator: a for a in result.annotators}
    assert figures["id:1"].annotations == 2
    assert figures["id:1"].median_lead_time == pytest.approx((85.444 + 5.652) / 2)
    assert figures["id:2"].median_lead_time == pytest.approx(1235.418)
    assert figures["id:1"].agreement_with_gold is None  # there is no stance question in this config


def test_two_anonymous_annotations_on_one_text_task() -> None:
    """tasks_annotations_predictions.json: task 2 has two annotations without ids or annotators, both
    'class_A'; tasks 1 and 3 have one each; three tasks have none."""
    ratings = build_ratings(rows_of("tasks_annotations_predictions.json"))
    assert len(ratings.annotators) == 4  # anonymous rows are never merged into one annotator
    assert ratings.superseded == 0
    gold = {r.document_id: r.stance["text_class"] for r in compute_gold(ratings).rows}
    assert (gold["item-1"].label, gold["item-1"].decided_by, gold["item-1"].votes) == (
        "class_A",
        "majority",
        {"class_A": 2},
    )
    assert gold["item-0"].flags == ("single_annotator",)
    assert gold["item-2"].flags == ("single_annotator",)
    assert gold["item-2"].votes == {"class_TESTING": 1}
    counts = compute_agreement(ratings, draws=10).counts
    assert counts["annotations_per_item"]["histogram"] == {"1": 2, "2": 1}


def test_ground_truth_from_label_studio_decides_alone() -> None:
    """humor_dataset_2_annotations.json: task 1's only annotation has ground_truth: true."""
    gold = [
        r.stance["sentiment"]
        for r in compute_gold(build_ratings(rows_of("humor_dataset_2_annotations.json"))).rows
    ]
    assert [(d.label, d.decided_by) for d in gold] == [("Not Humor", "ground_truth"), ("Not Humor", "single")]
    assert gold[1].votes == {"Not Humor": 1}


def test_cancelled_annotation_is_excluded_and_counted() -> None:
    """doclang_data.json: task 3's annotation has was_cancelled: true."""
    ratings = build_ratings(rows_of("doclang_data.json"))
    assert (ratings.rows, ratings.cancelled, len(ratings.annotations)) == (3, 1, 2)
    gold = {r.document_id: r for r in compute_gold(ratings).rows}
    assert set(gold) == {"1", "2", "3"}
    assert all(d.flags == ("no_votes",) for d in gold["3"].topics.values())
    assert compute_agreement(ratings, draws=10).counts["cancelled"] == 1
