"""A synthetic snapshot with every case the quality rules know, and its agreement, gold and check
outputs as the in-memory implementation computed them (`tests/data/quality/pinned-*.json`).

The streaming implementation must give the same figures on the same snapshot, to the last digit:
`tests/unit/test_quality_streaming.py` compares them. Regenerate the expected files only when a
figure is meant to change: `.venv/bin/python tests/support/pinned_quality.py`.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

TESTS = Path(__file__).resolve().parents[1]
EXPECTED = TESTS / "data" / "quality"
NAMES = ("agreement", "gold", "check")


def snapshot_rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Annotation rows, task rows and adjudication rows: four annotators of varying accuracy and
    coverage, cancelled answers, superseded answers, ground truth, an unknown stance value, a
    missing stance value, a missing topic list, an annotator known by e-mail only, pilot documents,
    documents only cancelled answers reached, and documents in two languages."""
    from support.synthetic import TARGETS, generate_rows

    rows = generate_rows(140, (0.9, 0.8, 0.6, 0.75), coverage=0.7, cancel_rate=0.05, seed=11).rows
    extra: list[dict[str, Any]] = []
    next_id = 10_000
    for number, row in enumerate(rows):
        if row["was_cancelled"]:
            continue
        if number % 17 == 0:  # the same annotator answered again later: the first is superseded
            next_id += 1
            again = {**row, "annotation_id": next_id, "updated_at": "2024-11-03T09:00:00Z"}
            again["stance"] = {**row["stance"], TARGETS[0]: "neutral"}
            extra.append(again)
        if number % 23 == 0:
            row["ground_truth"] = True
        if number % 29 == 0:
            row["stance"] = {**row["stance"], TARGETS[1]: "maybe"}  # not a taxonomy value
        if number % 31 == 0:
            row["stance"] = {**row["stance"], TARGETS[0]: None}
        if number % 37 == 0:
            row["topics"] = None
        if number % 41 == 0:
            row["annotator"] = {"id": None, "email": "Guest@Example.org"}
        if row["document_id"] < "doc_0010":
            row["pilot"] = True
    rows += extra
    rows.append({**rows[0], "document_id": "doc_9999", "annotation_id": 99_999, "was_cancelled": True})
    rows.sort(key=lambda r: (r["document_id"], r["annotation_id"]))
    documents = sorted({r["document_id"] for r in rows})
    tasks = [
        {
            "document_id": d,
            "task_id": i + 1,
            "content_sha256": "0" * 64,
            "taxonomy_version": "1.0.0",
            "data": {"doc_id": d} | ({"language": "ar" if i % 4 == 0 else "en"} if i % 9 else {}),
            "meta": {},
            "extra": {},
        }
        for i, d in enumerate(documents)
    ]
    adjudications = [
        {
            "document_id": d,
            "stance": {TARGETS[0]: "against", TARGETS[1]: None},
            "topics": ["sanctions_un_resolutions"],
            "updated_at": "2024-11-04T00:00:00Z",
        }
        for d in documents[5:60:11]
    ]
    return rows, tasks, adjudications


def write_corpus(root: Path) -> Path:
    """The corpus folder (settings and the snapshot with its adjudications); the snapshot's path."""
    from corpuskit.snapshot import ADJUDICATIONS_FILE, write_jsonl, write_snapshot

    rows, tasks, adjudications = snapshot_rows()
    (root / "pyproject.toml").write_text("[tool.corpuskit]\nmin_annotators = 2\n", encoding="utf-8")
    folder = root / "annotations"
    write_snapshot(
        folder, {"annotations": rows, "tasks": tasks}, {"project_id": 1, "taxonomy_version": "1.0.0"}
    )
    write_jsonl(folder / ADJUDICATIONS_FILE, adjudications)
    return folder


def outputs(folder: Path) -> dict[str, Any]:
    """agreement (1,000 draws, seed 0), gold and the gate's check of the snapshot, as JSON values."""
    from corpuskit.quality.agreement import agreement
    from corpuskit.quality.check import check_gold
    from corpuskit.quality.gold import gold
    from support.synthetic import SyntheticTaxonomy

    taxonomy = SyntheticTaxonomy()
    result = agreement(folder, taxonomy=taxonomy, draws=1000, seed=0).to_json()
    result["source"] = "annotations/annotations.jsonl"  # the path differs from run to run
    return {
        "agreement": result,
        "gold": [row.to_json() for row in gold(folder, taxonomy=taxonomy).rows],
        "check": check_gold(folder, taxonomy=taxonomy, min_alpha=0.667).to_json(),
    }


def main() -> int:
    import os
    import tempfile

    sys.path.insert(0, str(TESTS))
    with tempfile.TemporaryDirectory() as tmp:
        os.chdir(tmp)
        found = outputs(write_corpus(Path(tmp)))
    for name in NAMES:
        path = EXPECTED / f"pinned-{name}.json"
        path.write_text(json.dumps(found[name], indent=1, sort_keys=True) + "\n", encoding="utf-8")
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
