"""Agreement on a generated snapshot with known disagreement, checked against independent computations."""

from __future__ import annotations

import itertools
import json
import statistics
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from nltk.metrics.agreement import AnnotationTask
from nltk.metrics.distance import binary_distance

from corpuskit.cli.main import main
from corpuskit.quality.agreement import FORMAT, compute_agreement
from corpuskit.quality.ratings import build_ratings
from corpuskit.quality.report import format_table, write_report
from corpuskit.quality.stats import masi_distance
from support.synthetic import VALUES, generate_rows

T = "rnk_military_cooperation"


@pytest.fixture(scope="module")
def synthetic() -> Any:
    return generate_rows(50, (0.95, 0.8, 0.6), coverage=0.9, cancel_rate=0.08, seed=3)


@pytest.fixture(scope="module")
def result(synthetic: Any) -> Any:
    return compute_agreement(build_ratings(synthetic.rows), draws=500, seed=1)


def submitted(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if not r["was_cancelled"]]


def test_counts_exclude_and_count_cancelled(synthetic: Any, result: Any) -> None:
    cancelled = sum(r["was_cancelled"] for r in synthetic.rows)
    assert cancelled > 0
    per_doc = Counter(r["document_id"] for r in submitted(synthetic.rows))
    counts = result.counts
    assert counts["rows"] == len(synthetic.rows)
    assert counts["cancelled"] == cancelled
    assert counts["submitted"] == len(synthetic.rows) - cancelled
    assert counts["annotators"] == 3
    assert counts["documents"] == len({r["document_id"] for r in synthetic.rows})
    assert counts["annotations_per_item"]["max"] == 3
    assert sum(counts["annotations_per_item"]["histogram"].values()) == counts["documents"]
    assert counts["annotations_per_item"]["histogram"].get("3") == sum(1 for n in per_doc.values() if n == 3)


def test_alpha_matches_nltk_on_the_same_rows(synthetic: Any, result: Any) -> None:
    for target in (T, "ukraine_military_aid"):
        data = [
            (r["annotator"]["id"], r["document_id"], r["stance"][target]) for r in submitted(synthetic.rows)
        ]
        expected = AnnotationTask(data=data, distance=binary_distance).alpha()
        assert result.target(target).alpha.value == pytest.approx(expected, abs=1e-9)
    sets = [
        (r["annotator"]["id"], r["document_id"], frozenset(r["topics"])) for r in submitted(synthetic.rows)
    ]
    expected = AnnotationTask(data=sets, distance=lambda a, b: masi_distance(a, b)).alpha()
    assert result.topic_set.alpha.value == pytest.approx(expected, abs=1e-9)


def test_per_topic_alpha_matches_nltk(synthetic: Any, result: Any) -> None:
    for c in result.topics:
        data = [
            (r["annotator"]["id"], r["document_id"], c.name in r["topics"]) for r in submitted(synthetic.rows)
        ]
        assert c.alpha.value == pytest.approx(AnnotationTask(data=data, distance=binary_distance).alpha())


def test_fleiss_kappa_matches_a_plain_loop(synthetic: Any, result: Any) -> None:
    answers: dict[str, list[str]] = {}
    for r in submitted(synthetic.rows):
        answers.setdefault(r["document_id"], []).append(r["stance"][T])
    items = [Counter(v) for v in answers.values() if len(v) >= 2]
    p_i = [
        (sum(c * c for c in item.values()) - sum(item.values()))
        / (sum(item.values()) * (sum(item.values()) - 1))
        for item in items
    ]
    totals = Counter()
    for item in items:
        totals.update(item)
    n = sum(totals.values())
    p_e = sum((c / n) ** 2 for c in totals.values())
    expected = (statistics.fmean(p_i) - p_e) / (1 - p_e)
    assert result.target(T).fleiss_kappa.value == pytest.approx(expected)


def test_pairwise_cohen_kappa_matches_a_plain_loop(synthetic: Any, result: Any) -> None:
    by: dict[tuple[int, str], str] = {
        (r["annotator"]["id"], r["document_id"]): r["stance"][T] for r in submitted(synthetic.rows)
    }
    pairs = {(p.a, p.b): p for p in result.target(T).pairwise}
    assert set(pairs) == {
        ("annotator-1", "annotator-2"),
        ("annotator-1", "annotator-3"),
        ("annotator-2", "annotator-3"),
    }
    for a, b in itertools.combinations((1, 2, 3), 2):
        docs = sorted({d for (w, d) in by if w == a} & {d for (w, d) in by if w == b})
        xs, ys = [by[(a, d)] for d in docs], [by[(b, d)] for d in docs]
        p_o = sum(x == y for x, y in zip(xs, ys, strict=True)) / len(docs)
        cx, cy = Counter(xs), Counter(ys)
        p_e = sum(cx[v] * cy[v] for v in VALUES) / len(docs) ** 2
        pair = pairs[(f"annotator-{a}", f"annotator-{b}")]
        assert pair.items == len(docs)
        assert pair.kappa == pytest.approx((p_o - p_e) / (1 - p_e))


