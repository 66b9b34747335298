"""The snapshot folder: sorted JSONL, snapshot.json, atomic swaps, and `corpuskit pull --from-export`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corpuskit import snapshot as snap
from corpuskit.cli.main import main
from corpuskit.errors import DataError, UsageError
from corpuskit.studio.pull import pull

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "tests" / "data" / "pull" / "synthetic_export.json"
REAL = ROOT / "tests" / "data" / "label-studio-exports"


def _files(folder: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(folder.iterdir())}


def test_from_export_writes_sorted_jsonl_and_metadata(tmp_path: Path) -> None:
    out = tmp_path / "annotations"
    result = pull(from_export=SYNTHETIC, out=out)
    assert result.changed
    assert sorted(p.name for p in out.iterdir()) == [
        "annotations.jsonl",
        "drafts.jsonl",
        "predictions.jsonl",
        "problems.jsonl",
        "snapshot.json",
        "tasks.jsonl",
    ]
    lines = (out / "annotations.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 3
    for line in lines:
        row = json.loads(line)
        assert line == json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    meta = json.loads((out / "snapshot.json").read_text(encoding="utf-8"))
    assert meta["complete"] is True
    assert meta["counts"] == {"annotations": 3, "drafts": 1, "predictions": 1, "problems": 4, "tasks": 3}
    assert (meta["project_id"], meta["server"], meta["source"]) == (None, None, "synthetic_export.json")
    assert meta["taxonomy_version"] == "1.0.0"
    read = snap.read_snapshot(out)
    assert [r["annotation_id"] for r in read.annotations] == [100, 101, 102]
    assert read.tables["annotations"] == [json.loads(line) for line in lines]
    assert result.summary() == {
        "folder": str(out),
        "changed": True,
        "unchanged_since": None,
        "tasks": 3,
        "annotations": 3,
        "annotators": 3,
        "cancelled": 1,
        "ground_truth": 1,
        "drafts": 1,
        "predictions": 1,
        "problems": 4,
        "prelabels": None,  # an export file says nothing of what annotators saw
    }


def test_repull_keeps_every_byte_and_other_files_survive(tmp_path: Path) -> None:
    out = tmp_path / "annotations"
    pull(from_export=SYNTHETIC, out=out)
    (out / "gold.jsonl").write_text('{"document_id": "doc-a"}\n', encoding="utf-8")
    before = _files(out)
    assert pull(from_export=SYNTHETIC, out=out).changed is False
    assert _files(out) == before
    # A changed export replaces the tables and carries the foreign file over.
    pull(from_export=REAL / "yolo_data.json", out=out)
    after = _files(out)
    assert after["gold.jsonl"] == before["gold.jsonl"]
    assert after["annotations.jsonl"] == b""
    assert json.loads(after["snapshot.json"])["counts"]["tasks"] == 2


def test_failed_pull_leaves_previous_snapshot(tmp_path: Path) -> None:
    out = tmp_path / "annotations"
    pull(from_export=SYNTHETIC, out=out)
    before = _files(out)
    truncated = tmp_path / "cut.json"
    truncated.write_bytes(SYNTHETIC.read_bytes()[:500])
    with pytest.raises(DataError, match="not a valid JSON export"):
        pull(from_export=truncated, out=out)
    assert _files(out) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["annotations", "cut.json"]


def test_a_crash_between_renames_is_recovered(tmp_path: Path) -> None:
    out = tmp_path / "annotations"
    pull(from_export=SYNTHETIC, out=out)
    before = _files(out)
    out.rename(tmp_path / ".annotations.old")  # the state after the first of the two fallback renames
    assert [r["annotation_id"] for r in snap.read_snapshot(out).annotations] == [100, 101, 102]
    assert _files(out) == before


def test_tampered_or_incomplete_snapshots_are_refused(tmp_path: Path) -> None:
    out = tmp_path / "annotations"
    with pytest.raises(UsageError, match="no snapshot here"):
        snap.read_snapshot(out)
    pull(from_export=SYNTHETIC, out=out)
    with (out / "drafts.jsonl").open("a", encoding="utf-8") as fh:
        fh.write("{}\n")
    with pytest.raises(DataError, match=r"drafts.jsonl: does not match the SHA-256"):
        snap.read_snapshot(out)
    meta = json.loads((out / "snapshot.json").read_text(encoding="utf-8"))
    meta["complete"] = False
    (out / "snapshot.json").write_text(json.dumps(meta), encoding="utf-8")
    with pytest.raises(DataError, match="not marked complete"):
        snap.read_snapshot(out)


def test_cli_from_export_json_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "annotations"
    code = main(["pull", "--from-export", str(SYNTHETIC), "--out", str(out), "--format", "json"])
    captured = capsys.readouterr()
    assert code == 0
    assert json.loads(captured.out) == {
        "folder": str(out),
        "changed": True,
        "unchanged_since": None,
        "tasks": 3,
        "annotations": 3,
        "annotators": 3,
        "cancelled": 1,
        "ground_truth": 1,
        "drafts": 1,
        "predictions": 1,
        "problems": 4,
        "prelabels": None,
    }
    assert captured.err == ""


def test_cli_from_export_text_summary_on_stdout(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "annotations"
    assert main(["pull", "--from-export", str(SYNTHETIC), "--out", str(out)]) == 0
    captured = capsys.readouterr()
    assert captured.out == (
        "pull: 3 tasks, 3 annotations by 3 annotators (1 cancelled, 1 ground truth), 1 drafts, "
        f"1 predictions, 4 problems; snapshot written in {out}\n"
    )
    assert captured.err == ""


def test_cli_bad_export_exits_1(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text("[{", encoding="utf-8")
    assert main(["pull", "--from-export", str(bad), "--out", str(tmp_path / "a")]) == 1
    assert capsys.readouterr().err.startswith(f"corpuskit: error: {bad}: not a valid JSON export")
    assert main(["pull", "--from-export", str(tmp_path / "missing.json"), "--out", str(tmp_path / "a")]) == 2


def test_the_snapshot_records_the_server_without_credentials_in_its_url() -> None:
    from corpuskit.studio.pull import _public_url

    assert (
        _public_url("https://alice:s3cret@annotate.example.org:8443/ls")
        == "https://annotate.example.org:8443/ls"
    )
    assert _public_url("http://127.0.0.1:8080") == "http://127.0.0.1:8080"


def test_the_pull_record_spares_an_export_only_when_everything_matches(tmp_path: Path) -> None:
    """`_same_as_last` (no server: the summary is given) keeps the last snapshot only for the same
    server, project, folder, inputs and summary, and only while its tables match their hashes."""
    from corpuskit.studio import pull_state
    from corpuskit.studio.pull import PullResult, _same_as_last

    out = tmp_path / "annotations"
    rows = {"annotations": [{"document_id": "doc-a", "annotation_id": 1}], "problems": []}
    snap.write_snapshot(
        out, rows, {"project_id": 7, "server": "http://127.0.0.1:8080", "exported_at": "then"}
    )
    summary = {"tasks": 1, "latest_update": "2026-11-30T08:00:00.000000Z", "drafts": "d", "users": "u"}
    record = tmp_path / ".corpuskit" / "pull-state" / "127.0.0.1-8080-7.json"
    state = pull_state.PullState(
        server="http://127.0.0.1:8080",
        project_id=7,
        folder=str(out.resolve()),
        files=dict(snap.read_meta(out)["files"]),
        inputs="i",
        summary=summary,
        annotators=1,
        cancelled=0,
        ground_truth=0,
    )
    pull_state.save_state(record, state)
    assert pull_state.load_state(record) == state

    def same(**changes: Any) -> PullResult | None:
        given: dict[str, Any] = {
            "server": "http://127.0.0.1:8080",
            "project_id": 7,
            "folder": out,
            "inputs": "i",
            "summary": summary,
        } | changes
        return _same_as_last(record, **given)

    kept = same()
    assert kept is not None and kept.unchanged_since == "then" and not kept.changed
    assert kept.counts["annotations"] == 1 and kept.annotators == 1
    assert same(summary=summary | {"latest_update": "2026-11-30T08:00:01.000000Z"}) is None
    assert same(summary=None) is None  # too many drafts to summarise
    assert same(inputs="another taxonomy") is None
    assert same(project_id=8) is None
    assert same(folder=tmp_path / "elsewhere") is None
    (out / "annotations.jsonl").write_text("", encoding="utf-8")
    assert same() is None
    record.write_text("{", encoding="utf-8")
    assert pull_state.load_state(record) is None
