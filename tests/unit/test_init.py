"""`corpuskit init`: the scaffolded repository validates at once, and its templates cannot drift."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from corpuskit.cli.main import main
from corpuskit.errors import UsageError
from corpuskit.scaffold import Source, init, render, template_files
from corpuskit.settings import load_settings

REPO = Path(__file__).resolve().parents[2]
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
}
PIN = ["--repo", "https://github.com/news-lab/corpuskit", "--rev", "v0.1.0"]
SOURCE = Source.of("https://github.com/news-lab/corpuskit", "v0.1.0")


def run_cli(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    return subprocess.run([CORPUSKIT, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def scaffolded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    parent = tmp_path_factory.mktemp("init")
    done = run_cli(["init", "news-corpus", *PIN], parent)
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
    assert (repo["repo"], repo["rev"]) == ("https://github.com/news-lab/corpuskit", "v0.1.0")
    [hook] = repo["hooks"]
    assert hook["id"] == "corpuskit-validate"
    assert hook["files"] == (
        r"^(raw/|schema/|pyproject\.toml$|dedupe\.jsonl$|\.pre-commit-config\.yaml$|\.github/workflows/validate\.yml$)"
    )
    assert "corpuskit-validate" in {hook["id"] for hook in hooks}
    workflow = yaml.safe_load((scaffolded / ".github" / "workflows" / "validate.yml").read_text("utf-8"))
    # `on:` is YAML 1.1's boolean true.
    assert workflow[True]["pull_request"]["paths"] == [
        "raw/**",
        "schema/**",
        "pyproject.toml",
        "dedupe.jsonl",
        ".pre-commit-config.yaml",
        ".github/workflows/validate.yml",
    ]
    [job] = workflow["jobs"].values()
    assert job["timeout-minutes"] == 15
    steps = [step.get("run", "") for step in job["steps"]]
    assert "pip install 'corpuskit-news @ git+https://github.com/news-lab/corpuskit@v0.1.0'" in steps
    assert any(run.startswith("corpuskit validate") for run in steps)
    assert ".corpuskit/" in (scaffolded / ".gitignore").read_text(encoding="utf-8").splitlines()


def test_nothing_init_writes_is_a_placeholder_or_the_unrelated_package(scaffolded: Path) -> None:
    """`corpuskit` on the package index is someone else's project: nothing may install it."""
    for relative in EXPECTED_FILES:
        text = (scaffolded / relative).read_text(encoding="utf-8")
        assert "OWNER" not in text, relative
        assert not re.search(r"@[A-Z_]+@", text), relative
        assert not re.search(r"pip install\s+['\"]?corpuskit(?!-news)", text), relative
    readme = (scaffolded / "README.md").read_text(encoding="utf-8")
    assert "pip install 'corpuskit-news[all] @ git+https://github.com/news-lab/corpuskit@v0.1.0'" in readme


def test_init_without_a_source_says_what_it_needs(tmp_path: Path) -> None:
    done = run_cli(["init", "corpus"], tmp_path)
    assert done.returncode == 2
    assert done.stderr.startswith("corpuskit: error: init needs --repo URL --rev REV:")
    assert not (tmp_path / "corpus").exists()
    done = run_cli(["init", "corpus", "--rev", "v0.1.0"], tmp_path)
    assert (done.returncode, done.stderr) == (
        2,
        "corpuskit: error: --repo and --rev go together: "
        "where corpuskit comes from and which tag or commit\n",
    )


def test_a_local_repository_is_pinned_by_its_absolute_path(tmp_path: Path) -> None:
    (tmp_path / "corpuskit-clone").mkdir()
    source = Source.of(str(tmp_path / "corpuskit-clone"), "0123abc")
    assert source.requirement("studio") == (
        f"corpuskit-news[studio] @ git+file://{(tmp_path / 'corpuskit-clone').resolve()}@0123abc"
    )
    assert Source.of("git@github.com:lab/corpuskit.git", "v1").requirement() == (
        "corpuskit-news @ git+ssh://git@github.com/lab/corpuskit.git@v1"
    )
    with pytest.raises(UsageError, match="not a URL and no such folder"):
        Source.of(str(tmp_path / "missing"), "v1")


