"""What a maintainer meets around `corpuskit validate` in CI: validity inputs force a full check,
--staged, paths GitHub can match, a JSON error object, the shallow-clone hint, the report's
schema, the extras message, workflows GitHub accepts and a corpus in a subfolder of its repository."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import jsonschema
import pytest
import yaml

from corpuskit.cli.main import main
from corpuskit.extras import missing_extra
from corpuskit.scaffold import Source, init
from corpuskit.validation.reporters import report_schema

REPO = Path(__file__).resolve().parents[2]
INVALID = REPO / "tests" / "data" / "invalid"
SOURCE = Source.of("https://github.com/news-lab/corpuskit", "v0.1.0")


def git(cwd: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@example.org", *args],
        cwd=cwd,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stdout


def run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["validate", "--no-cache", *args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


@pytest.fixture
def corpus(tmp_path: Path) -> Path:
    """A corpus made by `init`, committed."""
    root = tmp_path / "corpus"
    init(root, source=SOURCE)
    git(root, "init", "-q", "-b", "main")
    git(root, "add", "-A")
    git(root, "commit", "-q", "-m", "corpus")
    return root


def test_a_schema_only_change_fails_changed_since(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(corpus)
    schema = corpus / "schema" / "document.schema.json"
    text = schema.read_text(encoding="utf-8")
    schema.write_text(text.replace('"maxLength": 1000', '"maxLength": 10', 1), encoding="utf-8")
    code, out, err = run(["--changed-since", "HEAD"], capsys)
    assert (code, out) == (1, "")
    lines = err.splitlines()
    assert (
        lines[0]
        == "raw/example-0001.txt:1: error: title: has 79 characters, more than the limit of 10 [too-long]"
    )
    assert lines[-1] == (
        "1 file (all checked: schema/document.schema.json changed since HEAD), 1 document: "
        "0 valid, 1 invalid; 1 error, 0 warnings"
    )
    code, out, _ = run(["--changed-since", "HEAD", "--format", "json"], capsys)
    report = json.loads(out)
    assert report["summary"]["full_check"] == "schema/document.schema.json changed since HEAD"
    assert report["summary"]["changed_files"] is None
    jsonschema.validate(report, report_schema())


@pytest.mark.parametrize(
    ("changed", "edit"),
    [
        ("pyproject.toml", lambda text: text + "\n"),
        ("schema/taxonomy.yaml", lambda text: text + "\n"),
        (".pre-commit-config.yaml", lambda text: text.replace('"v0.1.0"', '"v0.2.0"')),
    ],
)
def test_settings_taxonomy_and_pin_changes_check_everything(
    corpus: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    changed: str,
    edit: Callable[[str], str],
) -> None:
    monkeypatch.chdir(corpus)
    path = corpus / changed
    path.write_text(edit(path.read_text(encoding="utf-8")), encoding="utf-8")
    code, _, err = run(["--changed-since", "HEAD"], capsys)
    assert code == 0
    assert err == (
        f"1 file (all checked: {changed} changed since HEAD), "
        "1 document: 1 valid, 0 invalid; 0 errors, 0 warnings\n"
    )


def test_only_a_raw_change_stays_narrow(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(corpus)
    (corpus / "README.md").write_text("notes\n", encoding="utf-8")
    code, _, err = run(["--changed-since", "HEAD"], capsys)
    assert (code, err) == (0, "1 file (0 changed), 0 documents: 0 valid, 0 invalid; 0 errors, 0 warnings\n")


def test_staged_reports_on_the_staged_files_against_the_tracked_corpus(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(corpus)
    shutil.copy(INVALID / "february-31.json", corpus / "raw" / "untracked-bad.json")
    example = (corpus / "raw" / "example-0001.txt").read_bytes()
    (corpus / "raw" / "copy.txt").write_bytes(example)
    # Nothing staged: nothing to report, and the untracked file is not read.
    code, _, err = run(["--staged"], capsys)
    assert (code, err) == (0, "1 file (0 changed), 0 documents: 0 valid, 0 invalid; 0 errors, 0 warnings\n")
    # A staged copy of a tracked document: the cross-record check still sees the tracked original.
    git(corpus, "add", "raw/copy.txt")
    code, _, err = run(["--staged"], capsys)
    assert code == 1
    assert err.splitlines()[0].startswith(
        "raw/copy.txt:1: error: same content as 'example-0001' (raw/example-0001.txt:1)"
    )
    assert "untracked-bad" not in err
    # The files pre-commit passes (paths from the repository top) narrow it the same way.
    code, _, err = run(["--staged", "raw/copy.txt"], capsys)
    assert code == 1
    assert "2 files (1 changed)" in err.splitlines()[-1]


def test_github_paths_are_from_the_repository_top_wherever_validate_runs(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    shutil.copy(INVALID / "february-31.json", corpus / "raw" / "bad.json")
    monkeypatch.chdir(corpus / "raw")
    code, out, _ = run(["--format", "github", "bad.json"], capsys)
    assert code == 1
    assert out.startswith("::error file=raw/bad.json,line=7,title=corpuskit invalid-date::")


def test_json_format_prints_one_error_object_on_exit_2(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(corpus)
    code, out, err = run(["--format", "json", "--changed-since", "no-such-ref"], capsys)
    assert code == 2
    message = f"--changed-since 'no-such-ref': not a commit in {corpus.resolve()}"
    assert json.loads(out) == {"version": 1, "ok": False, "error": {"exit_code": 2, "message": message}}
    assert err == f"corpuskit: error: {message}\n"
    jsonschema.validate(json.loads(out), report_schema())
    code, out, _ = run(["--format", "json"], capsys)
    assert code == 0
    jsonschema.validate(json.loads(out), report_schema())


def test_a_bad_option_under_json_format_prints_one_error_object(
    corpus: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(corpus)
    message = "unrecognized arguments: --bogus (see `corpuskit validate --help`)"
    for args in (["--format", "json", "--bogus"], ["--bogus", "--format=json"]):
        with pytest.raises(SystemExit) as exited:
            main(["validate", *args])
        assert exited.value.code == 2
        out, err = capsys.readouterr()
        assert json.loads(out) == {"version": 1, "ok": False, "error": {"exit_code": 2, "message": message}}
        jsonschema.validate(json.loads(out), report_schema())
        assert err == f"corpuskit validate: error: {message}\n"
    # Without --format json (or with it after `--`, where it is a path) stdout stays empty.
    for args in (["--bogus"], ["--bogus", "--", "--format", "json"]):
        with pytest.raises(SystemExit):
            main(["validate", *args])
        out, err = capsys.readouterr()
        assert out == ""
        assert err == f"corpuskit validate: error: {message}\n"


def test_a_shallow_clone_is_told_to_fetch_the_history(
    corpus: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "README.md").write_text("second commit\n", encoding="utf-8")
    git(corpus, "commit", "-q", "-am", "second")
    git(tmp_path, "clone", "-q", "--depth", "1", corpus.as_uri(), "shallow")
    monkeypatch.chdir(tmp_path / "shallow")
    code, _, err = run(["--changed-since", "HEAD~1"], capsys)
    assert code == 2
    assert err.rstrip().endswith(
        "not a commit in "
        f"{(tmp_path / 'shallow').resolve()}; this clone is shallow: fetch the history the ref needs "
        "(in GitHub Actions, actions/checkout with fetch-depth: 0)"
    )


def test_the_report_schema_ships_in_the_package_and_the_docs() -> None:
    schema = report_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    docs = (REPO / "docs" / "validation.md").read_text(encoding="utf-8")
    assert "src/corpuskit/validation/report.schema.json" in docs
    wheel_files = (REPO / "pyproject.toml").read_text(encoding="utf-8")
    assert 'packages = ["src/corpuskit"]' in wheel_files  # package data travels with the package


def test_a_command_without_its_extra_names_the_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in [m for m in sys.modules if m == "label_studio_sdk" or m.startswith("label_studio_sdk.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "label_studio_sdk", None)
    monkeypatch.chdir(REPO)
    assert main(["taxonomy", "check"]) == 2
    assert capsys.readouterr().err == (
        "corpuskit: error: corpuskit taxonomy needs the studio extra (label_studio_sdk is not installed): "
        "pip install 'corpuskit-news[studio]' (or [all] for every command)\n"
    )
    error = ModuleNotFoundError("No module named 'pyarrow'", name="pyarrow.parquet")
    assert str(missing_extra(error, "release")) == (
        "corpuskit release needs the release extra (pyarrow is not installed): "
        "pip install 'corpuskit-news[release]' (or [all] for every command)"
    )
    # numpy comes with two extras: the one named is the command's own.
    numpy = ModuleNotFoundError("No module named 'numpy'", name="numpy")
    assert str(missing_extra(numpy, "agreement")).startswith(
        "corpuskit agreement needs the report extra (numpy is not installed): "
    )
    assert str(missing_extra(numpy, "release")).startswith(
        "corpuskit release needs the release extra (numpy is not installed): "
    )
    assert missing_extra(ModuleNotFoundError("x", name="not_ours")) is None


def test_workflows_pass_githubs_workflow_schema(tmp_path: Path) -> None:
    """This repository's workflow and the one `init` writes, in one run of check-jsonschema."""
    init(tmp_path / "corpus", source=SOURCE)
    paths = [
        REPO / ".github" / "workflows" / "validate.yml",
        tmp_path / "corpus" / ".github" / "workflows" / "validate.yml",
    ]
    done = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.github-workflows",
            *map(str, paths),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "ok -- validation done" in done.stdout


