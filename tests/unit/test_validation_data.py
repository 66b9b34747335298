"""Data-driven validation tests: every file in tests/data/valid passes; every case in
tests/data/invalid (a file or a folder) prints each line of its `<case>.expected`.

An `.expected` file may start with `# exit: N` (default 1), `# args: ...` and `# invalid: N`
(invalid documents, when a message names a cluster rather than each copy) lines. A case folder
holding a `pyproject.toml` is a corpus of its own (raw folder, settings, dedupe record):
validate runs inside it without paths, so its messages name `raw/...` and `dedupe.jsonl`.
Adding a case is adding a file (or folder) and its expected lines.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from corpuskit.cli.main import main
from corpuskit.settings import load_settings
from corpuskit.validation.api import validate

DATA = Path(__file__).parents[1] / "data"
VALID = sorted(p.name for p in (DATA / "valid").iterdir())
INVALID = sorted(p.name for p in (DATA / "invalid").iterdir() if p.suffix != ".expected")


def _expected(case: str) -> tuple[list[str], int, list[str], int | None]:
    stem = case if (DATA / "invalid" / case).is_dir() else Path(case).stem
    lines = (DATA / "invalid" / f"{stem}.expected").read_text(encoding="utf-8").splitlines()
    exit_code, args, expected, invalid = 1, [], [], None
    for line in lines:
        if line.startswith("# exit:"):
            exit_code = int(line.split(":", 1)[1])
        elif line.startswith("# args:"):
            args = shlex.split(line.split(":", 1)[1])
        elif line.startswith("# invalid:"):
            invalid = int(line.split(":", 1)[1])
        elif line.strip():
            expected.append(line)
    return expected, exit_code, args, invalid


def _place(folder: Path, case: str) -> tuple[Path, list[str]]:
    """Where validate runs for a case and the paths it is given: a corpus folder runs inside itself."""
    if (folder / case / "pyproject.toml").is_file():
        return folder / case, []
    return folder, [case]


def test_every_invalid_case_has_expected_lines() -> None:
    for case in INVALID:
        expected, _, _, _ = _expected(case)
        assert expected, f"{case}: its .expected file names no diagnostic"


@pytest.mark.parametrize("name", VALID)
def test_valid_file_passes(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    where, paths = _place(DATA / "valid", name)
    monkeypatch.chdir(where)
    code = main(["validate", "--no-cache", *paths])
    err = capsys.readouterr().err
    assert code == 0, err
    assert " 0 errors, 0 warnings" in err.splitlines()[-1], err
    assert len(err.splitlines()) == 1, err


@pytest.mark.parametrize("case", INVALID)
def test_invalid_case_cli(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expected, exit_code, args, _ = _expected(case)
    where, paths = _place(DATA / "invalid", case)
    monkeypatch.chdir(where)
    code = main(["validate", "--no-cache", *args, *paths])
    captured = capsys.readouterr()
    printed = captured.err.splitlines()
    for line in expected:
        assert line in printed, f"missing:\n{line}\nin:\n{captured.err}"
    assert code == exit_code, captured.err
    assert captured.out == ""


@pytest.mark.parametrize("case", INVALID)
def test_invalid_case_library(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected, exit_code, _, invalid = _expected(case)
    where, paths = _place(DATA / "invalid", case)
    monkeypatch.chdir(where)
    result = validate(paths or None, settings=load_settings(), cache=False)
    assert [str(d) for d in result.diagnostics] == expected
    assert result.ok is (exit_code == 0)
    # One invalid document per file named by an error (each case holds one bad document per file),
    # unless the case says how many.
    named = len({line.split(":")[0] for line in expected if ": error: " in line and "dedupe" not in line})
    assert result.invalid == (named if invalid is None else invalid)
