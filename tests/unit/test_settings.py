"""Settings declared once: unknown keys are named, a token in pyproject.toml is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from corpuskit.errors import UsageError
from corpuskit.settings import load_settings


def test_an_unknown_key_is_a_warning_naming_it_and_the_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.corpuskit]\nraw = "texts"\nannotator_per_document = 3\n', encoding="utf-8"
    )
    settings = load_settings(tmp_path)
    assert settings.raw == "texts" and settings.annotators_per_document == 2
    err = capsys.readouterr().err
    assert (
        f"{tmp_path / 'pyproject.toml'}: [tool.corpuskit] annotator_per_document: not a corpuskit setting"
        in err
    )


def test_an_api_token_in_pyproject_is_refused(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text(
        '[tool.corpuskit]\nlabel_studio_api_key = "0123456789abcdef"\n', encoding="utf-8"
    )
    with pytest.raises(UsageError, match="set LABEL_STUDIO_API_KEY in the environment") as raised:
        load_settings(tmp_path)
    assert "0123456789abcdef" not in str(raised.value)


def test_the_guidelines_path_is_a_setting(tmp_path: Path) -> None:
    (tmp_path / "pyproject.toml").write_text('[tool.corpuskit]\nguidelines = "guide.md"\n', encoding="utf-8")
    settings = load_settings(tmp_path)
    assert settings.path(settings.guidelines) == (tmp_path / "guide.md").resolve()
