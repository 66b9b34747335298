"""Gold labels: the decision rule, provenance, the file, and the --check gate."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from corpuskit.cli.main import main
from corpuskit.quality.check import check_gold
from corpuskit.quality.gold import GOLD_RULE, MIN_VOTES, compute_gold, gold, write_gold
from corpuskit.quality.ratings import build_ratings
from support.synthetic import generate_rows

T = "rnk_military_cooperation"


def row(
    doc: str,
    who: int | None,
    value: str | None,
    topics: list[str] | None = None,
    *,
    aid: int | None = None,
    cancelled: bool = False,
    ground_truth: bool = False,
    updated: str = "2024-11-02T10:00:00Z",
) -> dict[str, Any]:
    return {
        "document_id": doc,
        "annotation_id": aid,
        "annotator": {"id": who, "email": None},
        "taxonomy_version": "1.0.0",
        "stance": {T: value},
        "topics": topics,
        "lead_time": 10.0,
        "updated_at": updated,
        "was_cancelled": cancelled,
        "ground_truth": ground_truth,
    }


def decide(rows: list[dict[str, Any]], min_annotators: int = 2, adjudications: Any = None) -> Any:
    result = compute_gold(build_ratings(rows), adjudications, min_annotators)
    return {r.document_id: r for r in result.rows}


@pytest.mark.parametrize(
    ("values", "label", "decided_by", "flags"),
    [
        (["favor", "favor", "against"], "favor", "majority", ()),
        (["favor", "favor"], "favor", "majority", ()),
        (["favor", "against"], None, "unresolved", ("tie",)),
        (["favor", "against", "neutral"], None, "unresolved", ("tie",)),
        (["favor", "favor", "against", "neutral"], None, "unresolved", ("no_majority",)),
        (["favor"], "favor", "single", ("single_annotator",)),
        ([None, None], None, "unresolved", ("no_votes",)),
    ],
)
def test_majority_rule(
    values: list[str | None], label: str | None, decided_by: str, flags: tuple[str]
) -> None:
    rows = [row("d", i + 1, v, aid=i + 1) for i, v in enumerate(values)]
    d = decide(rows)["d"].stance[T]
    assert (d.label, d.decided_by, d.flags) == (label, decided_by, flags)
    assert d.votes == dict(Counter(v for v in values if v is not None))
    assert d.n_annotators == sum(v is not None for v in values)


def test_single_annotator_is_never_gold_by_itself() -> None:
    assert MIN_VOTES == 2
    assert "single_annotator" in GOLD_RULE and "never resolved" in GOLD_RULE


def test_ground_truth_beats_majority_even_alone() -> None:
    rows = [
        row("d", 1, "favor", aid=1),
        row("d", 2, "favor", aid=2),
        row("d", 3, "against", aid=3, ground_truth=True),
        row("e", 4, "neutral", aid=4, ground_truth=True),
    ]
    gold_rows = decide(rows)
    assert (gold_rows["d"].stance[T].label, gold_rows["d"].stance[T].decided_by) == (
        "against",
        "ground_truth",
    )
    assert gold_rows["d"].stance[T].votes == {"favor": 2, "against": 1}
    assert (gold_rows["e"].stance[T].label, gold_rows["e"].stance[T].decided_by) == (
        "neutral",
        "ground_truth",
    )


def test_conflicting_ground_truth_is_flagged_and_falls_through() -> None:
    rows = [
        row("d", 1, "favor", aid=1, ground_truth=True),
        row("d", 2, "against", aid=2, ground_truth=True),
        row("d", 3, "favor", aid=3),
    ]
    d = decide(rows)["d"].stance[T]
    assert (d.label, d.decided_by, d.flags) == ("favor", "majority", ("ground_truth_conflict",))


def test_adjudication_beats_majority_and_resolves_ties(tmp_path: Path) -> None:
    (tmp_path / "adjudications.jsonl").write_text(
        json.dumps({"document_id": "d", "stance": {T: "neutral"}, "topics": ["sanctions"], "updated_at": "1"})
        + "\n",
        encoding="utf-8",
    )
    rows = [row("d", 1, "favor", ["sanctions"], aid=1), row("d", 2, "against", [], aid=2)]
    result = gold(tmp_path, rows=rows)
    d = result.rows[0]
    assert (d.stance[T].label, d.stance[T].decided_by) == ("neutral", "adjudicated")
    assert (d.topics["sanctions"].label, d.topics["sanctions"].decided_by) == (True, "adjudicated")
    assert d.topic_labels == ["sanctions"]


def test_cancelled_do_not_vote_and_latest_answer_of_an_annotator_wins() -> None:
    rows = [
        row("d", 1, "against", aid=1, updated="2024-01-01T00:00:00Z"),
        row("d", 1, "favor", aid=5, updated="2024-02-01T00:00:00Z"),  # same annotator, later
        row("d", 2, "favor", aid=2),
        row("d", 3, "against", aid=3, cancelled=True),
    ]
    ratings = build_ratings(rows)
    assert (ratings.cancelled, ratings.superseded) == (1, 1)
    d = compute_gold(ratings).rows[0].stance[T]
    assert (d.label, d.votes, d.agreement) == ("favor", {"favor": 2}, 1.0)


def test_document_with_only_cancelled_annotations_is_unresolved() -> None:
    d = decide([row("d", 1, None, aid=1, cancelled=True)])["d"].stance[T]
    assert (d.decided_by, d.flags, d.n_annotators) == ("unresolved", ("no_votes",), 0)


def test_majority_below_min_annotators_is_flagged() -> None:
    rows = [row("d", 1, "favor", aid=1), row("d", 2, "favor", aid=2)]
    d = decide(rows, min_annotators=3)["d"].stance[T]
    assert (d.label, d.decided_by, d.flags) == ("favor", "majority", ("below_min_annotators",))


def test_topics_per_topic_majority() -> None:
    rows = [
        row("d", 1, "favor", ["a", "b"], aid=1),
        row("d", 2, "favor", ["a"], aid=2),
        row("d", 3, "favor", ["a", "c"], aid=3),
        row("d", 4, "favor", None, aid=4),  # no answer to the topics question
    ]
    topics = decide(rows)["d"].topics
    assert (topics["a"].label, topics["a"].votes) == (True, {"present": 3})
    assert (topics["b"].label, topics["b"].votes, topics["b"].n_annotators) == (
        False,
        {"present": 1, "absent": 2},
        3,
    )
    assert topics["b"].agreement == pytest.approx(1 / 3)


def test_generated_snapshot_matches_an_independent_majority_count() -> None:
    synthetic = generate_rows(60, (0.9, 0.7, 0.5), coverage=0.85, cancel_rate=0.1, seed=11)
    result = {r.document_id: r for r in compute_gold(build_ratings(synthetic.rows)).rows}
    votes: dict[tuple[str, str], Counter[str]] = {}
    for r in synthetic.rows:
        if r["was_cancelled"]:
            continue
        for target, value in r["stance"].items():
            votes.setdefault((r["document_id"], target), Counter())[value] += 1
    assert set(result) == {r["document_id"] for r in synthetic.rows}
    decided = 0
    for (doc, target), counter in votes.items():
        d = result[doc].stance[target]
        n = sum(counter.values())
        top = counter.most_common()
        expected = top[0][0] if (n >= 2 and top[0][1] * 2 > n) or n == 1 else None
        assert d.label == expected, (doc, target, counter)
        assert d.decided_by == ("single" if n == 1 else "majority" if expected else "unresolved")
        decided += d.decided_by == "majority"
    assert decided > 60  # most of the 120 labels have a majority
    correct = sum(
        result[doc].stance[t].label == synthetic.truth[doc]["stance"][t]
        for doc in result
        for t in synthetic.truth[doc]["stance"]
        if result[doc].stance[t].decided_by == "majority"
    )
    assert correct / decided > 0.85  # majorities of mostly accurate annotators are mostly right


def test_gold_file_is_sorted_atomic_and_stable(tmp_path: Path) -> None:
    synthetic = generate_rows(20, seed=2)
    rows = list(reversed(synthetic.rows))
    path = tmp_path / "gold.jsonl"
    write_gold(compute_gold(build_ratings(rows)), path)
    first = path.read_bytes()
    ids = [json.loads(line)["document_id"] for line in first.decode().splitlines()]
    assert ids == sorted(ids) and len(ids) == 20
    write_gold(compute_gold(build_ratings(synthetic.rows)), path)
    assert path.read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == ["gold.jsonl"]  # no temporary file left


def test_gold_row_shape_follows_the_data_model(tmp_path: Path) -> None:
    synthetic = generate_rows(3, seed=3)
    data = compute_gold(build_ratings(synthetic.rows)).rows[0].to_json()
    assert set(data) == {"document_id", "n_annotations", "stance", "topics", "topic_labels"}
    assert set(data["stance"][T]) == {"label", "decided_by", "n_annotators", "votes", "agreement", "flags"}


def test_check_names_targets_below_min_alpha_and_unresolved_items() -> None:
    synthetic = generate_rows(40, (0.9, 0.6, 0.5), seed=5)
    result = check_gold(rows=synthetic.rows, min_alpha=0.8, min_annotators=2)
    assert not result.ok
    assert any(f.where == f"stance.{T}" and "< min_alpha 0.8" in f.message for f in result.targets)
    assert any("unresolved (tie" in f.message for f in result.items)


def test_check_keeping_a_few_failures_counts_them_all_and_keeps_the_first() -> None:
    synthetic = generate_rows(40, (0.9, 0.6, 0.5), seed=5)
    every = check_gold(rows=synthetic.rows, min_alpha=0.8, min_annotators=3)
    few = check_gold(rows=synthetic.rows, min_alpha=0.8, min_annotators=3, keep_items=3)
    assert every.failed_items == len(every.items) > 3
    assert few.failed_items == every.failed_items and few.checked_items == every.checked_items
    assert few.items == every.items[:3] and few.targets == every.targets
    assert not few.ok
    passing = generate_rows(30, (1.0, 1.0), topic_noise=0.0, seed=6)
    assert check_gold(rows=passing.rows, min_alpha=0.9, min_annotators=2, keep_items=0).ok


def test_check_passes_on_perfect_agreement_and_fails_on_min_annotators() -> None:
    synthetic = generate_rows(30, (1.0, 1.0), topic_noise=0.0, seed=6)
    assert check_gold(rows=synthetic.rows, min_alpha=0.9, min_annotators=2).ok
    result = check_gold(rows=synthetic.rows, min_alpha=0.9, min_annotators=3)
    assert not result.targets
    assert result.items and all("2 annotators < min_annotators 3" in f.message for f in result.items)


def write_corpus(tmp_path: Path, rows: list[dict[str, Any]], settings: str = "") -> Path:
    (tmp_path / "pyproject.toml").write_text(f"[tool.corpuskit]\n{settings}", encoding="utf-8")
    folder = tmp_path / "annotations"
    folder.mkdir()
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_cli_gold_writes_the_file_and_prints_a_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_corpus(tmp_path, generate_rows(10, seed=4).rows)
    monkeypatch.chdir(tmp_path)
    assert main(["gold"]) == 0
    out = capsys.readouterr().out
    assert f"gold: 10 documents written to {folder / 'gold.jsonl'}" in out
    assert "stance labels: ground_truth 0, adjudicated 0, majority" in out
    assert len((folder / "gold.jsonl").read_text().splitlines()) == 10
    assert main(["gold", "--format", "json", "--output", str(tmp_path / "g.jsonl")]) == 0
    data = json.loads(capsys.readouterr().out)
    assert set(data) == {"output", "summary", "rule"} and data["summary"]["documents"] == 10


def test_cli_gold_check_uses_settings_and_exits_1(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    write_corpus(
        tmp_path, generate_rows(30, (1.0, 1.0), topic_noise=0.0, seed=6).rows, "min_annotators = 3\n"
    )
    monkeypatch.chdir(tmp_path)
    assert main(["gold", "--check"]) == 1
    err = capsys.readouterr().err
    assert "doc_0000 stance.rnk_military_cooperation: 2 annotators < min_annotators 3" in err
    assert "gold --check FAILED" in err
    assert main(["gold", "--check", "--min-annotators", "2"]) == 0
    assert "gold --check passed" in capsys.readouterr().err
    assert not (tmp_path / "annotations" / "gold.jsonl").exists()  # --check writes nothing


def test_cli_gold_without_snapshot_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    assert main(["gold"]) == 2
    assert "no annotation snapshot" in capsys.readouterr().err


def test_cli_gold_names_the_broken_line(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = write_corpus(tmp_path, generate_rows(2, seed=1).rows)
    with (folder / "annotations.jsonl").open("a") as f:
        f.write("{not json\n")
    monkeypatch.chdir(tmp_path)
    assert main(["gold"]) == 1
    assert "annotations.jsonl:7: not valid JSON" in capsys.readouterr().err


def test_single_is_a_document_with_one_annotator_not_one_answer() -> None:
    rows = [
        row("alone", 1, "favor", aid=1),
        # Two annotators; the second left the stance empty: one answer, but not a single-annotator document.
        row("pair", 1, "favor", aid=2),
        row("pair", 2, None, aid=3),
    ]
    decided = decide(rows)
    alone, pair = decided["alone"].stance[T], decided["pair"].stance[T]
    assert (alone.label, alone.decided_by, alone.flags) == ("favor", "single", ("single_annotator",))
    assert (pair.label, pair.decided_by, pair.flags) == (None, "unresolved", ("single_annotator",))


def test_the_gate_accepts_single_labels_only_where_the_design_meant_one_annotator() -> None:
    from corpuskit.quality.agreement import compute_agreement
    from corpuskit.quality.check import check_quality
    from corpuskit.quality.design import OverlapDesign

    ids = [f"doc-{i}" for i in range(40)]
    half = OverlapDesign(annotators_per_document=2, overlap_share=0.5, seed="gate")
    meant_single = [d for d in ids if not half.in_overlap(d)]
    meant_pair = [d for d in ids if half.in_overlap(d)]
    assert meant_single and meant_pair
    rows = [row(d, 1, "favor", aid=i) for i, d in enumerate(ids)]
    ratings = build_ratings(rows)
    result = compute_gold(ratings)
    agreement = compute_agreement(ratings, result, draws=10)
    failing = {
        f.where.split()[0]
        for f in check_quality(agreement, result, 2, 0.0, half).items
        if "design asks" in f.message
    }
    assert failing == set(meant_pair)  # the documents still waiting for their second annotator
    one = OverlapDesign(annotators_per_document=1)
    assert not any("design asks" in f.message for f in check_quality(agreement, result, 1, 0.0, one).items)
    # Without a design every document is taken as meant for several annotators.
    assert len(check_quality(agreement, result, 2, 0.0, None).items) >= len(ids)
