"""Data-driven validation tests: every file in tests/data/valid passes; every case in
tests/data/invalid (a file or a folder) prints each line of its `<case>.expected`.

An `.expected` file may start with `# exit: N` (default 1) and `# args: ...` lines.
Adding a case is adding a file and its expected lines.
"""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest

from corpuskit.cli.main import main
from corpuskit.validation.api import validate

DATA = Path(__file__).parents[1] / "data"
VALID = sorted(p.name for p in (DATA / "valid").iterdir())
INVALID = sorted(p.name for p in (DATA / "invalid").iterdir() if p.suffix != ".expected")


def _expected(case: str) -> tuple[list[str], int, list[str]]:
    stem = case if (DATA / "invalid" / case).is_dir() else Path(case).stem
    lines = (DATA / "invalid" / f"{stem}.expected").read_text(encoding="utf-8").splitlines()
    exit_code, args, expected = 1, [], []
    for line in lines:
        if line.startswith("# exit:"):
            exit_code = int(line.split(":", 1)[1])
        elif line.startswith("# args:"):
            args = shlex.split(line.split(":", 1)[1])
        elif line.strip():
            expected.append(line)
    return expected, exit_code, args


def test_every_invalid_case_has_expected_lines() -> None:
    for case in INVALID:
        expected, _, _ = _expected(case)
        assert expected, f"{case}: its .expected file names no diagnostic"


@pytest.mark.parametrize("name", VALID)
def test_valid_file_passes(
    name: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(DATA / "valid")
    code = main(["validate", "--no-cache", name])
    err = capsys.readouterr().err
    assert code == 0, err
    assert err.splitlines()[-1].endswith("0 errors, 0 warnings"), err
    assert len(err.splitlines()) == 1, err


@pytest.mark.parametrize("case", INVALID)
def test_invalid_case_cli(
    case: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    expected, exit_code, args = _expected(case)
    monkeypatch.chdir(DATA / "invalid")
    code = main(["validate", "--no-cache", *args, case])
    captured = capsys.readouterr()
    printed = captured.err.splitlines()
    for line in expected:
        assert line in printed, f"missing:\n{line}\nin:\n{captured.err}"
    assert code == exit_code, captured.err
    assert captured.out == ""


@pytest.mark.parametrize("case", INVALID)
def test_invalid_case_library(case: str, monkeypatch: pytest.MonkeyPatch) -> None:
    expected, exit_code, _ = _expected(case)
    monkeypatch.chdir(DATA / "invalid")
    result = validate([case], cache=False)
    assert [str(d) for d in result.diagnostics] == expected
    assert result.ok is (exit_code == 0)
    # One invalid document per file named by an error (each case holds one bad document per file).
    assert result.invalid == len({line.split(":")[0] for line in expected if ": error: " in line})