def test_more_accurate_annotators_agree_more(result: Any) -> None:
    figures = {a.annotator: a for a in result.annotators}
    assert (
        figures["annotator-1"].agreement_with_gold
        > figures["annotator-2"].agreement_with_gold
        > figures["annotator-3"].agreement_with_gold
    )
    assert figures["annotator-1"].agreement_with_others > figures["annotator-3"].agreement_with_others


def test_annotator_counts_and_median_lead_time(synthetic: Any, result: Any) -> None:
    for a in result.annotators:
        who = int(a.annotator.removeprefix("annotator-"))
        mine = [r for r in synthetic.rows if r["annotator"]["id"] == who]
        assert a.cancelled == sum(r["was_cancelled"] for r in mine)
        assert a.annotations == len(mine) - a.cancelled
        assert a.median_lead_time == statistics.median(r["lead_time"] for r in mine if not r["was_cancelled"])


def test_confusion_matrices(result: Any) -> None:
    c = result.target(T)
    matrix = np.array(c.confusion.matrix)
    assert (matrix == matrix.T).all()  # every ordered pair counted once each way
    assert matrix.sum() > 0 and matrix.trace() / matrix.sum() == pytest.approx(c.percent_agreement)
    gold = result.gold_confusion[T]
    assert set(gold) == {"annotator-1", "annotator-2", "annotator-3"}
    for figure in result.annotators:
        m = np.array(gold[figure.annotator].matrix)
        # agreement with gold pools both targets; the matrix is one target: its share is in range.
        assert 0 < m.trace() / m.sum() <= 1


def test_bootstrap_interval_is_reproducible_and_brackets_the_estimate(synthetic: Any, result: Any) -> None:
    again = compute_agreement(build_ratings(synthetic.rows), draws=500, seed=1)
    assert again.to_json() == result.to_json()
    alpha = result.target(T).alpha
    assert alpha.low < alpha.value < alpha.high


def test_known_disagreement_recovers_the_theoretical_alpha() -> None:
    """Three annotators each right with p = 0.8, wrong uniformly among the 3 other values, true values
    uniform: pairs agree with P = p^2 + (1-p)^2/3 and chance agreement is 1/4, so alpha tends to
    (P - 1/4) / (3/4) = 0.5378."""
    p = 0.8
    expected = (p * p + (1 - p) ** 2 / 3 - 0.25) / 0.75
    synthetic = generate_rows(1500, (p, p, p), seed=9)
    alpha = compute_agreement(build_ratings(synthetic.rows), draws=300, seed=2).target(T).alpha
    assert alpha.low < expected < alpha.high
    assert alpha.value == pytest.approx(expected, abs=0.03)


def test_perfect_agreement_gives_alpha_one_and_constant_answers_give_none() -> None:
    perfect = compute_agreement(build_ratings(generate_rows(20, (1.0, 1.0, 1.0), seed=1).rows), draws=50)
    assert perfect.target(T).alpha.value == pytest.approx(1.0)
    rows = [
        {"document_id": f"d{i}", "annotation_id": i * 2 + k, "annotator": {"id": k}, "stance": {"q": "x"}}
        for i in range(5)
        for k in range(2)
    ]
    constant = compute_agreement(build_ratings(rows), draws=50).target("q")
    assert constant.alpha.value is None and constant.percent_agreement == 1.0


def test_json_shape_is_stable(result: Any) -> None:
    data = json.loads(json.dumps(result.to_json()))
    assert data["format"] == FORMAT
    assert set(data) == {
        "format", "source", "taxonomy_version", "counts", "bootstrap", "stance", "topics", "annotators",
        "gold_confusion", "model_vs_gold",
    }  # fmt: skip
    assert set(data["stance"][0]) == {
        "name", "items", "pairable_items", "ratings", "values", "alpha", "fleiss_kappa", "percent_agreement",
        "pairwise_cohen_kappa", "confusion",
    }  # fmt: skip
    assert set(data["stance"][0]["alpha"]) == {"value", "low", "high"}
    assert set(data["topics"]) == {"set", "per_topic"}
    assert set(data["annotators"][0]) == {
        "annotator", "annotations", "cancelled", "median_lead_time", "comparisons", "agreement_with_others",
        "mean_kappa_with_others", "gold_comparisons", "agreement_with_gold",
    }  # fmt: skip


def test_table_lists_every_question_and_annotator(result: Any) -> None:
    table = format_table(result)
    for name in (
        f"stance.{T}",
        "stance.ukraine_military_aid",
        "topics (MASI sets)",
        "topics.sanctions_un_resolutions",
    ):
        assert name in table
    assert "annotator-1 ~ annotator-2" in table and "cancelled" in table


