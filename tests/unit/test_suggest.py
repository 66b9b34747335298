"""The suggestion model (corpuskit.suggest) on learnable and unlearnable snapshots, without a server."""

from __future__ import annotations

import json
import socket
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from corpuskit.errors import DataError
from corpuskit.settings import Settings
from corpuskit.suggest import Suggester, fit, task_text, training_data, write_report
from corpuskit.taxonomy import load_taxonomy
from corpuskit.taxonomy.model import Taxonomy
from corpuskit.taxonomy.results import result_to_row_fields, row_to_result
from support.learnable import LearnableDocument, learnable_corpus, shuffled, write_snapshot_folder

REPO = Path(__file__).resolve().parents[2]
# Big enough that every class has its five documents and the figures are stable, small enough to
# train in seconds.
N = 240


@pytest.fixture(scope="module")
def taxonomy() -> Taxonomy:
    return load_taxonomy(REPO / "schema" / "taxonomy.yaml")


@pytest.fixture(scope="module")
def corpus(taxonomy: Taxonomy) -> list[LearnableDocument]:
    return learnable_corpus(taxonomy, N, seed=3)


@pytest.fixture(scope="module")
def learnable(
    tmp_path_factory: pytest.TempPathFactory, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> Path:
    return write_snapshot_folder(tmp_path_factory.mktemp("learnable") / "annotations", corpus, taxonomy)


def _settings(root: Path) -> Settings:
    return Settings(root=root)


@pytest.fixture(scope="module")
def model(learnable: Path, taxonomy: Taxonomy) -> Suggester:
    return fit(learnable, settings=_settings(learnable.parent), taxonomy=taxonomy, folds=5, seed=0)


def test_learnable_corpus_beats_the_baseline_on_every_question(model: Suggester) -> None:
    assert model.ready, model.reasons
    assert model.reasons == ()
    questions = {f.question for f in model.evaluation.figures}
    assert questions == {
        "stance.rnk_military_cooperation",
        "stance.ukraine_military_aid",
        "topics",
        "topics.macro",
    }
    for figure in model.evaluation.figures:
        if figure.question != "topics.macro":
            assert figure.beats_baseline
            assert figure.model > figure.majority and figure.model > figure.chance
    assert model.training_documents == N
    # Counts per class add up to the labelled documents of each target.
    for target in ("rnk_military_cooperation", "ukraine_military_aid"):
        assert sum(model.evaluation.counts[f"stance.{target}"].values()) == N


def test_learning_curve_grows_with_the_training_data(model: Suggester) -> None:
    curve = model.evaluation.curve
    assert [p.fraction for p in curve] == [0.25, 0.5, 0.75, 1.0]
    sizes = [p.train_documents for p in curve]
    assert sizes == sorted(sizes) and sizes[-1] == round(N * 4 / 5)
    first, last = curve[0], curve[-1]
    assert first.topics_micro_f1 is not None and last.topics_micro_f1 is not None
    assert last.topics_micro_f1 > first.topics_micro_f1
    assert last.stance_macro_f1 is not None and first.stance_macro_f1 is not None
    assert last.stance_macro_f1 > first.stance_macro_f1
    # The full-data point is the evaluation itself.
    stance = [f.model for f in model.evaluation.figures if f.question.startswith("stance.")]
    assert last.stance_macro_f1 == pytest.approx(sum(stance) / len(stance))


def test_shuffled_labels_are_not_ready_and_say_why(
    tmp_path: Path, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> None:
    snapshot = write_snapshot_folder(tmp_path / "annotations", shuffled(corpus), taxonomy)
    result = fit(snapshot, settings=_settings(tmp_path), taxonomy=taxonomy, curve=False)
    assert not result.ready
    beaten = [r for r in result.reasons if "does not beat the baseline" in r]
    # Every question is noise: each one gets its own line naming it and the figures.
    assert {r.split(":")[0] for r in beaten} == {
        "stance.rnk_military_cooperation",
        "stance.ukraine_military_aid",
        "topics",
    }
    assert all("majority" in r and "chance" in r for r in beaten)


def test_too_few_labelled_documents_per_class_are_refused(tmp_path: Path, taxonomy: Taxonomy) -> None:
    few = learnable_corpus(taxonomy, 14, seed=5)
    snapshot = write_snapshot_folder(tmp_path / "annotations", few, taxonomy)
    result = fit(snapshot, settings=_settings(tmp_path), taxonomy=taxonomy, folds=5, curve=False)
    assert not result.ready
    counts = result.evaluation.counts["stance.rnk_military_cooperation"]
    rare = [value for value, n in counts.items() if n < 5]
    assert rare
    for value in rare:
        line = (
            f"stance.rnk_military_cooperation: {value!r} has {counts[value]} labelled documents, fewer than 5"
        )
        assert any(r.startswith(line) for r in result.reasons), result.reasons


def test_no_gold_at_all_is_a_data_error(
    tmp_path: Path, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> None:
    snapshot = write_snapshot_folder(tmp_path / "annotations", [], taxonomy, unlabelled=corpus[:2])
    with pytest.raises(DataError, match="no document has a gold label"):
        fit(snapshot, settings=_settings(tmp_path), taxonomy=taxonomy)


def test_same_data_same_version_and_figures_changed_gold_new_version(
    tmp_path: Path, learnable: Path, model: Suggester, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> None:
    again = fit(
        learnable, settings=_settings(learnable.parent), taxonomy=taxonomy, folds=5, seed=0, curve=False
    )
    assert again.model_version == model.model_version
    # Seeded: the same folds, the same figures to the last digit.
    assert again.evaluation.figures == model.evaluation.figures
    assert again.evaluation.calibration == model.evaluation.calibration
    assert model.model_version.startswith(f"{taxonomy.version}-")
    assert len(model.model_version.split("-")[-1]) == 12
    first = corpus[0]
    flipped = "favor" if first.stance["rnk_military_cooperation"] != "favor" else "against"
    changed = [replace(first, stance={**first.stance, "rnk_military_cooperation": flipped}), *corpus[1:]]
    snapshot = write_snapshot_folder(tmp_path / "annotations", changed, taxonomy)
    other = fit(snapshot, settings=_settings(tmp_path), taxonomy=taxonomy, curve=False)
    assert other.model_version != model.model_version


def test_predictions_in_the_snapshot_never_become_training_data(
    tmp_path: Path, learnable: Path, model: Suggester, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> None:
    # A model that says the opposite of gold on every document, stored as the snapshot's predictions.
    wrong = [
        {
            "document_id": d.document_id,
            "task_id": i + 1,
            "content_sha256": None,
            "taxonomy_version": taxonomy.version,
            "prediction_id": i + 1,
            "model_version": "rogue",
            "score": 0.99,
            "stance": {t: ("favor" if v != "favor" else "against") for t, v in d.stance.items()},
            "topics": [t for t in taxonomy.topic_ids if t not in d.topics],
            "spans": [],
            "note": None,
            "created_at": None,
            "updated_at": None,
            "result": [],
            "extra": {},
        }
        for i, d in enumerate(corpus)
    ]
    snapshot = write_snapshot_folder(tmp_path / "annotations", corpus, taxonomy, predictions=wrong)
    settings = _settings(tmp_path)
    with_predictions = training_data(snapshot, settings=settings, taxonomy=taxonomy)
    without = training_data(learnable, settings=settings, taxonomy=taxonomy)
    assert with_predictions.rows == without.rows
    result = fit(snapshot, settings=settings, taxonomy=taxonomy, curve=False)
    assert result.model_version == model.model_version


def test_predict_rows_are_what_push_reads(
    tmp_path: Path, model: Suggester, corpus: list[LearnableDocument], taxonomy: Taxonomy
) -> None:
    from corpuskit.studio.push.predictions import read_predictions

    documents = [(d.document_id, task_text({"title": d.title, "text": d.text})) for d in corpus[:40]]
    rows = list(model.predict(iter(documents)))
    assert [r["document_id"] for r in rows] == [d for d, _ in documents]
    path = tmp_path / "predictions.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    read = read_predictions(path)
    assert read == rows
    for row, (_, text) in zip(read, documents, strict=True):
        assert row["model_version"] == model.model_version
        assert 0.0 <= row["score"] <= 1.0
        assert set(row["stance"]) == set(taxonomy.target_ids)
        assert all(v in taxonomy.stance_value_ids for v in row["stance"].values())
        assert set(row["topics"]) <= set(taxonomy.topic_ids)
        # What push turns a row into reads back as the same labels.
        fields, problems = result_to_row_fields(taxonomy, row_to_result(taxonomy, row, text))
        assert problems == []
        assert fields["stance"] == row["stance"]
        assert sorted(fields["topics"] or []) == sorted(row["topics"])
    # Fitted on these very documents, the model gets most of them right: predict is not a constant.
    right = sum(r["stance"] == d.stance for r, d in zip(rows, corpus, strict=False))
    assert right >= len(rows) // 2
    assert len({r["score"] for r in rows}) > len(rows) // 2


def test_scores_rank_ambiguous_documents_first(model: Suggester, taxonomy: Taxonomy) -> None:
    clear = (
        "Officials condemned the russia north korea military cooperation. "
        "Officials condemned the military aid ukraine."
    )
    empty = "Nothing here."
    rows = {r["document_id"]: r for r in model.predict([("clear", clear), ("empty", empty)])}
    assert rows["empty"]["score"] < rows["clear"]["score"]


def test_report_names_the_version_the_figures_and_its_plot(tmp_path: Path, model: Suggester) -> None:
    path = write_report(model, tmp_path / "report")
    text = path.read_text(encoding="utf-8")
    assert model.model_version in text
    assert f"Trained on **{N}** labelled documents" in text
    assert "ready to push" in text
    for figure in model.evaluation.figures:
        assert f"| {figure.question} | {figure.metric} | {figure.model:.3f} | {figure.majority:.3f} |" in text
    assert "| stance.rnk_military_cooperation | favor |" in text
    assert "![learning curve](suggest-learning-curve.png)" in text
    png = (tmp_path / "report" / "suggest-learning-curve.png").read_bytes()
    assert png.startswith(b"\x89PNG\r\n\x1a\n") and len(png) > 5_000


def test_training_and_prediction_never_open_a_connection(
    monkeypatch: pytest.MonkeyPatch, learnable: Path, taxonomy: Taxonomy
) -> None:
    calls: list[Any] = []

    def refuse(self: socket.socket, address: Any) -> None:
        calls.append(address)
        raise OSError("network used")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    result = fit(learnable, settings=_settings(learnable.parent), taxonomy=taxonomy, folds=3, curve=False)
    rows = list(result.predict([("x", "Officials welcomed the arms transfers.")]))
    assert rows and calls == []


def test_without_scikit_learn_the_message_names_the_suggest_extra() -> None:
    from corpuskit.extras import missing_extra

    error = ModuleNotFoundError("No module named 'sklearn'", name="sklearn.linear_model")
    assert str(missing_extra(error, "suggest")) == (
        "corpuskit suggest needs the suggest extra (sklearn is not installed): "
        "pip install 'corpuskit-news[suggest]' (or [all] for every command)"
    )


@pytest.mark.parametrize("n", [1, 2])
def test_a_handful_of_documents_trains_and_says_it_is_too_few(
    tmp_path: Path, taxonomy: Taxonomy, n: int
) -> None:
    snapshot = write_snapshot_folder(
        tmp_path / "annotations", learnable_corpus(taxonomy, n, seed=2), taxonomy
    )
    result = fit(snapshot, settings=_settings(tmp_path), taxonomy=taxonomy)
    assert not result.ready
    plural = "s" if n != 1 else ""
    assert result.reasons[0] == (
        f"only {n} labelled document{plural}: a model needs at least 5 per class of every question "
        "(at least 10 in all)"
    )
    # With --force the command can still push: predict works on what little it learnt.
    (row,) = result.predict([("new", "Officials welcomed the arms transfers.")])
    assert row["document_id"] == "new" and 0.0 <= row["score"] <= 1.0
