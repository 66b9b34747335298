"""The CI path of a corpus made by `corpuskit init`, tried as a maintainer would: pre-commit itself
installs the hook from a local repository of this package (offline: pip gets its wheels from a
wheelhouse re-packed from this virtualenv), and the workflows pass GitHub's workflow schema.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
import shutil
import subprocess
import sys
import zipfile
from importlib.metadata import Distribution, distribution
from pathlib import Path

import pytest
from packaging.requirements import Requirement

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent
CORPUSKIT = str(BIN / "corpuskit")
# The package's own files: what pre-commit's `pip install .` of the hook repository needs.
PACKAGE_FILES = (".pre-commit-hooks.yaml", "pyproject.toml", "README.md", "schema", "src")
# Measured (this test's sum of file sizes): 40 MB in 18 distributions, of which jsonschema-rs is
# 15 MB, pip and setuptools (virtualenv always adds them) 11 MB, corpuskit 7 MB (4.5 MB of it the
# language model) and pyyaml 3 MB. Before the core dropped numpy it was 113 MB in 20 distributions,
# numpy 74 MB of it (47 MB + 27 MB of bundled OpenBLAS) and py3langid 4.6 MB; with every
# dependency 793 MB. The limit catches a heavy package coming back.
HOOK_ENV_LIMIT = 100 * 1000 * 1000


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def _wheel_of(dist: Distribution, folder: Path) -> None:
    """Re-pack an installed distribution as a wheel (console scripts come back from entry_points)."""
    tags = [
        line.split(":", 1)[1].strip()
        for line in (dist.read_text("WHEEL") or "").splitlines()
        if line.startswith("Tag:")
    ]
    # The compressed tag set of the file name (py2.py3-none-any), from every tag the wheel had.
    tag = "-".join(".".join(sorted({t.split("-")[i] for t in tags})) for i in range(3))
    name = re.sub(r"[-_.]+", "_", dist.metadata["Name"]).lower()
    info = next(f for f in dist.files or [] if f.name == "METADATA").parent.name
    record: list[str] = []
    with zipfile.ZipFile(folder / f"{name}-{dist.version}-{tag}.whl", "w", zipfile.ZIP_STORED) as wheel:
        for file in dist.files or []:
            skipped = file.parts[0] == ".." or "__pycache__" in file.parts
            if skipped or file.name in ("RECORD", "INSTALLER", "REQUESTED", "direct_url.json"):
                continue
            path = Path(str(file.locate()))
            if not path.is_file():
                continue
            data = path.read_bytes()
            wheel.writestr(file.as_posix(), data)
            record.append(f"{file.as_posix()},{_record_hash(data)},{len(data)}")
        record.append(f"{info}/RECORD,,")
        wheel.writestr(f"{info}/RECORD", "\n".join(record) + "\n")


def _closure(names: list[str]) -> set[str]:
    """The distributions `names` need at run time (no extras), by their installed metadata."""
    seen: set[str] = set()
    todo = list(names)
    while todo:
        name = re.sub(r"[-_.]+", "-", todo.pop()).lower()
        if name in seen:
            continue
        seen.add(name)
        for text in distribution(name).requires or []:
            requirement = Requirement(text)
            if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
                todo.append(requirement.name)
    return seen


@pytest.fixture(scope="module")
def hook_repo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str, dict[str, str]]:
    """A git repository of this package, its commit, and an environment in which pre-commit
    installs it with no network: pip reads only a wheelhouse of the core and the build backend."""
    base = tmp_path_factory.mktemp("hook")
    package = base / "corpuskit"
    package.mkdir()
    for name in PACKAGE_FILES:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, package / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(source, package / name)
    wheels = base / "wheels"
    wheels.mkdir()
    core = [r.split(";")[0] for r in distribution("corpuskit-news").requires or [] if "extra ==" not in r]
    for name in sorted(_closure([Requirement(r).name for r in core] + ["hatchling"])):
        _wheel_of(distribution(name), wheels)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "LABEL_STUDIO_", "VIRTUALENV_"))}
    env.update(
        PATH=f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        PRE_COMMIT_HOME=str(base / "pre-commit-home"),
        PIP_CONFIG_FILE=os.devnull,
        PIP_NO_INDEX="1",
        PIP_FIND_LINKS=str(wheels),
        PIP_DISABLE_PIP_VERSION_CHECK="1",
        VIRTUALENV_NO_PERIODIC_UPDATE="1",
        GIT_AUTHOR_NAME="corpus maintainer",
        GIT_AUTHOR_EMAIL="maintainer@corpus.test",
        GIT_COMMITTER_NAME="corpus maintainer",
        GIT_COMMITTER_EMAIL="maintainer@corpus.test",
        GIT_CONFIG_GLOBAL=os.devnull,
        GIT_CONFIG_NOSYSTEM="1",
    )
    git(package, env, "init", "-q", "-b", "main")
    git(package, env, "add", "-A")
    git(package, env, "commit", "-q", "-m", "corpuskit")
    commit = git(package, env, "rev-parse", "HEAD").strip()
    return package, commit, env


def git(cwd: Path, env: dict[str, str], *args: str) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, env=env, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def run(cwd: Path, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """Run a command; its output (git shows a hook's output on stderr) comes back as stdout."""
    return subprocess.run(
        list(args), cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=300
    )


def near_copy(text: str) -> str:
    """The example article under another headline with one word changed: a near-duplicate."""
    lines = text.splitlines()
    lines[0] = "Fictional example: a second report on the harbour summit"
    lines[5] = lines[5].replace("Monday", "Tuesday")
    return "\n".join(lines) + "\n"


def test_pre_commit_runs_the_hook_of_a_corpus_made_by_init(
    hook_repo: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    package, commit, env = hook_repo
    done = run(tmp_path, env, CORPUSKIT, "init", "corpus", "--repo", str(package), "--rev", commit)
    assert done.returncode == 0, done.stdout
    corpus = tmp_path / "corpus"
    git(corpus, env, "init", "-q", "-b", "main")
    git(corpus, env, "add", "-A")
    git(corpus, env, "commit", "-q", "-m", "corpus")
    installed = run(corpus, env, str(BIN / "pre-commit"), "install")
    assert installed.returncode == 0, installed.stdout

    # A bad document staged: the commit is refused, naming the file and line.
    bad = (REPO / "tests" / "data" / "invalid" / "february-31.json").read_text(encoding="utf-8")
    (corpus / "raw" / "bad.json").write_text(bad, encoding="utf-8")
    git(corpus, env, "add", "raw/bad.json")
    refused = run(corpus, env, "git", "commit", "-m", "add a bad document")
    assert refused.returncode == 1, refused.stdout
    assert "raw/bad.json:7: error: published_at: '2024-02-31T07:38:00' is not a real date" in refused.stdout
    [environment] = Path(env["PRE_COMMIT_HOME"]).glob("repo*/py_env-*")
    size = sum(f.stat().st_size for f in environment.rglob("*") if f.is_file() and not f.is_symlink())
    assert size < HOOK_ENV_LIMIT, f"hook environment: {size / 1e6:.0f} MB"
    site = next(environment.glob("lib/python3*/site-packages"))
    for heavy in ("numpy", "label_studio_sdk", "label_studio", "datasets", "pyarrow", "pandas", "matplotlib"):
        assert not (site / heavy).exists(), heavy

    # The bad file left untracked does not block an unrelated commit, and a near-duplicate is
    # shown as a warning without failing it.
    git(corpus, env, "reset", "-q", "raw/bad.json")
    example = (corpus / "raw" / "example-0001.txt").read_text(encoding="utf-8")
    (corpus / "raw" / "example-0002.txt").write_text(near_copy(example), encoding="utf-8")
    git(corpus, env, "add", "raw/example-0002.txt")
    passed = run(corpus, env, "git", "commit", "-m", "add a second article")
    assert passed.returncode == 0, passed.stdout
    assert "raw/example-0002.txt:1: warning: near-duplicate of 'example-0001'" in passed.stdout
    assert "bad.json" not in passed.stdout

    # A schema-only change runs the hook (files covers schema/) and checks every document.
    schema = corpus / "schema" / "document.schema.json"
    schema.write_text(
        schema.read_text(encoding="utf-8").replace('"maxLength": 1000', '"maxLength": 10', 1),
        encoding="utf-8",
    )
    git(corpus, env, "add", "schema/document.schema.json")
    refused = run(corpus, env, "git", "commit", "-m", "shorter titles")
    assert refused.returncode == 1, refused.stdout
    assert "raw/example-0001.txt:1: error: title:" in refused.stdout
    assert "(all checked: schema/document.schema.json changed in the staged files)" in refused.stdout

    # try-repo against the same local repository and commit reuses the environment.
    tried = run(
        corpus,
        env,
        str(BIN / "pre-commit"),
        "try-repo",
        str(package),
        "corpuskit-validate",
        "--ref",
        commit,
        "--files",
        "raw/bad.json",
    )
    assert tried.returncode == 1, tried.stdout
    assert "raw/bad.json:7: error: published_at:" in tried.stdout


def test_the_hook_of_a_corpus_in_a_subfolder_of_its_repository(
    hook_repo: tuple[Path, str, dict[str, str]], tmp_path: Path
) -> None:
    """`init` in a subfolder of an existing repository: pre-commit, run at the repository's top,
    finds the config init put there and checks the corpus with its own settings."""
    package, commit, env = hook_repo
    top = tmp_path / "newsroom"
    top.mkdir()
    git(top, env, "init", "-q", "-b", "main")
    done = run(top, env, CORPUSKIT, "init", "corpora/news", "--repo", str(package), "--rev", commit)
    assert done.returncode == 0, done.stdout
    git(top, env, "add", "-A")
    git(top, env, "commit", "-q", "-m", "corpus")
    installed = run(top, env, str(BIN / "pre-commit"), "install")
    assert installed.returncode == 0, installed.stdout

    bad = (REPO / "tests" / "data" / "invalid" / "february-31.json").read_text(encoding="utf-8")
    (top / "corpora" / "news" / "raw" / "bad.json").write_text(bad, encoding="utf-8")
    git(top, env, "add", "corpora/news/raw/bad.json")
    refused = run(top, env, "git", "commit", "-m", "add a bad document")
    assert refused.returncode == 1, refused.stdout
    assert (
        "corpora/news/raw/bad.json:7: error: published_at: '2024-02-31T07:38:00' is not a real date"
        in refused.stdout
    )
    # A file outside the corpus does not run the hook at all.
    git(top, env, "reset", "-q", "corpora/news/raw/bad.json")
    (top / "NOTES.md").write_text("not a document\n", encoding="utf-8")
    git(top, env, "add", "NOTES.md")
    passed = run(top, env, "git", "commit", "-m", "notes")
    assert passed.returncode == 0, passed.stdout
    assert "corpuskit validate" in passed.stdout and "(no files to check)Skipped" in passed.stdout