def test_a_kept_settings_file_decides_the_watched_paths(tmp_path: Path) -> None:
    target = tmp_path / "corpus"
    target.mkdir()
    (target / "pyproject.toml").write_text('[tool.corpuskit]\nraw = "data/raw"\n', encoding="utf-8")
    init(target, source=SOURCE, force=True)
    config = yaml.safe_load((target / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    assert config["repos"][0]["hooks"][0]["files"].startswith("^(data/raw/|schema/|")
    workflow = yaml.safe_load((target / ".github" / "workflows" / "validate.yml").read_text("utf-8"))
    assert workflow[True]["pull_request"]["paths"][:2] == ["data/raw/**", "schema/**"]


def test_this_repository_runs_the_template_workflow_on_its_own_checkout() -> None:
    """The workflow here is the template's, installing corpuskit from the checkout."""
    template = dict(template_files())[".github/workflows/validate.yml"].read_text(encoding="utf-8")
    rendered = render(
        template, name="corpuskit", language="en", settings=load_settings(REPO), install=".", source=SOURCE
    )
    ours = (REPO / ".github" / "workflows" / "validate.yml").read_text(encoding="utf-8")
    assert rendered == ours, "render the template into .github/workflows/validate.yml"


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
    assert main(["init", str(target), *PIN]) == 2
    err = capsys.readouterr().err
    assert "directory is not empty; use --force" in err
    assert sorted(p.name for p in target.iterdir()) == ["notes.txt"]


def test_force_adds_missing_files_and_keeps_existing_ones(tmp_path: Path) -> None:
    target = tmp_path / "corpus"
    (target / "raw").mkdir(parents=True)
    mine = '[tool.corpuskit]\nlanguage = "de"\n'
    (target / "pyproject.toml").write_text(mine, encoding="utf-8")
    result = init(target, source=SOURCE, force=True)
    assert result.kept == ["pyproject.toml"]
    assert set(result.created) == EXPECTED_FILES - {"pyproject.toml"}
    assert (target / "pyproject.toml").read_text(encoding="utf-8") == mine
    again = init(target, source=SOURCE, force=True)
    assert again.created == []
    assert set(again.kept) == EXPECTED_FILES
    assert not [p for p in target.rglob("*.tmp")]


def test_language_and_title_are_filled_in(tmp_path: Path) -> None:
    init(tmp_path / "de", source=SOURCE, language="de")
    settings = load_settings(tmp_path / "de")
    assert settings.language == "de"
    # Label Studio needs project titles of 3 characters or more.
    assert settings.project_title == "corpus de"
    assert "# de" in (tmp_path / "de" / "README.md").read_text(encoding="utf-8")


def test_bad_language_is_a_usage_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["init", str(tmp_path / "x"), "--language", "not a tag", *PIN]) == 2
    assert "is not a BCP 47 language tag" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_a_file_in_place_of_the_directory_is_refused(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("", encoding="utf-8")
    with pytest.raises(UsageError, match="exists and is not a directory"):
        init(tmp_path / "taken", source=SOURCE)


def test_a_corpuskit_installed_from_git_pins_its_own_source(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from corpuskit.scaffold import installed_source

    class Installed:
        def __init__(self, direct_url: str | None) -> None:
            self.direct_url = direct_url

        def read_text(self, name: str) -> str | None:
            return self.direct_url if name == "direct_url.json" else None

    pip_record = (
        '{"url": "https://github.com/news-lab/corpuskit", "vcs_info": '
        '{"vcs": "git", "requested_revision": "v0.1.0", "commit_id": "' + "a" * 40 + '"}}'
    )
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: Installed(pip_record))
    assert installed_source() == SOURCE
    editable = '{"url": "file:///work/corpuskit", "dir_info": {"editable": true}}'
    monkeypatch.setattr(importlib.metadata, "distribution", lambda name: Installed(editable))
    assert installed_source() is None
