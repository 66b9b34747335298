"""corpuskit.snapshot: the one definition of the snapshot folder (names, row types, writer, readers)."""

from __future__ import annotations

import ast
import json
import tracemalloc
import typing
from pathlib import Path

import pytest

from corpuskit import snapshot as snap
from corpuskit.errors import DataError
from corpuskit.quality.gold import compute_gold, read_adjudications, write_gold
from corpuskit.quality.ratings import build_ratings
from corpuskit.studio.pull import pull

ROOT = Path(__file__).resolve().parents[2]
SYNTHETIC = ROOT / "tests" / "data" / "pull" / "synthetic_export.json"
FILE_NAMES = {
    snap.META_FILE,
    snap.GOLD_FILE,
    snap.ADJUDICATIONS_FILE,
    *(snap.table_file(t) for t in snap.TABLES),
}


def _rows(n: int) -> list[dict[str, object]]:
    return [{"document_id": f"doc-{i:07d}", "annotation_id": i, "note": "x" * 200} for i in range(n)]


def test_pulled_rows_have_exactly_the_keys_of_their_row_type(tmp_path: Path) -> None:
    out = tmp_path / "annotations"
    pull(from_export=SYNTHETIC, out=out)
    read = snap.read_snapshot(out)
    for table, row_type in snap.ROW_TYPES.items():
        rows = read.tables[table]
        assert rows, table
        required, optional = set(row_type.__required_keys__), set(row_type.__optional_keys__)
        for row in rows:
            assert required <= set(row) <= required | optional, (table, set(row) ^ required)
    meta_type = snap.SnapshotMeta
    assert set(meta_type.__required_keys__) <= set(read.meta) <= set(typing.get_type_hints(meta_type))


def test_iter_table_streams_and_refuses_a_changed_table_after_its_rows(tmp_path: Path) -> None:
    folder = tmp_path / "annotations"
    snap.write_snapshot(folder, {"annotations": _rows(3)}, {"exported_at": "now"})
    assert [r["annotation_id"] for r in snap.iter_table(folder, "annotations")] == [0, 1, 2]
    path = folder / snap.ANNOTATIONS_FILE
    path.write_bytes(path.read_bytes().replace(b'"annotation_id":2', b'"annotation_id":7'))
    rows = snap.iter_table(folder, "annotations")
    assert next(rows)["annotation_id"] == 0  # rows arrive before the whole file was hashed
    assert next(rows)["annotation_id"] == 1
    assert next(rows)["annotation_id"] == 7
    with pytest.raises(DataError, match=r"annotations\.jsonl: does not match the SHA-256 in snapshot\.json"):
        next(rows)
    with pytest.raises(DataError, match=r"annotations\.jsonl: does not match the SHA-256"):
        snap.verify_tables(folder, ["annotations"])


def test_iter_table_names_file_and_line_of_a_broken_row(tmp_path: Path) -> None:
    folder = tmp_path / "annotations"
    snap.write_snapshot(folder, {"tasks": _rows(2)}, {"exported_at": "now"})
    path = folder / snap.TASKS_FILE
    path.write_bytes(path.read_bytes() + b"{not json\n")
    with pytest.raises(DataError, match=rf"{path}:3: not valid JSON"):
        list(snap.iter_table(folder, "tasks"))


def test_iter_table_holds_one_row_not_the_table(tmp_path: Path) -> None:
    folder = tmp_path / "annotations"
    snap.write_snapshot(folder, {"annotations": _rows(40_000)}, {"exported_at": "now"})
    size = (folder / snap.ANNOTATIONS_FILE).stat().st_size
    assert size > 10_000_000
    tracemalloc.start()
    try:
        count = sum(1 for _ in snap.iter_table(folder, "annotations"))
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 40_000
    assert peak < size / 20, f"peak {peak} bytes while streaming a {size}-byte table"


