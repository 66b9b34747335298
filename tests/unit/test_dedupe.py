"""The dedupe record: `validate --dedupe` writes it, every run checks and honours it."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from corpuskit.cli.main import main
from corpuskit.errors import UsageError
from corpuskit.settings import load_settings
from corpuskit.validation.api import iter_valid_documents, validate

DEDUPED = Path(__file__).parents[1] / "data" / "valid" / "deduped"


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """The `deduped` corpus without its record: two copies of a story, a rewrite of it, another story."""
    folder = tmp_path / "corpus"
    shutil.copytree(DEDUPED, folder)
    (folder / "dedupe.jsonl").unlink()
    monkeypatch.chdir(folder)
    return folder


def _record(folder: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in (folder / "dedupe.jsonl").read_text(encoding="utf-8").splitlines()]


def test_dedupe_keeps_the_earliest_and_push_and_release_read_the_rest(
    corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["validate", "--no-cache"]) == 1  # the identical copy is an error until decided
    capsys.readouterr()
    assert main(["validate", "--no-cache", "--dedupe"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        "4 files, 4 documents: 4 valid, 0 invalid; 0 errors, 0 warnings; 2 left out by dedupe.jsonl (written)"
    )
    record = _record(corpus)
    # flood-wire was published at 07:38, its two copies at 09:10.
    assert [(r["decision"], r["id"], r["why"], r["match"]) for r in record] == [
        ("kept", "flood-wire", "earliest published_at", None),
        ("left-out", "flood-afp", None, "identical"),
        ("left-out", "flood-copy", None, "identical"),
    ]
    assert {r["cluster"] for r in record} == {"flood-wire"}
    assert record[1]["file"] == "raw/flood-afp.txt" and record[1]["line"] == 1
    result = validate(cache=False)
    assert [item["id"] for item in result.left_out] == ["flood-afp", "flood-copy"]
    kept = [doc["id"] for doc in iter_valid_documents(settings=load_settings(), result=result)]
    assert kept == ["flood-wire", "rates"]
    # A second run changes nothing: the file is the same bytes.
    before = (corpus / "dedupe.jsonl").read_bytes()
    assert validate(cache=False, dedupe=True).dedupe_written is False
    assert (corpus / "dedupe.jsonl").read_bytes() == before


def test_a_kept_member_stays_kept_when_an_earlier_copy_turns_up(corpus: Path) -> None:
    validate(cache=False, dedupe=True)
    text = (corpus / "raw" / "flood-copy.txt").read_text(encoding="utf-8")
    (corpus / "raw" / "flood-early.txt").write_text(
        text.replace("09:10 | 29 October 2024", "05:00 | 29 October 2024"), encoding="utf-8"
    )
    validate(cache=False, dedupe=True)
    record = _record(corpus)
    assert (record[0]["id"], record[0]["why"]) == ("flood-wire", "earlier record")
    assert [r["id"] for r in record[1:]] == ["flood-afp", "flood-copy", "flood-early"]


def test_a_maintainer_may_choose_another_member_in_the_record(corpus: Path) -> None:
    validate(cache=False, dedupe=True)
    rows = _record(corpus)
    rows[0]["decision"], rows[1]["decision"] = "left-out", "kept"
    (corpus / "dedupe.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    result = validate(cache=False)
    assert result.ok and [item["id"] for item in result.left_out] == ["flood-copy", "flood-wire"]
    validate(cache=False, dedupe=True)
    assert _record(corpus)[0]["id"] == "flood-afp"


def test_dedupe_needs_the_whole_corpus(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(UsageError, match="whole corpus"):
        validate(["raw/rates.txt"], cache=False, dedupe=True)
    assert main(["validate", "--no-cache", "--dedupe", "raw"]) == 2
    assert "--dedupe decides over the whole corpus" in capsys.readouterr().err


def test_the_setting_writes_the_record_on_whole_runs_only(corpus: Path) -> None:
    (corpus / "pyproject.toml").write_text('[tool.corpuskit]\nraw = "raw"\ndedupe = true\n', encoding="utf-8")
    validate(["raw"], settings=load_settings(), cache=False, dedupe=None)
    assert not (corpus / "dedupe.jsonl").exists()
    assert validate(settings=load_settings(), cache=False, dedupe=None).dedupe_written
    assert len(_record(corpus)) == 3


def test_an_empty_record_removes_the_file(corpus: Path) -> None:
    validate(cache=False, dedupe=True)
    (corpus / "raw" / "flood-copy.txt").unlink()
    (corpus / "raw" / "flood-afp.txt").unlink()
    (corpus / "raw" / "flood-wire.txt").unlink()
    result = validate(cache=False)
    assert not result.ok  # the record names files that are gone
    assert validate(cache=False, dedupe=True).ok
    assert not (corpus / "dedupe.jsonl").exists()


def test_an_edited_record_checks_the_whole_corpus_in_the_hook_and_ci(corpus: Path) -> None:
    from corpuskit.validation.inputs import full_check_reason, watched

    settings = load_settings()
    assert "dedupe.jsonl" in watched(settings).inputs
    assert "dedupe\\.jsonl$" in watched(settings).hook_files()
    changed = {str((corpus / "dedupe.jsonl").resolve())}
    assert full_check_reason(changed, settings, "in the staged files") == (
        "dedupe.jsonl changed in the staged files"
    )


@pytest.mark.parametrize("kept", ["flood-wire", "flood-copy", "flood-afp"])
def test_documents_handed_over_as_they_pass_follow_the_record(corpus: Path, kept: str) -> None:
    """A first push imports each document as soon as validation passes it: the record's left-out
    copies are never handed over, and the member it keeps is, even after a copy it leaves out."""
    validate(cache=False, dedupe=True)
    rows = [{**r, "decision": "kept" if r["id"] == kept else "left-out"} for r in _record(corpus)]
    (corpus / "dedupe.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    handed: list[str] = []
    result = validate(cache=False, on_valid=lambda d: handed.append(d["id"]))
    assert result.ok
    assert handed == [doc["id"] for doc in iter_valid_documents(settings=load_settings(), result=result)]
    assert kept in handed and len([h for h in handed if h.startswith("flood")]) == 1


def test_documents_are_handed_over_at_the_end_when_the_record_is_written_anew(corpus: Path) -> None:
    (corpus / "pyproject.toml").write_text('[tool.corpuskit]\nraw = "raw"\ndedupe = true\n', encoding="utf-8")
    handed: list[str] = []
    result = validate(
        settings=load_settings(), cache=False, dedupe=None, on_valid=lambda d: handed.append(d["id"])
    )
    assert result.dedupe_written and result.ok
    assert handed == ["flood-wire", "rates"]
