"""A pull writes each task's rows as they arrive (`write_stream` into a `SnapshotWriter`): the
snapshot is byte for byte the one the whole-export path writes (`convert_stream`, `add_emails`,
`mark_prelabels`, `write_snapshot`), whether the export comes in document order or not (spilled
runs, merged), and a failed export leaves the folder as it was."""

from __future__ import annotations

import json
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corpuskit.errors import DataError
from corpuskit.snapshot import TABLES, SnapshotWriter, read_meta, write_snapshot
from corpuskit.studio import loop
from corpuskit.studio.export_rows import Mapper
from corpuskit.studio.pull import (
    PrelabelMarks,
    UserEmails,
    _summarise,
    add_emails,
    convert_stream,
    mark_prelabels,
    taxonomy_mapper,
    write_stream,
)
from corpuskit.taxonomy import load_taxonomy

ROOT = Path(__file__).resolve().parents[2]
REAL = ROOT / "tests" / "data" / "label-studio-exports"
EXPORTS = sorted(
    [
        *(ROOT / "tests" / "data" / "pull").glob("*export*.json"),
        *REAL.glob("*.json"),
        *(REAL / "handwritten").glob("*.json"),
        *(REAL / "recorded").glob("*.json"),
    ]
)
# A labelled prediction that `suggest` did not push makes later annotations on its task unknown.
HISTORY = [
    loop.Event("2000-01-01T00:00:00Z", "suggest", loop.LoopState("uncertainty", "hidden", "ours")),
]
INFO = {
    "id": 1,
    "title": "stream",
    "sampling": "Uncertainty sampling",
    "show_collab_predictions": False,
    "model_version": "ours",
}


@pytest.fixture(scope="module")
def mapper() -> Mapper:
    return taxonomy_mapper(load_taxonomy(ROOT / "schema" / "taxonomy.yaml"))


def _tasks(path: Path) -> list[Any]:
    export = json.loads(path.read_text(encoding="utf-8"))
    return export if isinstance(export, list) else [export]


def _chunks(tasks: list[Any], size: int = 4096) -> Iterator[bytes]:
    # Label Studio's layout: one line, Python's default separators.
    body = json.dumps(tasks).encode()
    return iter([body[i : i + size] for i in range(0, len(body), size)])


def _users(tasks: list[Any]) -> list[dict[str, Any]]:
    """A user list naming every annotator id the export holds."""
    ids: set[int] = set()
    for task in tasks:
        for key in ("annotations", "drafts"):
            for item in task.get(key) or []:
                if isinstance(item, dict):
                    who = item.get("completed_by", item.get("user"))
                    if isinstance(who, int) and not isinstance(who, bool):
                        ids.add(who)
    return [{"id": user_id, "email": f"user-{user_id}@example.org"} for user_id in sorted(ids)]


def _whole(tasks: list[Any], mapper: Mapper, folder: Path) -> dict[str, Any]:
    """The whole-export path: every row held, sorted, then written."""
    tables = convert_stream(_chunks(tasks), mapper)
    add_emails(None, tables, _users(tasks))  # type: ignore[arg-type]
    meta = {"project_id": 1, "exported_at": "2026-11-30T00:00:00Z"}
    meta["loop"] = mark_prelabels(tables, INFO, HISTORY)
    result = _summarise(folder, tables, write_snapshot(folder, tables.by_table(), meta), meta)
    return {
        "counts": result.counts,
        "annotators": result.annotators,
        "cancelled": result.cancelled,
        "ground_truth": result.ground_truth,
        "problems": result.problems,
    }


def _streamed(tasks: list[Any], mapper: Mapper, folder: Path, run_rows: int) -> dict[str, Any]:
    writer = SnapshotWriter(folder, run_rows=run_rows)
    marks = PrelabelMarks(INFO, HISTORY)
    emails = UserEmails(None, _users(tasks))  # type: ignore[arg-type]
    kept = write_stream(_chunks(tasks), mapper, writer, emails=emails, marks=marks)
    writer.commit({"project_id": 1, "exported_at": "2026-11-30T00:00:00Z", "loop": marks.summary()})
    return {
        "counts": kept.counts,
        "annotators": len(kept.annotators),
        "cancelled": kept.cancelled,
        "ground_truth": kept.ground_truth,
        "problems": kept.problems,
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(folder.iterdir())}


def _assert_same(tasks: list[Any], mapper: Mapper, tmp_path: Path, run_rows: int) -> None:
    want = _whole(tasks, mapper, tmp_path / "whole")
    got = _streamed(tasks, mapper, tmp_path / "streamed", run_rows)
    assert got == want
    assert _files(tmp_path / "streamed") == _files(tmp_path / "whole")
    assert not [p.name for p in tmp_path.iterdir() if p.name.startswith(".")]  # no staging left


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.name)
def test_streamed_snapshot_is_the_whole_export_snapshot(path: Path, mapper: Mapper, tmp_path: Path) -> None:
    _assert_same(_tasks(path), mapper, tmp_path, run_rows=8192)


@pytest.mark.parametrize("run_rows", [1, 2, 3])
@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: p.name)
def test_out_of_order_export_spills_runs_and_merges_to_the_same_bytes(
    path: Path, run_rows: int, mapper: Mapper, tmp_path: Path
) -> None:
    tasks = _tasks(path)
    random.Random(len(tasks) * 7 + run_rows).shuffle(tasks)
    tasks.reverse()  # documents, ids and positions against the snapshot's order
    _assert_same(tasks, mapper, tmp_path, run_rows)


def test_many_documents_in_reverse_order_merge_from_many_runs(mapper: Mapper, tmp_path: Path) -> None:
    template = _tasks(ROOT / "tests" / "data" / "pull" / "synthetic_export.json")
    tasks = []
    for number in range(60):
        task = json.loads(json.dumps(template[number % len(template)]))
        task["id"] = 1000 - number
        if isinstance(task.get("data"), dict) and "doc_id" in task["data"]:
            task["data"]["doc_id"] = f"doc-{number % 23:03d}"  # documents in several tasks
        tasks.append(task)
    _assert_same(tasks, mapper, tmp_path, run_rows=4)
    meta = read_meta(tmp_path / "streamed")
    assert meta["counts"]["tasks"] == 60


def test_a_truncated_export_leaves_the_folder_as_it_was(mapper: Mapper, tmp_path: Path) -> None:
    tasks = _tasks(REAL / "recorded" / "export-snapshot.json")
    folder = tmp_path / "annotations"
    _whole(tasks, mapper, folder)
    before = _files(folder)
    body = json.dumps(tasks).encode()
    writer = SnapshotWriter(folder, run_rows=2)
    with pytest.raises(DataError, match="truncated"), writer:
        write_stream(iter([body[: len(body) // 2]]), mapper, writer)
    assert _files(folder) == before
    assert [p.name for p in tmp_path.iterdir()] == ["annotations"]


def test_a_document_table_key_must_start_with_the_document(tmp_path: Path) -> None:
    writer = SnapshotWriter(tmp_path / "annotations")
    try:
        with pytest.raises(ValueError, match="document_id"):
            writer.add("tasks", (1,), {"document_id": "doc-1"})
        writer.add("tasks", ("doc-1", 1), {"document_id": "doc-1"})
        writer.add("problems", ("", 1), {"code": "x"})
        assert writer.commit({"project_id": None})
    finally:
        writer.discard()
    assert read_meta(tmp_path / "annotations")["counts"] == {table: 0 for table in TABLES} | {
        "tasks": 1,
        "problems": 1,
    }
