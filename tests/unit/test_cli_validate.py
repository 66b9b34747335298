"""`corpuskit validate` on the command line: formats, exit codes, --changed-since, --strict,
the seeds in raw/, and the files that make it a pre-commit hook and a CI step."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from corpuskit.cli.main import main

REPO = Path(__file__).resolve().parents[2]
INVALID = Path(__file__).parents[1] / "data" / "invalid"


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", "--no-cache", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_the_seed_corpus_validates_clean(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    code, out, err = run(["raw/"], capsys)
    assert (code, out) == (0, "")
    assert err == "2 files, 2 documents: 2 valid, 0 invalid; 0 errors, 0 warnings\n"


def test_default_path_is_the_raw_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(REPO)
    code, _, err = run([], capsys)
    assert code == 0
    assert err.startswith("2 files, 2 documents")


def test_text_format(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(INVALID)
    code, out, err = run(["february-31.json"], capsys)
    assert (code, out) == (1, "")
    assert err == (
        "february-31.json:7: error: published_at: '2024-02-31T07:38:00' is not a real date [invalid-date]\n"
        "1 file, 1 document: 0 valid, 1 invalid; 1 error, 0 warnings\n"
    )


def test_quiet_drops_the_summary(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(INVALID)
    code, out, err = run(["--quiet", "february-31.json"], capsys)
    assert (code, out) == (1, "")
    assert err == "february-31.json:7: error: published_at: '2024-02-31T07:38:00' is not a real date" + (
        " [invalid-date]\n"
    )


def test_json_format(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(INVALID)
    code, out, err = run(["--format", "json", "february-31.json", "duplicate-keys.json"], capsys)
    assert (code, err) == (1, "")
    assert json.loads(out) == {
        "version": 1,
        "ok": False,
        "summary": {
            "files": 2,
            "documents": 2,
            "valid": 0,
            "invalid": 2,
            "errors": 2,
            "warnings": 0,
            "changed_files": None,
            "full_check": None,
            "languages": {},
            "clusters": 0,
            "left_out": 0,
            "dedupe_record": None,
            "dedupe_written": False,
            "stripped": {},
        },
        "diagnostics": [
            {
                "file": "duplicate-keys.json",
                "line": 4,
                "column": 3,
                "pointer": "/title",
                "severity": "error",
                "code": "duplicate-key",
                "message": "duplicate key 'title' (JSON readers disagree on which value wins)",
                "document_id": "duplicate-keys",
            },
            {
                "file": "february-31.json",
                "line": 7,
                "column": None,
                "pointer": "/published_at",
                "severity": "error",
                "code": "invalid-date",
                "message": "'2024-02-31T07:38:00' is not a real date",
                "document_id": "feb-31",
            },
        ],
        "clusters": [],
        "left_out": [],
    }


def test_github_format(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(INVALID)
    code, out, err = run(["--format", "github", "february-31.json", "near-duplicates"], capsys)
    assert code == 1
    lines = out.splitlines()
    # Paths from the repository's top, as GitHub matches them, whatever folder validate ran in.
    assert lines[0] == (
        "::error file=tests/data/invalid/february-31.json,line=7,title=corpuskit invalid-date::"
        "published_at: '2024-02-31T07:38:00' is not a real date"
    )
    assert lines[1].startswith(
        "::warning file=tests/data/invalid/near-duplicates/wire-b.txt,line=1,title=corpuskit near-duplicate::"
        "near-duplicate of 'wire-a' (near-duplicates/wire-a.txt:1): estimated similarity 0."
    )
    assert len(lines) == 2
    assert err == "3 files, 3 documents: 2 valid, 1 invalid; 1 error, 1 warning\n"


def test_warnings_fail_only_with_strict(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(INVALID)
    assert run(["near-duplicates"], capsys)[0] == 0
    assert run(["--strict", "near-duplicates"], capsys)[0] == 1


def test_missing_path_is_a_usage_error(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(INVALID)
    code, out, err = run(["no-such-file.txt"], capsys)
    assert (code, out) == (2, "")
    assert err == "corpuskit: error: no such file or folder: no-such-file.txt\n"


def git(cwd: Path, *args: str) -> None:
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
    )


@pytest.fixture
def corpus_repo(tmp_path: Path) -> Path:
    """A corpus repository with one committed document, then two new ones added after the commit."""
    (tmp_path / "pyproject.toml").write_text('[tool.corpuskit]\nraw = "raw"\n', encoding="utf-8")
    (tmp_path / "raw").mkdir()
    shutil.copy(REPO / "raw" / "004_3652e1919fe20c5e.txt", tmp_path / "raw" / "old.txt")
    shutil.copy(INVALID / "february-31.json", tmp_path / "raw" / "committed-bad.json")
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", ".")
    git(tmp_path, "commit", "-q", "-m", "corpus")
    shutil.copy(INVALID / "near-duplicates" / "wire-b.txt", tmp_path / "raw" / "new-near-copy.txt")
    shutil.copy(INVALID / "future-date.json", tmp_path / "raw" / "new-future.json")
    return tmp_path


def test_changed_since_reports_only_changed_files_but_sees_the_whole_corpus(
    corpus_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(corpus_repo)
    code, _, err = run([], capsys)
    assert code == 1
    assert "raw/committed-bad.json:7: error: published_at:" in err
    code, _, err = run(["--changed-since", "HEAD"], capsys)
    lines = err.splitlines()
    assert code == 1
    assert not any("committed-bad.json:" in line.split(" ")[0] for line in lines)
    assert lines[0].startswith(
        "raw/new-future.json:7: error: published_at: '2999-01-01T00:00:00Z' lies in the future"
    )
    # The near-copy is new; its original is old and unchanged, and still found, and the warning
    # is put on the changed file.
    assert lines[1].startswith("raw/new-near-copy.txt:1: warning: near-duplicate of 'old' (raw/old.txt:1)")
    assert lines[2] == "4 files (2 changed), 2 documents: 1 valid, 1 invalid; 1 error, 1 warning"


def test_changed_since_unknown_ref_is_exit_2(
    corpus_repo: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(corpus_repo)
    code, out, err = run(["--changed-since", "no-such-branch"], capsys)
    assert (code, out) == (2, "")
    assert (
        err
        == f"corpuskit: error: --changed-since 'no-such-branch': not a commit in {corpus_repo.resolve()}\n"
    )


def test_help_shows_examples(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["validate", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "corpuskit validate --format github --changed-since origin/main" in out
    assert "--changed-since GIT_REF" in out


def test_pre_commit_hook_and_ci_workflow_call_validate() -> None:
    [hook] = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    assert hook["id"] == "corpuskit-validate"
    assert hook["language"] == "python"
    assert hook["entry"].split()[:2] == ["corpuskit", "validate"]
    assert hook["files"] == r"^(raw/|schema/|pyproject\.toml$|dedupe\.jsonl$|\.pre-commit-config\.yaml$)"
    assert hook["entry"] == "corpuskit validate --staged"
    assert hook["verbose"] is True
    workflow = yaml.safe_load((REPO / ".github" / "workflows" / "validate.yml").read_text(encoding="utf-8"))
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any("corpuskit validate" in step and "--format github" in step for step in steps)