def test_a_corpus_in_a_subfolder_of_its_repository(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`init` in a subfolder of a git repository: the hook's `files` and the workflow's `paths` are
    matched from the repository's top, so they name the subfolder; the pin files go to the top,
    where pre-commit and GitHub read them; the hook passes --root and the workflow runs in it."""
    top = tmp_path / "newsroom"
    top.mkdir()
    git(top, "init", "-q", "-b", "main")
    (top / "README.md").write_text("the newsroom's tools\n", encoding="utf-8")
    result = init(top / "corpora" / "news", source=SOURCE)
    assert "../../.pre-commit-config.yaml" in result.created
    assert "../../.github/workflows/validate.yml" in result.created
    assert not (top / "corpora" / "news" / ".pre-commit-config.yaml").exists()
    config = yaml.safe_load((top / ".pre-commit-config.yaml").read_text(encoding="utf-8"))
    [hook] = config["repos"][0]["hooks"]
    assert hook["files"] == (
        r"^(corpora/news/raw/|corpora/news/schema/|corpora/news/pyproject\.toml$|"
        r"corpora/news/dedupe\.jsonl$|\.pre-commit-config\.yaml$|\.github/workflows/validate\.yml$)"
    )
    assert hook["args"] == ["--root", "corpora/news"]
    workflow = yaml.safe_load((top / ".github" / "workflows" / "validate.yml").read_text(encoding="utf-8"))
    assert workflow[True]["pull_request"]["paths"] == [
        "corpora/news/raw/**",
        "corpora/news/schema/**",
        "corpora/news/pyproject.toml",
        "corpora/news/dedupe.jsonl",
        ".pre-commit-config.yaml",
        ".github/workflows/validate.yml",
    ]
    job = workflow["jobs"]["validate"]
    assert job["defaults"] == {"run": {"working-directory": "corpora/news"}}
    [cache] = [step for step in job["steps"] if step.get("name") == "Cache signatures"]
    assert cache["with"]["path"] == "corpora/news/.corpuskit/cache"

    # What git reports for the scratch repository is what the hook's pattern sees.
    git(top, "add", "-A")
    git(top, "commit", "-q", "-m", "corpus")
    tracked = git(top, "ls-files").splitlines()
    assert sorted(p for p in tracked if re.match(hook["files"], p)) == [
        ".github/workflows/validate.yml",
        ".pre-commit-config.yaml",
        "corpora/news/pyproject.toml",
        "corpora/news/raw/example-0001.txt",
        "corpora/news/schema/document.schema.json",
        "corpora/news/schema/taxonomy.schema.json",
        "corpora/news/schema/taxonomy.yaml",
    ]

    # The hook as pre-commit runs it: at the top, with the staged files and its args.
    monkeypatch.chdir(top)
    shutil.copy(INVALID / "february-31.json", top / "corpora" / "news" / "raw" / "bad.json")
    git(top, "add", "corpora/news/raw/bad.json")
    assert main(["validate", "--root", "corpora/news", "--staged", "corpora/news/raw/bad.json"]) == 1
    err = capsys.readouterr().err
    assert "corpora/news/raw/bad.json:7: error: published_at: '2024-02-31T07:38:00' is not a real date" in err
    git(top, "reset", "-q", "corpora/news/raw/bad.json")
    (top / "corpora" / "news" / "raw" / "bad.json").unlink()
    # A staged change of the pin at the top checks every document of the corpus.
    pin = top / ".pre-commit-config.yaml"
    pin.write_text(pin.read_text(encoding="utf-8").replace('"v0.1.0"', '"v0.2.0"'), encoding="utf-8")
    git(top, "add", ".pre-commit-config.yaml")
    assert main(["validate", "--root", "corpora/news", "--staged", ".pre-commit-config.yaml"]) == 0
    assert capsys.readouterr().err.splitlines()[-1] == (
        "1 file (all checked: .pre-commit-config.yaml changed in the staged files), 1 document: "
        "1 valid, 0 invalid; 0 errors, 0 warnings"
    )
    assert main(["validate", "--root", "nowhere"]) == 2
    assert capsys.readouterr().err == "corpuskit: error: --root nowhere: not a folder\n"
