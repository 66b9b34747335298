"""Model-vs-gold agreement: predictions in a snapshot are compared with gold apart from the annotators,
and never change the annotators' coefficients or gold."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from corpuskit.quality.agreement import agreement
from corpuskit.quality.gold import gold
from corpuskit.quality.report import write_report
from corpuskit.taxonomy import load_taxonomy
from corpuskit.taxonomy.model import Taxonomy
from support.learnable import LearnableDocument, learnable_corpus, write_snapshot_folder

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(REPO / "schema" / "taxonomy.yaml")


@pytest.fixture(scope="module")
def corpus(taxonomy: Taxonomy) -> list[LearnableDocument]:
    return learnable_corpus(taxonomy, 40, seed=11)


def _prediction(
    i: int, d: LearnableDocument, version: str, stance: dict[str, str], topics: list[str]
) -> dict[str, Any]:
    return {
        "document_id": d.document_id,
        "task_id": i + 1,
        "content_sha256": None,
        "taxonomy_version": "1.0.0",
        "prediction_id": i + 1 if version == "1.0.0-good" else 1000 + i,
        "model_version": version,
        "score": 0.5,
        "stance": stance,
        "topics": topics,
        "spans": [],
        "note": None,
        "created_at": None,
        "updated_at": None,
        "result": [],
        "extra": {},
    }


def _predictions(corpus: list[LearnableDocument], taxonomy: Taxonomy) -> list[dict[str, Any]]:
    good = [_prediction(i, d, "1.0.0-good", dict(d.stance), list(d.topics)) for i, d in enumerate(corpus)]
    # The "bad" model says favor where gold says anything else, and against where gold says favor, and
    # every topic gold does not have: it disagrees with gold everywhere.
    bad = [
        _prediction(
            i,
            d,
            "1.0.0-bad",
            {t: ("against" if v == "favor" else "favor") for t, v in d.stance.items()},
            [t for t in taxonomy.topic_ids if t not in d.topics],
        )
        for i, d in enumerate(corpus)
    ]
    return good + bad


def test_predictions_never_enter_the_coefficients_or_gold(
    tmp_path: Path, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> None:
    plain = write_snapshot_folder(tmp_path / "plain", corpus, taxonomy)
    with_predictions = write_snapshot_folder(
        tmp_path / "predicted", corpus, taxonomy, predictions=_predictions(corpus, taxonomy)
    )
    before = agreement(plain, taxonomy=taxonomy, draws=20).to_json()
    after = agreement(with_predictions, taxonomy=taxonomy, draws=20).to_json()
    assert before.pop("model_vs_gold") == []
    models = after.pop("model_vs_gold")
    for data in (before, after):
        data.pop("source")
    # Every annotator figure, count and coefficient is the same with or without 80 predictions.
    assert after == before
    assert after["counts"]["submitted"] == 2 * len(corpus)
    assert [a["annotator"] for a in after["annotators"]] == ["annotator-1", "annotator-2"]
    gold_plain = [r.to_json() for r in gold(plain, taxonomy=taxonomy).rows]
    gold_predicted = [r.to_json() for r in gold(with_predictions, taxonomy=taxonomy).rows]
    assert gold_predicted == gold_plain
    assert [m["model_version"] for m in models] == ["1.0.0-bad", "1.0.0-good"]


def test_model_vs_gold_per_version_and_its_own_report_section(
    tmp_path: Path, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> None:
    snapshot = write_snapshot_folder(
        tmp_path / "annotations", corpus, taxonomy, predictions=_predictions(corpus, taxonomy)
    )
    result = agreement(snapshot, taxonomy=taxonomy, draws=20)
    by_version = {m.model_version: m for m in result.model_gold}
    good, bad = by_version["1.0.0-good"], by_version["1.0.0-bad"]
    assert good.predictions == bad.predictions == len(corpus)
    for target in good.stance:
        assert target.documents == len(corpus)
        assert target.agreement == 1.0 and target.macro_f1 == 1.0
        assert target.kappa == pytest.approx(1.0)
    for target in bad.stance:
        assert target.agreement == 0.0 and target.macro_f1 == 0.0
        assert target.kappa is not None and target.kappa < 0
    assert good.topics_micro_f1 == 1.0 and bad.topics_micro_f1 == 0.0
    report = write_report(result, tmp_path / "report")[0].read_text(encoding="utf-8")
    section = report.split("## Model vs gold", 1)
    assert len(section) == 2
    # The annotators' tables come before, and the model rows appear only in the model section.
    assert "1.0.0-good" not in section[0] and "1.0.0-bad" not in section[0]
    assert "| 1.0.0-good | 40 | rnk_military_cooperation | 40 | 100.0% | 1.000 | 1.000 |" in section[1]
    assert "| 1.0.0-bad | 40 | topics (micro-F1) | 40 |  |  | 0.000 |" in section[1]


def test_no_predictions_no_section(
    tmp_path: Path, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> None:
    snapshot = write_snapshot_folder(tmp_path / "annotations", corpus, taxonomy)
    result = agreement(snapshot, taxonomy=taxonomy, draws=20)
    assert result.model_gold == []
    assert "Model vs gold" not in write_report(result, tmp_path / "report")[0].read_text(encoding="utf-8")
