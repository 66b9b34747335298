"""Taxonomy migrations on annotation rows made under an older version (tests/data/taxonomy/migrations/).

v1.0.0 is the first corpus taxonomy; v1.1.0 renames, merges, splits, retires and adds topics and
renames a target; v1.2.0 splits the stance value `neutral`. The rows were made under v1.0.0.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corpuskit.cli.main import main
from corpuskit.errors import DataError
from corpuskit.taxonomy import (
    annotation_problems,
    diff_taxonomies,
    load_taxonomy,
    migrate_rows,
    taxonomy_from_dict,
)
from corpuskit.taxonomy.migrations import read_rows

DATA = Path(__file__).resolve().parents[1] / "data" / "taxonomy" / "migrations"
ROWS = DATA / "annotations-1.0.0.jsonl"
TEXTS: dict[str, str] = json.loads((DATA / "texts.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def versions() -> dict[str, Any]:
    return {name: load_taxonomy(DATA / f"v{name}.yaml") for name in ("1.0.0", "1.1.0", "1.2.0")}


@pytest.fixture
def rows() -> list[dict[str, Any]]:
    return read_rows(ROWS)


def by_id(rows: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    return {row["annotation_id"]: row for row in rows}


def test_the_old_rows_are_valid_under_the_version_they_were_made_under(versions: Any, rows: Any) -> None:
    for row in rows:
        assert annotation_problems(versions["1.0.0"], row, TEXTS[row["document_id"]]) == []


def test_migration_maps_labels_and_keeps_the_original(versions: Any, rows: Any) -> None:
    old_rows = json.loads(json.dumps(rows))
    migrated = by_id(migrate_rows(rows, versions["1.0.0"], versions["1.1.0"]))
    assert rows == old_rows  # the input is not modified

    first = migrated[40]
    assert first["taxonomy_version"] == "1.1.0"
    # diplomacy_summits renamed; war_in_ukraine split (dropped, to re-annotate); economic_aid retired
    assert first["topics"] == ["military_cooperation", "troop_deployment", "diplomacy"]
    assert first["stance"] == {"rnk_military_cooperation": "against", "ukraine_arms_aid": "neutral"}
    assert [s["target"] for s in first["spans"]] == ["rnk_military_cooperation", "ukraine_arms_aid"]
    original = first["original"]
    assert original["taxonomy_version"] == "1.0.0"
    assert original["stance"] == {"rnk_military_cooperation": "against", "ukraine_military_aid": "neutral"}
    assert original["topics"] == [
        "military_cooperation",
        "troop_deployment",
        "war_in_ukraine",
        "diplomacy_summits",
        "economic_aid",
    ]
    assert [s["target"] for s in original["spans"]] == ["rnk_military_cooperation", "ukraine_military_aid"]
    assert original["needs_reannotation"] == ["topics"]
    assert original["migrations"] == [
        "1.0.0 -> 1.1.0: rename topic 'diplomacy_summits' -> 'diplomacy'",
        "1.0.0 -> 1.1.0: split topic 'war_in_ukraine' -> 'ukraine_front_line', 'ukraine_war_supplies' "
        "(needs re-annotation)",
        "1.0.0 -> 1.1.0: retire topic 'economic_aid'",
        "1.0.0 -> 1.1.0: rename target 'ukraine_military_aid' -> 'ukraine_arms_aid'",
    ]
    # Label Studio's own result stays verbatim: it is what the annotator submitted under 1.0.0.
    assert first["result"] == old_rows[0]["result"]

    merged = migrated[42]
    assert merged["topics"] == [
        "military_cooperation",
        "sanctions_un_resolutions",
        "alliances_exercises",
        "weapons_programmes",
    ]
    assert merged["original"]["needs_reannotation"] == []


def test_migrated_rows_are_valid_under_the_new_version(versions: Any, rows: Any) -> None:
    for name in ("1.1.0", "1.2.0"):
        for row in migrate_rows(rows, versions["1.0.0"], versions[name]):
            assert annotation_problems(versions[name], row, TEXTS[row["document_id"]]) == [], (name, row)


def test_a_split_stance_value_needs_reannotation_across_two_versions(versions: Any, rows: Any) -> None:
    migrated = by_id(migrate_rows(rows, versions["1.0.0"], versions["1.2.0"]))
    first = migrated[40]
    assert first["taxonomy_version"] == "1.2.0"
    assert first["stance"] == {"rnk_military_cooperation": "against", "ukraine_arms_aid": None}
    assert first["original"]["taxonomy_version"] == "1.0.0"
    assert first["original"]["stance"]["ukraine_military_aid"] == "neutral"
    assert first["original"]["needs_reannotation"] == ["topics", "ukraine_arms_aid"]
    assert migrated[41]["stance"] == {"rnk_military_cooperation": "against", "ukraine_arms_aid": "unrelated"}


def test_stepwise_migration_equals_the_direct_one_and_keeps_the_first_original(
    versions: Any, rows: Any
) -> None:
    step = migrate_rows(rows, versions["1.0.0"], versions["1.1.0"])
    twice = migrate_rows(step, versions["1.1.0"], versions["1.2.0"])
    direct = migrate_rows(rows, versions["1.0.0"], versions["1.2.0"])
    assert twice == direct
    assert migrate_rows(direct, versions["1.0.0"], versions["1.2.0"]) == direct  # already there: unchanged


def test_an_unmapped_removal_of_a_used_label_is_an_error_naming_it(versions: Any, rows: Any) -> None:
    unmapped = load_taxonomy(DATA / "v1.1.0-unmapped.yaml")
    with pytest.raises(
        DataError, match=r"removes topic 'economic_aid' of version 1\.0\.0 without a migration"
    ):
        migrate_rows(rows, versions["1.0.0"], unmapped)
    unused = [r for r in rows if "economic_aid" not in r["topics"]]
    assert len(migrate_rows(unused, versions["1.0.0"], unmapped)) == len(unused)


def test_a_migration_naming_a_label_the_old_version_lacks_is_an_error(versions: Any, rows: Any) -> None:
    import yaml

    data = yaml.safe_load((DATA / "v1.1.0.yaml").read_text(encoding="utf-8"))
    data["migrations"][0]["changes"][0]["from"] = "diplomatic_summits"
    broken = taxonomy_from_dict(data, source="v1.1.0-typo.yaml")
    with pytest.raises(
        DataError, match=r"unknown topic 'diplomatic_summits' in .*v1\.0\.0\.yaml \(version 1\.0\.0\)"
    ):
        migrate_rows(rows, versions["1.0.0"], broken)


def test_migrations_only_go_forward(versions: Any, rows: Any) -> None:
    with pytest.raises(DataError, match="migrations only go forward"):
        migrate_rows(rows, versions["1.2.0"], versions["1.0.0"])


def test_diff_counts_what_each_change_does_to_existing_annotations(versions: Any, rows: Any) -> None:
    result = diff_taxonomies(versions["1.0.0"], versions["1.2.0"], rows).to_json()
    assert result["errors"] == []
    assert result["annotations"] == {"total": 4, "changed": 4, "needs_reannotation": 2}
    counts = {c["change"].split(": ", 1)[1]: c["annotations"] for c in result["changes"]}
    assert counts["retire topic 'economic_aid'"] == 1
    assert counts["merge topics 'weapons_development', 'nuclear_programme' -> 'weapons_programmes'"] == 1
    assert counts["split stance value 'neutral' -> 'balanced', 'descriptive' (needs re-annotation)"] == 2
    assert (
        result["display_changes"]
        == ["topic 'weapons_programmes': 'Weapons development and testing' -> 'Weapons programmes'"]
        or "topic" in result["display_changes"][0]
    )


def test_cli_diff_shows_the_plan_and_fails_on_an_unmapped_removal(capsys: pytest.CaptureFixture[str]) -> None:
    old, new = str(DATA / "v1.0.0.yaml"), str(DATA / "v1.1.0.yaml")
    assert main(["taxonomy", "diff", old, new, "--annotations", str(ROWS)]) == 0
    out = capsys.readouterr().out
    assert "  1.0.0 -> 1.1.0: retire topic 'economic_aid'  (1 annotations)\n" in out
    assert out.endswith("annotations: 4 total, 4 changed, 1 need re-annotation\n")

    bad = str(DATA / "v1.1.0-unmapped.yaml")
    assert main(["taxonomy", "diff", old, bad, "--annotations", str(ROWS), "--format", "json"]) == 1
    report = json.loads(capsys.readouterr().out)
    assert report["unmapped_removals"] == ["topic 'economic_aid'"]
    assert "removes topic 'economic_aid'" in report["errors"][0]
