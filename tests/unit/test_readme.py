"""The README can't drift: its CLI reference is generated from the app, its example messages are real."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
README = REPO / "README.md"
sys.path.insert(0, str(REPO / "scripts"))

import gen_cli_reference  # noqa: E402


def test_cli_reference_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    block = text[
        text.index(gen_cli_reference.BEGIN) : text.index(gen_cli_reference.END) + len(gen_cli_reference.END)
    ]
    assert block == gen_cli_reference.render(), "README CLI reference is stale: run `make docs`"


def test_settings_reference_is_current() -> None:
    from corpuskit.settings import settings_reference

    text = gen_cli_reference.SETTINGS_DOC.read_text(encoding="utf-8")
    assert text == settings_reference(), "docs/settings.md is stale: run `make docs`"
    # Every setting is described there.
    from dataclasses import fields

    from corpuskit.settings import Settings

    described = {f.name for f in fields(Settings)} - {"root", "extra"}
    assert all(f"| `{name}` |" in text for name in described)


def test_every_command_has_an_example() -> None:
    from corpuskit.cli.main import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    for name, child in sub.choices.items():  # type: ignore[attr-defined]
        assert "examples:" in (child.epilog or ""), f"`corpuskit {name} --help` has no examples"
        assert f"corpuskit {name}" in (child.epilog or "")


def test_readme_validation_message_is_what_validate_prints(tmp_path: Path) -> None:
    quoted = re.findall(r"```text\n\s*(raw/bad\.txt:\d+: error: .*)\n", README.read_text(encoding="utf-8"))
    assert quoted, "README lost its example diagnostic"
    (tmp_path / "raw").mkdir()
    (tmp_path / "raw" / "bad.txt").write_text(
        "Headline here\nA summary line.\n- Asia\n- AFP\n- Published Date: 07:38 | 31 February 2024\n"
        "Body paragraph one is here.\n",
        encoding="utf-8",
    )
    run = subprocess.run(
        [sys.executable, "-m", "corpuskit.cli.main", "validate"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        check=False,
    )
    assert run.returncode == 1
    for line in quoted:
        assert line in run.stdout + run.stderr


@pytest.mark.parametrize("command", ["--help", "validate --help", "release --help"])
def test_help_works(command: str) -> None:
    run = subprocess.run(
        [sys.executable, "-m", "corpuskit.cli.main", *command.split()], capture_output=True, text=True
    )
    assert run.returncode == 0 and "examples:" in run.stdout
