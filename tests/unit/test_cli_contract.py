"""The contract every command keeps (no server needed): `--help` states the exit codes; a bad option
or a missing input exits 2 with one line on stderr and nothing on stdout; the commands that run
offline exit 1 when the data fails a check and 0 when it is good, with their results on stdout only
and, with --format json, exactly one JSON document there."""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from corpuskit.cli.main import build_parser, main
from support.release_corpus import make_corpus, write_snapshot
from support.synthetic import generate_rows

REPO = Path(__file__).resolve().parents[2]
DATA = REPO / "tests" / "data"
MIGRATIONS = DATA / "taxonomy" / "migrations"
CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")


def command_paths(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    """Every command and action of the app (`validate`, `studio`, `studio start`, ...)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, child in action.choices.items():
                yield (*path, name)
                yield from command_paths(child, (*path, name))


COMMANDS = sorted(command_paths(build_parser()))
IDS = [" ".join(c) for c in COMMANDS]

# One usage or environment error per command, each reachable without a server (run in a corpus
# folder that has a pyproject.toml and nothing else).
USAGE_ERRORS: dict[str, list[str]] = {
    "validate": ["validate", "missing.txt"],
    "studio": ["studio"],
    "studio start": ["studio", "start", "--team", "--port", "8081"],
    "studio stop": ["studio", "stop", "extra-argument"],
    "studio status": ["studio", "status"],
    "studio open": ["studio", "open", "extra-argument"],
    "studio credentials": ["studio", "credentials"],
    "studio backup": ["studio", "backup", "out.tar"],
    "studio restore": ["studio", "restore", "missing.tar"],
    "studio invite": ["studio", "invite"],
    "push": ["push", "--batch-size", "0"],
    "pull": ["pull", "--from-export", "missing.json"],
    "status": ["status"],
    "agreement": ["agreement", "--draws", "-1"],
    "gold": ["gold", "missing-folder"],
    "adjudicate": ["adjudicate", "missing-folder"],
    "suggest": ["suggest", "--folds", "1"],
    "taxonomy": ["taxonomy"],
    "taxonomy show": ["taxonomy", "show", "--taxonomy", "missing.yaml"],
    "taxonomy config": ["taxonomy", "config", "--taxonomy", "missing.yaml"],
    "taxonomy schema": ["taxonomy", "schema", "--taxonomy", "missing.yaml"],
    "taxonomy check": ["taxonomy", "check", "--taxonomy", "missing.yaml"],
    "taxonomy diff": ["taxonomy", "diff", "missing-old.yaml", "missing-new.yaml"],
    "release": ["release", "1.0.0", "--bump", "minor"],
    "verify": ["verify", "9.9.9"],
    "diff": ["diff", "9.9.8", "9.9.9"],
    "publish": ["publish", "9.9.9", "--repo-id", "lab/news", "--dry-run"],
    "demo": ["demo", "--format", "xml"],
    "init": ["init", "."],
}


def run(argv: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """The exit code the process would have, and what it printed."""
    try:
        code = main(argv)
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 2
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def declared_exit_codes(help_text: str) -> dict[int, str]:
    """The codes the `exit codes:` paragraph that ends every `--help` names, with their meaning."""
    match = re.search(r"^exit codes: (.*)\Z", help_text.strip(), re.S | re.M)
    assert match, "no exit codes in --help"
    paragraph = " ".join(match.group(1).split()).removesuffix(".")
    parts = re.split(r"(?:^|, )([012]) ", paragraph)[1:]
    return {int(code): meaning for code, meaning in zip(parts[::2], parts[1::2], strict=True)}


def help_of(command: list[str], capsys: pytest.CaptureFixture[str]) -> str:
    code, out, err = run([*command, "--help"], capsys)
    assert (code, err) == (0, "")
    return out


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """An empty corpus folder, with no Label Studio configured."""
    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LABEL_STUDIO_URL", raising=False)
    monkeypatch.delenv("LABEL_STUDIO_API_KEY", raising=False)
    return tmp_path


def test_every_command_has_a_usage_error_case() -> None:
    assert set(USAGE_ERRORS) == set(IDS)


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_help_exits_0_and_states_the_exit_codes(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    out = help_of(list(command), capsys)
    assert out.startswith(f"usage: corpuskit {' '.join(command)} ")
    assert "examples:\n  corpuskit " in out
    codes = declared_exit_codes(out)
    assert set(codes) in ({0, 2}, {0, 1, 2})
    assert all(meaning.strip() for meaning in codes.values())


def test_the_top_level_help_states_the_rule(capsys: pytest.CaptureFixture[str]) -> None:
    out = help_of([], capsys)
    assert declared_exit_codes(out) == {
        0: "all good",
        1: "the data failed a check",
        2: "usage or environment error",
    }
    assert "diagnostics,\nverdicts of checks, warnings, notes and progress go to stderr" in out


@pytest.mark.parametrize("command", COMMANDS, ids=IDS)
def test_an_unknown_option_exits_2_with_one_line(
    command: tuple[str, ...], corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, err = run([*command, "--no-such-option"], capsys)
    assert (code, out) == (2, "")
    (line,) = err.splitlines()
    assert line.startswith(f"corpuskit {' '.join(command)}: error: ")
    assert line.endswith(f"(see `corpuskit {' '.join(command)} --help`)")


@pytest.mark.parametrize("command", IDS)
def test_a_usage_error_exits_2_with_one_line_and_no_output(
    command: str, corpus: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (corpus / "something.txt").write_text("not empty\n", encoding="utf-8")  # `init .` refuses
    code, out, err = run(USAGE_ERRORS[command], capsys)
    assert (code, out) == (2, ""), err
    (line,) = err.splitlines()
    assert re.match(r"corpuskit( [a-z]+)*: error: \S", line), line
    assert 2 in declared_exit_codes(help_of(command.split(), capsys))


def test_usage_errors_are_exit_2_for_the_process_too(corpus: Path) -> None:
    done = subprocess.run(
        [CORPUSKIT, "verify", "9.9.9", "--format", "json"], capture_output=True, text=True, check=False
    )
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"corpuskit: error: {corpus / 'releases' / 'v9.9.9'}: no such release\n"


# The data checks: exit 1 on bad data, 0 on good data, results on stdout only.


def expect(
    argv: list[str], code: int, capsys: pytest.CaptureFixture[str], *, stdout: bool = True
) -> tuple[str, str]:
    """Run; check the exit code is the expected one and one that `--help` declares; check the
    stream rule (--format json: one JSON document on stdout; a text check: nothing on stdout)."""
    got, out, err = run(argv, capsys)
    assert got == code, (argv, out, err)
    command = max((c for c in COMMANDS if tuple(argv[: len(c)]) == c), key=len)
    assert code in declared_exit_codes(help_of(list(command), capsys)), command
    if "--format" in argv and argv[argv.index("--format") + 1] == "json":
        json.loads(out)  # exactly one JSON document: nothing before or after it
        assert out.endswith("}\n") or out.endswith("]\n")
    elif stdout:
        assert out.strip(), f"{argv}: the result is missing on stdout"
    else:
        assert out == "", f"{argv}: a check prints its verdict on stderr"
    return out, err


def test_validate(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    _, err = expect(["validate", "--no-cache", "raw/"], 0, capsys, stdout=False)
    assert err.endswith("0 errors, 0 warnings\n")
    bad = str(DATA / "invalid" / "february-31.json")
    _, err = expect(["validate", "--no-cache", bad], 1, capsys, stdout=False)
    assert "is not a real date [invalid-date]" in err
    out, err = expect(["validate", "--no-cache", bad, "--format", "json"], 1, capsys)
    assert json.loads(out)["ok"] is False and err == ""


def write_annotations(corpus: Path, rows: list[dict[str, object]], settings: str = "") -> Path:
    (corpus / "pyproject.toml").write_text(f"[tool.corpuskit]\n{settings}", encoding="utf-8")
    folder = corpus / "annotations"
    folder.mkdir()
    (folder / "annotations.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return folder


def test_gold_agreement_and_the_gold_check(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = generate_rows(30, (1.0, 1.0), topic_noise=0.0, seed=6).rows
    folder = write_annotations(corpus, rows, "min_annotators = 3\n")
    out, err = expect(["gold"], 0, capsys)
    assert out.startswith(f"gold: 30 documents written to {folder / 'gold.jsonl'}\n") and err == ""
    out, _ = expect(["gold", "--format", "json", "--output", "g.jsonl"], 0, capsys)
    assert json.loads(out)["output"] == "g.jsonl"
    out, err = expect(["agreement", "--draws", "10"], 0, capsys)
    assert out.startswith("Agreement of ") and err == ""
    expect(["agreement", "--draws", "10", "--format", "json"], 0, capsys)

    _, err = expect(["gold", "--check"], 1, capsys, stdout=False)
    assert "gold --check FAILED" in err
    out, err = expect(["gold", "--check", "--format", "json"], 1, capsys)
    assert json.loads(out)["ok"] is False and err == ""
    _, err = expect(["gold", "--check", "--min-annotators", "2"], 0, capsys, stdout=False)
    assert "gold --check passed" in err

    with (folder / "annotations.jsonl").open("a", encoding="utf-8") as f:
        f.write("{not json\n")
    for argv in (["gold"], ["agreement"], ["gold", "--check", "--format", "json"]):
        code, out, err = run(argv, capsys)
        assert (code, out) == (1, ""), argv
        assert err.startswith(
            f"corpuskit: error: {folder / 'annotations.jsonl'}:{len(rows) + 1}: not valid JSON"
        )
        assert len(err.splitlines()) == 1


def test_taxonomy(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    for action in ("show", "config", "schema"):
        expect(["taxonomy", action], 0, capsys)
    expect(["taxonomy", "show", "--format", "json"], 0, capsys)
    _, err = expect(["taxonomy", "check"], 0, capsys, stdout=False)
    assert " passes " in err
    invalid = str(DATA / "taxonomy" / "invalid" / "duplicate-hotkey.yaml")
    _, err = expect(["taxonomy", "check", "--taxonomy", invalid], 1, capsys, stdout=False)
    assert " fails " in err
    out, err = expect(["taxonomy", "check", "--taxonomy", invalid, "--format", "json"], 1, capsys)
    assert json.loads(out)["ok"] is False and err == ""
    for action in ("show", "config", "schema"):
        code, out, err = run(["taxonomy", action, "--taxonomy", invalid], capsys)
        assert (code, out, len(err.splitlines())) == (1, "", 1), action

    old, new = str(MIGRATIONS / "v1.0.0.yaml"), str(MIGRATIONS / "v1.1.0.yaml")
    rows = str(MIGRATIONS / "annotations-1.0.0.jsonl")
    out, err = expect(["taxonomy", "diff", old, new, "--annotations", rows], 0, capsys)
    assert out.startswith("taxonomy 1.0.0 -> 1.1.0\n") and err == ""
    unmapped = str(MIGRATIONS / "v1.1.0-unmapped.yaml")
    out, err = expect(
        ["taxonomy", "diff", old, unmapped, "--annotations", rows, "--format", "json"], 1, capsys
    )
    assert json.loads(out)["errors"] and err == ""
    out, err = expect(["taxonomy", "diff", old, unmapped, "--annotations", rows], 1, capsys)
    assert out.startswith("taxonomy 1.0.0 -> 1.1.0\n")
    assert err.startswith("corpuskit: error: ") and "economic_aid" in err


def test_pull_from_an_export(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    shutil.copytree(REPO / "schema", corpus / "schema")
    export = str(DATA / "pull" / "synthetic_export.json")
    out, err = expect(["pull", "--from-export", export, "--out", "a"], 0, capsys)
    assert out.startswith("pull: 3 tasks, ") and err == ""
    out, err = expect(["pull", "--from-export", export, "--out", "a", "--format", "json"], 0, capsys)
    assert json.loads(out)["changed"] is False and err == ""
    (corpus / "bad.json").write_text("[{", encoding="utf-8")
    code, out, err = run(["pull", "--from-export", "bad.json", "--out", "a", "--format", "json"], capsys)
    assert (code, out) == (1, "") and err.startswith("corpuskit: error: bad.json: not a valid JSON export")


# Where the new corpus gets corpuskit from (init cannot tell for a checkout that is not a git install).
PIN = ["--repo", "https://github.com/news-lab/corpuskit", "--rev", "v0.1.0"]


def test_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.chdir(tmp_path)
    out, err = expect(["init", "new", *PIN], 0, capsys)
    assert "pyproject.toml" in out.splitlines() and "corpuskit validate" in err
    out, _ = expect(["init", "new", "--force", "--format", "json", *PIN], 0, capsys)
    assert json.loads(out)["created"] == []


@pytest.fixture(scope="module")
def released(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus with its annotation snapshot (a release is built by the test)."""
    root = make_corpus(tmp_path_factory.mktemp("corpus"), extra=4)
    write_snapshot(root)
    return root


def test_release_verify_diff_publish(
    released: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(released)
    out, _ = expect(["release", "1.0.0"], 0, capsys)
    folder = released / "releases" / "v1.0.0"
    assert out.startswith(f"released v1.0.0 -> {folder}\n")
    code, out, err = run(["release", "1.0.0", "--format", "json"], capsys)
    assert (code, out) == (1, "") and "already exists" in err and len(err.splitlines()) == 1

    _, err = expect(["verify", "1.0.0"], 0, capsys, stdout=False)
    assert err.endswith(": ok\n")
    out, _ = expect(["verify", "1.0.0", "--format", "json"], 0, capsys)
    assert json.loads(out)["ok"] is True
    out, err = expect(["diff", "1.0.0", str(folder)], 0, capsys)
    assert out.startswith("v1.0.0 -> v1.0.0\n") and err == ""
    expect(["diff", "1.0.0", "1.0.0", "--format", "json"], 0, capsys)
    out, err = expect(["publish", "1.0.0", "--repo-id", "lab/news", "--dry-run"], 0, capsys)
    assert out.startswith("would upload ") and err == ""
    code, out, err = run(["publish", "1.0.0", "--repo-id", "no-slash", "--dry-run"], capsys)
    assert (code, out) == (2, "") and err.startswith("corpuskit: error: --repo-id must look like ORG/NAME")

    damaged = released / "damaged" / "v1.0.0"
    shutil.copytree(folder, damaged)
    (damaged / "CHANGELOG.md").write_text("changed after the build\n", encoding="utf-8")
    _, err = expect(["verify", str(damaged)], 1, capsys, stdout=False)
    assert f"{damaged / 'CHANGELOG.md'}: " in err and err.endswith("FAILED (1 problem(s))\n")
    out, err = expect(["verify", str(damaged), "--format", "json"], 1, capsys)
    assert json.loads(out)["ok"] is False and err == ""
    code, out, err = run(["publish", str(damaged), "--repo-id", "lab/news", "--dry-run"], capsys)
    assert (code, out) == (1, "") and "failed verification" in err and len(err.splitlines()) == 1


def test_data_failures_are_exit_1_for_the_process_too(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(REPO)
    bad = str(DATA / "invalid" / "february-31.json")
    done = subprocess.run(
        [CORPUSKIT, "validate", "--no-cache", "--format", "json", bad],
        capture_output=True,
        text=True,
        check=False,
    )
    assert (done.returncode, done.stderr) == (1, "")
    assert json.loads(done.stdout)["summary"]["errors"] == 1


def test_an_os_error_is_an_environment_error(corpus: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # Not a traceback with Python's exit 1 (which would claim the data failed a check).
    (corpus / "a-file").write_text("x\n", encoding="utf-8")
    code, out, err = run(["init", "a-file/corpus", *PIN], capsys)
    assert (code, out) == (2, "")
    assert err == f"corpuskit: error: {corpus / 'a-file' / 'corpus'}: Not a directory\n"
