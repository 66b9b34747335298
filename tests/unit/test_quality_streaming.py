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
