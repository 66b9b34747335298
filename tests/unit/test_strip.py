"""`--strip` / `strip_boilerplate`: page furniture dropped on reading and recorded in the document."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import pytest

from corpuskit.cli.main import main
from corpuskit.documents.model import body_text, content_sha256
from corpuskit.documents.reader import SourceRecord, read_file
from corpuskit.documents.rendertext import RenderError, render_raw_text
from corpuskit.release.tables import document_row
from corpuskit.settings import load_settings
from corpuskit.studio.push.plan import task_data
from corpuskit.validation.api import iter_valid_documents, validate

FURNITURE = Path(__file__).parents[1] / "data" / "languages" / "furniture.txt"


def _document(strip: bool) -> dict[str, Any]:
    items = list(read_file(FURNITURE, root=FURNITURE.parent, strip=strip))
    assert all(isinstance(item, SourceRecord) for item in items) is strip  # no warnings when stripped
    return next(item for item in items if isinstance(item, SourceRecord)).document


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    (tmp_path / "pyproject.toml").write_text('[tool.corpuskit]\nraw = "raw"\n', encoding="utf-8")
    (tmp_path / "raw").mkdir()
    shutil.copy(FURNITURE, tmp_path / "raw" / "furniture.txt")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_stripped_lines_leave_the_text_and_are_recorded_with_their_line_and_rule() -> None:
    kept, stripped = _document(strip=False), _document(strip=True)
    assert "removed_lines" not in kept
    assert stripped["removed_lines"] == [
        {"line": 6, "text": "Advertisement", "rule": "en: advertisement"},
        {"line": 7, "text": "Scroll down for video", "rule": "en: scroll down for (the )?video"},
        {"line": 9, "text": "Share this article", "rule": "en: share( this)?( article| story)?"},
    ]
    assert [p["text"] for p in stripped["paragraphs"]] == [
        "Rivers burst their banks overnight after three days of heavy rain, officials said.",
        "Schools in four districts will stay closed until Wednesday, the education ministry said.",
    ]
    # The stripped text is the text: its hash and the offsets of spans into it.
    text = body_text(stripped)
    assert "Advertisement" not in text and stripped["content_sha256"] == content_sha256(stripped)
    assert stripped["content_sha256"] != kept["content_sha256"]
    start = text.index("Schools in four districts")
    assert text[start : start + 7] == "Schools"


def test_removed_lines_travel_into_task_data_and_the_release_columns() -> None:
    stripped, kept = _document(strip=True), _document(strip=False)
    data = task_data(stripped, "1.0.0")
    assert data["removed_lines"] == stripped["removed_lines"] and data["text"] == body_text(stripped)
    assert "removed_lines" not in task_data(kept, "1.0.0")  # a corpus that strips nothing keeps its tasks
    row = document_row(stripped)
    assert [r["line"] for r in row["removed_lines"]] == [6, 7, 9] and row["text"] == body_text(stripped)
    with pytest.raises(RenderError, match="removed_lines"):
        render_raw_text(stripped)


def test_validate_strip_counts_stripped_lines_per_file(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--no-cache"]) == 0
    err = capsys.readouterr().err.splitlines()
    assert [line.split(": warning: ")[0] for line in err[:-1]] == [
        "raw/furniture.txt:6",
        "raw/furniture.txt:7",
        "raw/furniture.txt:9",
    ]
    assert main(["validate", "--no-cache", "--strip"]) == 0
    assert capsys.readouterr().err.splitlines() == [
        "raw/furniture.txt: 3 boilerplate lines stripped",
        "1 file, 1 document: 1 valid, 0 invalid; 0 errors, 0 warnings",
    ]
    assert main(["validate", "--no-cache", "--strip", "--format", "json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["summary"]["stripped"] == {"raw/furniture.txt": 3} and report["diagnostics"] == []


def test_the_setting_strips_for_every_reader_of_the_corpus(corpus: Path) -> None:
    (corpus / "pyproject.toml").write_text(
        '[tool.corpuskit]\nraw = "raw"\nstrip_boilerplate = true\n', encoding="utf-8"
    )
    settings = load_settings()
    result = validate(settings=settings, cache=False)
    assert result.strip and result.stripped == {"raw/furniture.txt": 3}
    (document,) = iter_valid_documents(settings=settings, result=result)
    assert len(document["removed_lines"]) == 3
    # Read again without the kept documents (as release does): the same stripped document.
    again = validate(settings=settings, cache=False)
    assert list(iter_valid_documents(settings=settings, result=again)) == [document]