def test_gold_and_adjudications_use_the_snapshot_serialiser_and_old_files_still_read(
    tmp_path: Path,
) -> None:
    rows = [
        {"document_id": "d1", "annotator": {"id": i, "email": None}, "stance": {"t": "favor"}, "topics": []}
        for i in (1, 2)
    ]
    path = write_gold(compute_gold(build_ratings(rows)), tmp_path / snap.GOLD_FILE)
    lines = path.read_bytes().splitlines(keepends=True)
    assert lines == [snap.jsonl_line(json.loads(line)) for line in lines]
    old = tmp_path / snap.ADJUDICATIONS_FILE
    row = {"document_id": "d1", "stance": {"t": "against"}, "topics": ["é"], "updated_at": "2024-01-01"}
    # How corpuskit wrote it before: json.dumps with spaces and sorted keys.
    old.write_text(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n", encoding="utf-8")
    adjudication = read_adjudications(old)["d1"]
    assert (adjudication.stance, adjudication.topics) == ({"t": "against"}, frozenset({"é"}))
    snap.write_jsonl(old, [row])
    assert old.read_bytes() == snap.jsonl_bytes([row])
    assert read_adjudications(old)["d1"] == adjudication


def test_only_the_snapshot_package_spells_its_file_names() -> None:
    """A snapshot file name written as a string anywhere else in the library is a second home."""
    package = ROOT / "src" / "corpuskit"
    found = []
    for path in sorted(package.rglob("*.py")):
        if path.is_relative_to(package / "snapshot"):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Constant) and node.value in FILE_NAMES:
                found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.value!r}")
    assert found == []


def _resorted(folder: Path, key: typing.Callable[[bytes], object]) -> None:
    """Re-sort a written annotations table as another tool might, and record its new hash the way an
    older corpuskit did (without `sorted_by`), so that only the order is wrong."""
    table = folder / snap.ANNOTATIONS_FILE
    table.write_bytes(b"".join(sorted(table.read_bytes().splitlines(keepends=True), key=key)))
    meta = json.loads((folder / snap.META_FILE).read_text(encoding="utf-8"))
    meta["files"][snap.ANNOTATIONS_FILE] = snap.file_sha256(table)
    del meta["sorted_by"]
    (folder / snap.META_FILE).write_text(json.dumps(meta), encoding="utf-8")


def test_document_tables_are_written_in_document_order_and_read_one_document_at_a_time(
    tmp_path: Path,
) -> None:
    rows = [{"document_id": f"doc-{i // 3:03d}", "annotation_id": i, "note": None} for i in range(30)]
    snap.write_snapshot(tmp_path / "s", {"annotations": rows}, {"project_id": 1})
    assert snap.read_meta(tmp_path / "s")["sorted_by"] == snap.GROUP_KEY == "document_id"
    groups = list(snap.iter_groups(tmp_path / "s", "annotations"))
    assert [doc for doc, _ in groups] == [f"doc-{i:03d}" for i in range(10)]
    assert groups[4][1] == [(13, rows[12]), (14, rows[13]), (15, rows[14])]  # (line, row)
    with pytest.raises(ValueError, match="annotations row 2: document_id 'a' after 'b'"):
        snap.write_snapshot(tmp_path / "t", {"annotations": [{"document_id": "b"}, {"document_id": "a"}]}, {})
    assert not (tmp_path / "t").exists()


def test_a_table_out_of_document_order_is_refused_naming_file_and_line(tmp_path: Path) -> None:
    rows = [{"document_id": f"doc-{i:03d}", "annotation_id": i} for i in range(5)]
    snap.write_snapshot(tmp_path / "s", {"annotations": rows}, {"project_id": 1})
    _resorted(tmp_path / "s", key=lambda line: json.loads(line)["annotation_id"] % 2)
    # Lines now hold doc-000, doc-002, doc-004, doc-001, doc-003.
    with pytest.raises(DataError) as caught:
        list(snap.iter_groups(tmp_path / "s", "annotations"))
    message = str(caught.value)
    assert f"{snap.ANNOTATIONS_FILE}:4: document_id 'doc-001' comes after 'doc-004'" in message
    assert "corpuskit pull" in message
