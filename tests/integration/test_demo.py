"""`corpuskit demo` end to end on the session's real Label Studio: synthetic annotators, release, reload."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from corpuskit.cli.main import main
from corpuskit.demo import DEMO_ANNOTATORS, demo_answer
from corpuskit.settings import load_settings
from corpuskit.studio.server import StudioServer
from corpuskit.taxonomy import load_taxonomy

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.studio


def make_corpus(root: Path, studio_dir: Path) -> Path:
    root.mkdir(parents=True)
    for folder in ("schema", "raw"):
        shutil.copytree(REPO / folder, root / folder)
    (root / "docs").mkdir()
    shutil.copy(REPO / "docs" / "annotation-guidelines.md", root / "docs" / "annotation-guidelines.md")
    (root / "pyproject.toml").write_text(
        f'[tool.corpuskit]\nraw = "raw"\nstudio_dir = {json.dumps(str(studio_dir))}\n', encoding="utf-8"
    )
    return root


def test_demo_answers_are_deterministic_and_valid() -> None:
    taxonomy = load_taxonomy(REPO / "schema" / "taxonomy.yaml")
    text = "Russia and North Korea deepen military cooperation. Ukraine asks for weapons."
    first = [demo_answer("doc-1", text, n, taxonomy) for n in range(1, DEMO_ANNOTATORS + 1)]
    again = [demo_answer("doc-1", text, n, taxonomy) for n in range(1, DEMO_ANNOTATORS + 1)]
    assert first == again
    for stance, topics, spans in first:
        assert set(stance) == set(taxonomy.target_ids)
        assert set(stance.values()) <= set(taxonomy.stance_value_ids)
        assert set(topics) <= set(taxonomy.topic_ids)
        for span in spans:
            assert text[span["start"] : span["end"]] == span["text"]


def test_demo_runs_end_to_end_and_a_second_run_changes_nothing(
    tmp_path: Path,
    studio_server: StudioServer,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    root = make_corpus(tmp_path / "corpus", studio_server.data_dir)
    monkeypatch.chdir(root)

    assert main(["demo", "--quiet", "--format", "json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert first["synthetic"] is True
    assert first["documents"] == 2
    # Through the queue each document reaches k = 2 of the three accounts, never more.
    assert first["annotators_per_document"] == 2
    assert first["annotations"] == first["annotations_created"] == 2 * 2
    assert first["documents_by_annotators"] == {"2": 2}
    assert first["release_built"] is True
    release = Path(first["release"])
    assert release.parent == root / "demo" / "releases"
    assert not (root / "releases").exists() and not (root / "annotations").exists()
    assert sum(first["loaded_rows"].values()) == 2
    # Two documents are too few for the ratios: both sit in train, which loads on its own.
    assert first["loaded_rows"] == {"train": 2}
    # The model-in-the-loop step says in one line why it does not train on two documents.
    assert first["suggest"].startswith(
        "`corpuskit suggest` would not push a model trained here: only 2 labelled documents: "
    )
    import datasets

    assert datasets.load_dataset(str(release), "gold", split="train").num_rows == 2
    assert datasets.load_dataset(str(release), "stance", split="train").num_rows == 2 * 2

    # Demo data is marked as such wherever it lands.
    snapshot = root / "demo" / "annotations" / "annotations.jsonl"
    rows = [json.loads(line) for line in snapshot.read_text().splitlines()]
    emails = {row["annotator"]["email"] for row in rows}
    # The accounts take turns at the queue: the work is shared by all three (names may carry a
    # suffix when the session's server already has a demo account of that name).
    assert len(emails) == DEMO_ANNOTATORS
    assert all(e.startswith("demo-annotator-") and e.endswith("@example.org") for e in emails)
    for doc in {row["document_id"] for row in rows}:
        assert len({row["annotator"]["id"] for row in rows if row["document_id"] == doc}) == 2
    accounts = studio_server.data_dir / "demo-accounts.json"
    assert accounts.stat().st_mode & 0o777 == 0o600
    assert "Demo data" in (release / "README.md").read_text(encoding="utf-8")
    assert main(["publish", str(release), "--repo-id", "lab/demo", "--dry-run"]) == 0
    assert "holds annotations by demo accounts" in capsys.readouterr().err
    assert studio_server.token not in (release / "manifest.json").read_text(encoding="utf-8")

    before = {p: p.stat().st_mtime_ns for p in (root / "demo").rglob("*") if p.is_file()}
    assert main(["demo", "--quiet", "--format", "json"]) == 0
    second = json.loads(capsys.readouterr().out)
    assert second["annotations_created"] == 0
    assert second["annotations"] == first["annotations"]
    assert second["release_built"] is False
    assert second["release"] == first["release"]
    after = {p: p.stat().st_mtime_ns for p in (root / "demo").rglob("*") if p.is_file()}
    changed = sorted(str(p.relative_to(root)) for p in before if after.get(p) != before[p])
    # Only gold.jsonl is rewritten (with identical content); nothing else is touched.
    assert set(changed) <= {"demo/annotations/gold.jsonl"}
    assert load_settings(root).project_title is None
