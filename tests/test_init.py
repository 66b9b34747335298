"""`corpuskit init`: the scaffolded repository validates at once, and its templates cannot drift."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from corpuskit.cli.main import main
from corpuskit.errors import UsageError
from corpuskit.scaffold import init, template_files
from corpuskit.settings import load_settings

REPO = Path(__file__).resolve().parents[1]
CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")

EXPECTED_FILES = {
    ".github/workflows/validate.yml",
    ".gitignore",
    ".pre-commit-config.yaml",
    "README.md",
    "docs/annotation-guidelines.md",
    "pyproject.toml",
    "raw/example-0001.txt",
    "schema/document.schema.json",
    "schema/taxonomy.schema.json",
    "schema/taxonomy.yaml",
}

# Template file -> the file of this repository it must equal byte for byte.
SAME_AS_REPOSITORY = {
    "schema/document.schema.json": "schema/document.schema.json",
    "schema/taxonomy.yaml": "schema/taxonomy.yaml",
    "schema/taxonomy.schema.json": "schema/taxonomy.schema.json",
    ".github/workflows/validate.yml": ".github/workflows/validate.yml",
}


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    return subprocess.run([CORPUSKIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("init")
    done = run_cli(["init", "news-corpus"], parent)
    assert done.returncode == 0, done.stderr
    assert set(done.stdout.splitlines()) == EXPECTED_FILES
    return parent / "news-corpus"


def test_init_output_validates_immediately(scaffolded: Path) -> None:
    validated = run_cli(["validate", "--no-cache"], scaffolded)
    assert validated.returncode == 0, validated.stderr
    assert "1 document" in validated.stderr
    checked = run_cli(["taxonomy", "check"], scaffolded)
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_settings_of_the_new_repository_are_all_known_keys(scaffolded: Path) -> None:
    settings = load_settings(scaffolded / "raw")
    assert settings.root == scaffolded
    assert settings.extra == {}
    assert settings.project_title == "news-corpus"
    assert settings.language == "en"
    assert settings.path(settings.taxonomy).is_file()
    assert settings.path(settings.schema).is_file()


def test_pre_commit_config_names_the_hook_of_this_repository(scaffolded: Path) -> None:
    config = yaml.safe_load((scaffolded / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    hooks = yaml.safe_load((REPO / ".pre-commit-hooks.yaml").read_text(encoding="utf-8"))
    [repo] = config["repos"]
    assert repo["rev"].startswith("v")
    assert [hook["id"] for hook in repo["hooks"]] == ["corpuskit-validate"]
    assert "corpuskit-validate" in {hook["id"] for hook in hooks}
    workflow = yaml.safe_load((scaffolded / ".github" / "workflows" / "validate.yml").read_text("utf-8"))
    steps = [step.get("run", "") for job in workflow["jobs"].values() for step in job["steps"]]
    assert any(run.startswith("corpuskit validate") for run in steps)
    assert ".corpuskit/" in (scaffolded / ".gitignore").read_text(encoding="utf-8").splitlines()


@pytest.mark.parametrize(("template", "original"), sorted(SAME_AS_REPOSITORY.items()))
def test_templates_equal_this_repository(template: str, original: str, scaffolded: Path) -> None:
    """Change schema/ or the workflow here and this fails until src/corpuskit/templates/ follows."""
    shipped = dict(template_files())[template].read_bytes()
    assert shipped == (REPO / original).read_bytes(), f"copy {original} to src/corpuskit/templates/corpus/"
    assert (scaffolded / template).read_bytes() == (REPO / original).read_bytes()


def test_non_empty_directory_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    target = tmp_path / "corpus"
    target.mkdir()
    (target / "notes.txt").write_text("mine\n", encoding="utf-8")
    assert main(["init", str(target)]) == 2
    err = capsys.readouterr().err
    assert "directory is not empty; use --force" in err
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_force_adds_missing_files_and_keeps_existing_ones(tmp_path: Path) -> None:
    target = tmp_path / "corpus"
    (target / "raw").mkdir(parents=True)
    mine = '[tool.corpuskit]\nlanguage = "de"\n'
    (target / "pyproject.toml").write_text(mine, encoding="utf-8")
    result = init(target, force=True)
    assert result.kept == ["pyproject.toml"]
    assert set(result.created) == EXPECTED_FILES - {"pyproject.toml"}
    assert (target / "pyproject.toml").read_text(encoding="utf-8") == mine
    again = init(target, force=True)
    assert again.created == []
    assert set(again.kept) == EXPECTED_FILES
    assert not [p for p in target.rglob("*.tmp")]


def test_language_and_title_are_filled_in(tmp_path: Path) -> None:
    init(tmp_path / "de", language="de")
    settings = load_settings(tmp_path / "de")
    assert settings.language == "de"
    # Label Studio needs project titles of 3 characters or more.
    assert settings.project_title == "corpus de"
    assert "# de" in (tmp_path / "de" / "README.md").read_text(encoding="utf-8")


def test_bad_language_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "x"), "--language", "not a tag"]) == 2
    assert "is not a BCP 47 language tag" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_file_in_place_of_the_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match="exists and is not a directory"):
        init(tmp_path / "taken")
