"""Ids and names that try to leave their folder are refused before anything is written.

corpuskit never makes a file name out of a document id (snapshots and releases use fixed names), and
the schema refuses ids that are not safe as a file name (`docs/validation.md`, `invalid-id`), so that
tools downstream that do write one file per document stay inside their folder. These tests send
escaping ids in through every door: JSONL and JSON records, raw file names, a Label Studio task
that corpuskit did not push, a snapshot row, and the release version.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from corpuskit.errors import ReleaseError, UsageError
from corpuskit.settings import Settings, load_settings
from corpuskit.validation.api import validate
from support.escaping import count
from support.release_corpus import documents, make_corpus, write_snapshot
from support.reliability_log import reliability  # noqa: F401 (the fixture)

pytestmark = pytest.mark.usefixtures("reliability")


RECORD = {"title": "Title", "paragraphs": [{"heading": None, "text": "Body."}]}

# id -> the code validation reports for it at /id.
ESCAPING_IDS = {
    "../x": "invalid-id",
    "../../evil": "invalid-id",
    "..": "invalid-id",
    ".": "invalid-id",
    "a/../../b": "invalid-id",
    "/etc/passwd": "invalid-id",
    "/tmp/evil": "invalid-id",
    "a/b": "invalid-id",
    "a\\b": "invalid-id",
    "..\\..\\evil": "invalid-id",
    "C:evil": "invalid-id",
    "C:\\Windows\\evil": "invalid-id",
    "a\x00b": "invalid-id",
    "evil\x00.txt": "invalid-id",
    "x" * 129: "too-long",
    "x" * 5000: "too-long",
    "~/evil": "invalid-id",
    "-rf": "invalid-id",
    ".hidden": "invalid-id",
    "a..b": "invalid-id",
    "a b": "invalid-id",
    "a\nb": "invalid-id",
    "\u2024\u2024/evil": "invalid-id",  # ONE DOT LEADER, which some tools fold to '.'
    "%2e%2e%2fevil": "invalid-id",
    "": "empty",
}


def files_under(folder: Path) -> set[Path]:
    return {path for path in folder.rglob("*")}


def id_diagnostics(result: Any) -> list[Any]:
    return [d for d in result.diagnostics if d.pointer == "/id"]


@pytest.mark.parametrize("bad_id", list(ESCAPING_IDS), ids=lambda value: repr(value)[:40])
def test_an_escaping_id_in_a_jsonl_record_is_refused_on_its_line(tmp_path: Path, bad_id: str) -> None:
    raw = tmp_path / "raw"
    raw.mkdir()
    good = {"id": "fine", **RECORD}
    bad = {"id": bad_id, "title": "Other title", "paragraphs": [{"heading": None, "text": "Other."}]}
    (raw / "batch.jsonl").write_text(json.dumps(good) + "\n" + json.dumps(bad) + "\n", encoding="utf-8")
    result = validate([raw], settings=Settings(root=tmp_path), cache=False, workers=1)
    (diagnostic,) = id_diagnostics(result)
    assert diagnostic.code == ESCAPING_IDS[bad_id]
    assert (diagnostic.file, diagnostic.line) == (str(raw / "batch.jsonl"), 2)
    assert str(diagnostic).startswith(f"{raw / 'batch.jsonl'}:2:") and " id: " in str(diagnostic)
    assert result.valid == 1 and result.invalid == 1
    count("escaping ids refused")


@pytest.mark.parametrize("bad_id", ["../../evil", "/etc/passwd", "a\x00b", "x" * 200])
def test_an_escaping_id_in_a_json_file_is_refused(tmp_path: Path, bad_id: str) -> None:
    path = tmp_path / "record.json"
    path.write_text(json.dumps({"id": bad_id, **RECORD}, indent=2), encoding="utf-8")
    result = validate([path], settings=Settings(root=tmp_path), cache=False, workers=1)
    (diagnostic,) = id_diagnostics(result)
    assert diagnostic.code == ESCAPING_IDS.get(bad_id, "too-long")
    assert (diagnostic.file, diagnostic.line) == (str(path), 2)  # the line of "id" in the file
    count("escaping ids refused")


@pytest.mark.parametrize(
    "name",
    ["..evil.txt", "-rf.txt", "a b.txt", "x" * 200 + ".txt", "caf\u00e9.txt", "semi;colon.txt", "..txt"],
)
def test_a_raw_file_whose_name_is_not_a_safe_id_is_refused(tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    path.write_text("Title\nStandfirst.\n- Asia\nBody paragraph.\n", encoding="utf-8")
    result = validate([path], settings=Settings(root=tmp_path), cache=False, workers=1)
    (diagnostic,) = id_diagnostics(result)
    assert diagnostic.code in {"invalid-id", "too-long"}
    assert diagnostic.file == str(path) and diagnostic.line == 1
    assert result.valid == 0
    count("escaping ids refused")


def test_a_release_refuses_a_corpus_with_an_escaping_id_and_writes_nothing(tmp_path: Path) -> None:
    from corpuskit.release.api import release

    root = make_corpus(tmp_path / "corpus", extra=2)
    write_snapshot(root)
    evil = {"id": "../../evil", "title": "Evil", "paragraphs": [{"heading": None, "text": "Out."}]}
    (root / "raw" / "batch.jsonl").write_text(json.dumps(evil) + "\n", encoding="utf-8")
    before = files_under(tmp_path)
    with pytest.raises(ReleaseError, match=r"batch\.jsonl:1:.*\bid\b.*invalid-id"):
        release("1.0.0", settings=load_settings(root))
    created = files_under(tmp_path) - before
    # Nothing but validation's own cache: no release folder, no temporary build folder, no 'evil'.
    assert all(".corpuskit" in path.relative_to(root).parts for path in created), created
    assert not (root / "releases").exists() or not any((root / "releases").iterdir())
    assert not list(tmp_path.rglob("*evil*"))


def test_snapshot_and_release_writers_keep_escaping_ids_as_data(tmp_path: Path) -> None:
    """A snapshot row naming `../../evil` (a task someone else put on the server) is data, never a
    path: the snapshot and the release write only their own fixed file names, inside their folder."""
    from corpuskit.release.api import release

    root = make_corpus(tmp_path / "corpus", extra=2)
    docs = documents(root)
    intruder = dict(docs[0]) | {"id": "../../evil"}
    write_snapshot(root, [*docs, intruder])
    snapshot = root / "annotations"
    rows = [json.loads(line) for line in (snapshot / "annotations.jsonl").read_text().splitlines()]
    assert {row["document_id"] for row in rows} >= {"../../evil"}
    assert sorted(p.name for p in snapshot.iterdir()) == [
        "annotations.jsonl",
        "drafts.jsonl",
        "predictions.jsonl",
        "problems.jsonl",
        "snapshot.json",
        "tasks.jsonl",
    ]
    before = files_under(tmp_path)
    folder = release("1.0.0", settings=load_settings(root)).folder
    created = files_under(tmp_path) - before
    releases = root / "releases"
    for path in created:
        inside = path.resolve().is_relative_to(releases.resolve()) or ".corpuskit" in path.parts
        assert inside, path
    assert not list(tmp_path.rglob("*evil*"))
    assert folder.parent == releases
    names = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert all("evil" not in name and ".." not in name for name in names)
    # The stray rows are not in the corpus, so they are left out of the release (and counted in the card).
    import pyarrow.parquet as pq

    released_ids = {
        row["document_id"]
        for path in (folder / "data" / "annotations").glob("*.parquet")
        for row in pq.read_table(path, columns=["document_id"]).to_pylist()
    }
    assert released_ids == {doc["id"] for doc in docs}
    assert "3 annotations and" in (folder / "README.md").read_text(encoding="utf-8")


@pytest.mark.parametrize("version", ["../../evil", "1.0.0/../../x", "/tmp/x", "1.0", "v1.0.0\x00", ""])
def test_a_release_version_that_is_not_x_y_z_is_refused_before_any_write(
    tmp_path: Path, version: str
) -> None:
    from corpuskit.release.api import release

    root = make_corpus(tmp_path / "corpus", extra=1)
    write_snapshot(root)
    before = files_under(tmp_path)
    with pytest.raises((UsageError, ReleaseError), match="version"):
        release(version, settings=load_settings(root))
    created = files_under(tmp_path) - before
    assert all(".corpuskit" in p.parts for p in created), created
