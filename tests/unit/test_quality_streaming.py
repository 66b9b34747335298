"""Agreement, gold and the gate stream over the snapshot one document at a time and give the figures
the in-memory implementation gave (pinned in tests/data/quality/pinned-*.json, see
tests/support/pinned_quality.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from support.pinned_quality import EXPECTED, NAMES, outputs, write_corpus


@pytest.fixture(scope="module")
def found(tmp_path_factory: pytest.TempPathFactory) -> dict[str, object]:
    root = tmp_path_factory.mktemp("pinned")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(root)
        return outputs(write_corpus(root))


@pytest.mark.parametrize("name", NAMES)
def test_figures_are_the_pinned_ones(found: dict[str, object], name: str) -> None:
    expected = json.loads((EXPECTED / f"pinned-{name}.json").read_text(encoding="utf-8"))
    assert found[name] == expected


def test_the_pinned_snapshot_exercises_every_rule(found: dict[str, object]) -> None:
    """The comparison above means something only if the snapshot reaches every rule."""
    agreement = found["agreement"]
    assert isinstance(agreement, dict)
    counts = agreement["counts"]
    assert counts["cancelled"] > 0 and counts["superseded"] > 0 and counts["single_documents"] > 0
    assert counts["annotations_per_item"]["min"] == 0  # a document reached only by a cancelled answer
    assert set(counts["languages"]) == {"ar", "en", "unknown"}
    assert "maybe" in agreement["stance"][1]["values"]  # an unknown value stays visible
    gold = json.dumps(found["gold"])
    for decided_by in ("ground_truth", "adjudicated", "majority", "single", "unresolved"):
        assert f'"{decided_by}"' in gold
    assert '"pilot": true' in gold


def test_a_bare_jsonl_file_in_any_order_is_grouped_in_memory_with_the_same_figures(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Only a snapshot promises document order; a bare annotations.jsonl shuffled by hand gives the
    figures of the same rows in order."""
    import random

    from corpuskit.quality.agreement import agreement
    from corpuskit.quality.gold import gold
    from support.pinned_quality import snapshot_rows
    from support.synthetic import SyntheticTaxonomy

    rows, _, _ = snapshot_rows()
    shuffled = list(rows)
    random.Random(5).shuffle(shuffled)
    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    for name, table in (("sorted", rows), ("shuffled", shuffled)):
        (tmp_path / name).mkdir()
        lines = "".join(json.dumps(row) + "\n" for row in table)
        (tmp_path / name / "annotations.jsonl").write_text(lines, encoding="utf-8")
    taxonomy = SyntheticTaxonomy()
    one = agreement(tmp_path / "sorted", taxonomy=taxonomy, draws=200, adjudications={})
    other = agreement(tmp_path / "shuffled", taxonomy=taxonomy, draws=200, adjudications={})
    assert one.stance == other.stance and one.annotators == other.annotators and one.counts == other.counts
    assert (
        gold(tmp_path / "sorted", adjudications={}).rows == gold(tmp_path / "shuffled", adjudications={}).rows
    )


def test_agreement_of_a_snapshot_out_of_order_says_where_and_what_to_do(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpuskit.errors import DataError
    from corpuskit.quality.agreement import agreement
    from corpuskit.snapshot import ANNOTATIONS_FILE, META_FILE, file_sha256

    folder = write_corpus(tmp_path)
    monkeypatch.chdir(tmp_path)
    table = folder / ANNOTATIONS_FILE
    lines = table.read_bytes().splitlines(keepends=True)
    table.write_bytes(b"".join([*lines[1:], lines[0]]))  # the first document's first row moved last
    meta = json.loads((folder / META_FILE).read_text(encoding="utf-8"))
    meta["files"][ANNOTATIONS_FILE] = file_sha256(table)
    (folder / META_FILE).write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(DataError, match=rf"{ANNOTATIONS_FILE}:{len(lines)}: document_id .* comes after"):
        agreement(folder, draws=10)


def test_corpuskit_gold_streams_the_file_gold_returns_with_its_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from corpuskit.quality.gold import gold, write_gold, write_gold_file

    folder = write_corpus(tmp_path)
    monkeypatch.chdir(tmp_path)
    written = write_gold_file(folder, tmp_path / "streamed.jsonl")
    whole = gold(folder)
    write_gold(whole, tmp_path / "whole.jsonl")
    assert written.output == tmp_path / "streamed.jsonl"
    assert written.output.read_bytes() == (tmp_path / "whole.jsonl").read_bytes()
    assert written.summary == whole.summary() and written.summary["documents"] == len(whole.rows)
    with pytest.raises(ValueError, match="out of document order"):
        write_gold(reversed(whole.rows), tmp_path / "reversed.jsonl")
    assert not (tmp_path / "reversed.jsonl").exists()


def test_the_release_gate_reads_one_document_at_a_time_and_judges_as_the_in_memory_assessment(
    tmp_path: Path,
) -> None:
    """`assess_quality` (the release's gate) against `assess` on ratings built in memory from the
    same rows less the left-out documents: the same gold rows, agreement, failures and shortfalls."""
    import dataclasses

    from corpuskit.quality.check import assess
    from corpuskit.quality.context import recorded_design, resolve_inputs
    from corpuskit.quality.ratings import build_ratings
    from corpuskit.release.api import assess_quality
    from corpuskit.settings import load_settings
    from corpuskit.snapshot import iter_table
    from support.synthetic import SyntheticTaxonomy

    folder = write_corpus(tmp_path)
    settings = dataclasses.replace(load_settings(tmp_path), min_alpha=0.667)
    taxonomy = SyntheticTaxonomy()
    left_out = {"doc_0003", "doc_0050", "doc_0101"}
    outcome = assess_quality(settings, folder, taxonomy, left_out=left_out)

    inputs = resolve_inputs(folder, taxonomy=taxonomy, settings=settings)
    source = "annotations/annotations.jsonl"
    kept = [row for row in iter_table(folder, "annotations") if row["document_id"] not in left_out]
    expected = assess(
        build_ratings(kept, taxonomy, source=source),
        min_annotators=settings.min_annotators,
        min_alpha=settings.min_alpha,
        adjudications=inputs.adjudications,
        design=recorded_design(inputs),
        source=source,
    )
    gold = list(outcome.gold)
    assert gold == [row.to_json() for row in sorted(expected.gold.rows, key=lambda r: r.document_id)]
    assert not left_out & {row["document_id"] for row in gold} and len(gold) > 100
    assert outcome.result.to_json() == expected.agreement.to_json()
    check = expected.check
    assert check.items and check.targets  # the comparison below covers both kinds of failure
    examples = "; ".join(str(f) for f in check.items[:3])
    assert outcome.shortfalls == [str(f) for f in check.targets] + [
        f"{len(check.items)} of {check.checked_items} gold decisions fall short (e.g. {examples})"
    ]