def test_report_writes_markdown_and_valid_pngs(tmp_path: Path, result: Any) -> None:
    import matplotlib.image

    files = write_report(result, tmp_path / "report")
    report, images = files[0], files[1:]
    assert report.name == "agreement.md"
    text = report.read_text(encoding="utf-8")
    assert {p.name for p in images} == {
        f"confusion_{T}.png", "confusion_ukraine_military_aid.png", f"gold_confusion_{T}.png",
        "gold_confusion_ukraine_military_aid.png", "annotators.png",
    }  # fmt: skip
    for image in images:
        assert image.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        pixels = matplotlib.image.imread(image)
        assert pixels.shape[0] > 200 and pixels.shape[1] > 200
        assert pixels.std() > 0.05  # not a blank canvas
        assert f"![{image.name}]({image.name})" in text
    again = write_report(result, tmp_path / "again")
    assert [p.read_bytes() for p in again[1:]] == [p.read_bytes() for p in images]


def write_corpus(tmp_path: Path, rows: list[dict[str, Any]]) -> Path:
    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    folder = tmp_path / "annotations"
    folder.mkdir()
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_cli_agreement_text_json_and_report(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], synthetic: Any
) -> None:
    write_corpus(tmp_path, synthetic.rows)
    monkeypatch.chdir(tmp_path)
    assert main(["agreement", "--draws", "100"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("Agreement of ") and f"stance.{T}" in out
    assert main(["agreement", "annotations", "--format", "json", "--draws", "100", "--report", "rep"]) == 0
    captured = capsys.readouterr()
    data = json.loads(captured.out)
    assert data["bootstrap"]["draws"] == 100 and data["counts"]["annotators"] == 3
    assert "report written to rep/agreement.md (5 plots)" in captured.err
    assert (tmp_path / "rep" / "annotators.png").is_file()


def test_library_entry_points_are_exported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, synthetic: Any
) -> None:
    import corpuskit

    folder = write_corpus(tmp_path, synthetic.rows)
    monkeypatch.chdir(tmp_path)
    assert corpuskit.agreement(folder, draws=10).counts["annotators"] == 3
    assert len(corpuskit.gold(folder).rows) == 50
    assert callable(corpuskit.write_report) and callable(corpuskit.check_gold)


def test_the_report_names_annotators_as_the_release_does_and_never_by_e_mail() -> None:
    """The agreement report and the release share one pseudonym per annotator (`annotator-<id>`, else a
    hash of the e-mail), so a report row can be matched to the data and no e-mail reaches either."""
    from corpuskit.quality.ratings import annotator_key
    from corpuskit.release.tables import annotator_key as release_key

    by_id = {"annotator": {"id": 7, "email": "seven@example.org"}, "annotation_id": 1}
    by_email = {"annotator": {"id": None, "email": "Eight@Example.org"}, "annotation_id": 2}
    assert annotator_key(by_id) == release_key(by_id["annotator"])[0] == "annotator-7"
    key = annotator_key(by_email)
    assert key == release_key(by_email["annotator"])[0] == release_key({"email": "eight@example.org"})[0]
    assert key.startswith("annotator-") and "@" not in key and "eight" not in key.lower()
    assert annotator_key({"annotator": None, "annotation_id": 3}) == "annotation:3"


def test_agreement_counts_documents_per_language_from_the_task_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], synthetic: Any
) -> None:
    from corpuskit.snapshot import write_snapshot

    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    documents = sorted({r["document_id"] for r in synthetic.rows})
    # Every third document is Arabic; one task was pushed before tasks carried a language.
    language = {d: ("ar" if i % 3 == 0 else "en") for i, d in enumerate(documents[1:], 1)}
    tasks = [
        {"document_id": d, "task_id": i, "content_sha256": "0" * 64, "meta": {}, "extra": {}}
        | {"data": {"doc_id": d} | ({"language": language[d]} if d in language else {})}
        for i, d in enumerate(documents)
    ]
    write_snapshot(
        tmp_path / "annotations", {"annotations": synthetic.rows, "tasks": tasks}, {"project_id": 1}
    )
    monkeypatch.chdir(tmp_path)
    assert main(["agreement", "--format", "json", "--draws", "50"]) == 0
    counts = json.loads(capsys.readouterr().out)["counts"]
    per_doc = Counter(r["document_id"] for r in submitted(synthetic.rows))
    expected: dict[str, dict[str, int]] = {}
    for d, n in per_doc.items():
        entry = expected.setdefault(language.get(d, "unknown"), {"documents": 0, "overlapped": 0})
        entry["documents"] += 1
        entry["overlapped"] += n >= 2
    assert counts["languages"] == expected
    assert sum(e["documents"] for e in counts["languages"].values()) == counts["annotated_documents"]
    assert main(["agreement", "--draws", "50"]) == 0
    # The text names the languages with the most documents first.
    ranked = sorted(expected.items(), key=lambda e: (-e[1]["documents"], e[0]))
    assert [tag for tag, _ in ranked] == ["en", "ar", "unknown"]
    shown = ", ".join(f"{t} {e['documents']} ({e['overlapped']} with 2+)" for t, e in ranked)
    assert f" · languages {shown}" in capsys.readouterr().out
