"""`corpuskit release` under faults, as a real process: killed at every stage of a build, the disk
filling up, two releases at once; and damaged release files refused by `load` and `verify`.

The stages are the build's own functions. A small launcher wraps one of them so that the process
says when it has reached it (a file appears) and then waits; the test looks at the temporary
folder, kills the process with SIGKILL and checks what is left. No test hook lives in corpuskit.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from corpuskit.cli.main import main
from corpuskit.errors import ReleaseError
from corpuskit.release.inputs import file_sha256
from corpuskit.release.versions import list_versions
from support.release_corpus import make_corpus, write_snapshot
from support.reliability_log import LOG, reliability  # noqa: F401 - the fixture

pytestmark = pytest.mark.usefixtures("reliability")

PREVIOUS = "1.0.0"
NEXT = "1.1.0"

# Runs `corpuskit ...` with one function wrapped: on its `nth` matching call the process touches
# READY and waits for GO (before the call, or after it returns with "after"); or, given "fsize",
# it lets no file grow past that many bytes from then on, as if the disk had just filled up.
LAUNCHER = r"""
import functools, importlib, json, os, resource, signal, sys, time
from pathlib import Path

spec = json.loads(os.environ["CORPUSKIT_TEST_PAUSE"])
owner = importlib.import_module(spec["module"])
*path, name = spec["attr"].split(".")
for part in path:
    owner = getattr(owner, part)
original = getattr(owner, name)
calls = 0

def pause():
    if spec.get("fsize") is not None:
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (spec["fsize"], spec["fsize"]))
        return
    Path(spec["ready"]).touch()
    while not Path(spec["go"]).exists():
        time.sleep(0.02)

@functools.wraps(original)
def wrapper(*args, **kwargs):
    global calls
    hit = spec.get("dest_suffix") is None or str(args[1]).endswith(spec["dest_suffix"])
    if hit:
        calls += 1
        hit = calls == spec.get("nth", 1)
    if hit and not spec.get("after"):
        pause()
    result = original(*args, **kwargs)
    if hit and spec.get("after"):
        pause()
    return result

setattr(owner, name, wrapper)
from corpuskit.cli.main import main
sys.exit(main(sys.argv[1:]))
"""


@dataclass(frozen=True)
class Stage:
    """A point in `corpuskit release`: a function of the build, and what its temporary folder holds."""

    name: str
    module: str
    attr: str
    nth: int = 1
    after: bool = False
    dest_suffix: str | None = None
    # Paths (relative to the temporary build folder) that must exist, and must not yet, at the pause.
    present: tuple[str, ...] = ()
    absent: tuple[str, ...] = ()
    # None: no temporary folder yet (the gates run before the lock is taken).
    building: bool = True


B = "corpuskit.release.build"
STAGES = [
    Stage("validation gate", "corpuskit.release.api", "check_validation", building=False),
    Stage("quality gate", "corpuskit.release.api", "assess_quality", building=False),
    Stage("lock taken, folder empty", B, "_write_tables", absent=("data",)),
    Stage("documents read", B, "_close", nth=1, absent=("data",)),
    Stage(
        "annotations spilled", B, "_close", nth=2, present=("data/documents",), absent=("data/annotations",)
    ),
    Stage("gold spilled", B, "_close", nth=3, present=("data/annotations",), absent=("data/gold",)),
    Stage("snapshot check", B, "_check_snapshot_covers_corpus", present=("data/gold",), absent=(".runs",)),
    Stage("agreement report", "corpuskit.quality.report", "write_report", present=("report",)),
    Stage(
        "changelog",
        "corpuskit.release.changelog",
        "write_changelog",
        present=("report/agreement.md",),
        absent=("CHANGELOG.md",),
    ),
    Stage("card", "corpuskit.release.card", "write_card", present=("CHANGELOG.md",), absent=("README.md",)),
    Stage(
        "croissant",
        "corpuskit.release.croissant",
        "write_croissant",
        present=("README.md",),
        absent=("croissant.json",),
    ),
    Stage(
        "manifest",
        "corpuskit.release.manifest",
        "write_manifest",
        present=("croissant.json",),
        absent=("manifest.json",),
    ),
    Stage("fsync", B, "fsync_tree", present=("manifest.json",)),
    Stage("rename into place", "os", "rename", dest_suffix=f"v{NEXT}", present=("manifest.json",)),
]
# The rename is the commit point: killed after it, the release is there and complete.
RENAMED = Stage("renamed", "os", "rename", dest_suffix=f"v{NEXT}", after=True)


KILLS, DISK, CONCURRENT, DAMAGED = (
    "release-kill",
    "release-disk-full",
    "release-concurrent",
    "release-damaged",
)
LOG.section(
    KILLS,
    title="`corpuskit release` SIGKILLed at every stage of a build, then re-run",
    checks=[
        "stages: " + "; ".join(stage.name for stage in STAGES) + "; and just after the rename",
        "no new version appears (only a hidden `.building-*` folder, removed by the next build), "
        "the earlier release keeps every byte and still verifies",
        "the re-run builds exactly the bytes of an uninterrupted build made in another folder; "
        "killed after the rename, the release is complete and verifies",
    ],
)
LOG.section(
    DISK,
    title="The disk fills up during `corpuskit release` (RLIMIT_FSIZE, SIGXFSZ ignored: EFBIG)",
    checks=[
        "from the start, and from each stage of the build on",
        "exit 2 and one `corpuskit: error:` line ending in 'nothing was written'; no new version, "
        "no temporary folder, the releases folder byte-identical",
    ],
)
LOG.section(
    CONCURRENT,
    title="Two `corpuskit release` processes at once",
    checks=[
        "while one builds (held mid-build), another release of the same or another version, or a --bump, "
        "is refused at once with one line (exit 1) and does not touch the build in progress",
        "two started together: exactly one release, the other refused; the release verifies",
    ],
)


def tree_hashes(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): file_sha256(p) for p in sorted(folder.rglob("*")) if p.is_file()
    }


PYCACHE: list[Path] = []


@pytest.fixture(scope="module", autouse=True)
def _bytecode_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # These tests start `corpuskit` some forty times; where the environment forbids writing
    # bytecode next to the sources, each start would compile every imported module again.
    PYCACHE[:] = [tmp_path_factory.mktemp("pycache")]


def cli_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABEL_STUDIO_", "CORPUSKIT_TEST"))}
    if PYCACHE:
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        env["PYTHONPYCACHEPREFIX"] = str(PYCACHE[0])
    return env


def run_cli(args: list[str], cwd: Path, **kwargs: Any) -> subprocess.CompletedProcess[str]:
    corpuskit = str(Path(sys.executable).parent / "corpuskit")
    return subprocess.run(
        [corpuskit, *args], cwd=cwd, env=cli_env(), capture_output=True, text=True, timeout=300, **kwargs
    )


class Paused:
    """`corpuskit release` running in `root`, held at `stage` until `resume()` or `kill()`."""

    def __init__(self, root: Path, stage: Stage, args: list[str], signals: Path) -> None:
        signals.mkdir(parents=True, exist_ok=True)
        self.ready, self.go = signals / "ready", signals / "go"
        self.ready.unlink(missing_ok=True)
        self.go.unlink(missing_ok=True)
        spec = {
            "module": stage.module,
            "attr": stage.attr,
            "nth": stage.nth,
            "after": stage.after,
            "dest_suffix": stage.dest_suffix,
            "ready": str(self.ready),
            "go": str(self.go),
        }
        self.process = subprocess.Popen(
            [sys.executable, "-c", LAUNCHER, *args],
            cwd=root,
            env={**cli_env(), "CORPUSKIT_TEST_PAUSE": json.dumps(spec)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 300
        while not self.ready.exists():
            if self.process.poll() is not None:
                out, err = self.process.communicate()
                pytest.fail(f"release ended ({self.process.returncode}) before {stage.name}: {out}{err}")
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"release never reached {stage.name}")
            time.sleep(0.02)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.communicate(timeout=60)
        assert self.process.returncode == -signal.SIGKILL

    def __enter__(self) -> Paused:
        return self

    def __exit__(self, *exc: object) -> None:
        # A failed assertion while paused must not leave the release process behind.
        if self.process.poll() is None:
            self.process.kill()
            self.process.communicate(timeout=60)

    def resume(self) -> tuple[int, str, str]:
        self.go.touch()
        out, err = self.process.communicate(timeout=300)
        return self.process.returncode, out, err


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A corpus with its snapshot and one earlier release, v1.0.0."""
    root = make_corpus(tmp_path_factory.mktemp("faults") / "corpus")
    write_snapshot(root)
    done = run_cli(["release", PREVIOUS], cwd=root)
    assert done.returncode == 0, done.stderr
    return root


def fresh_copy(corpus: Path, tmp_path: Path) -> Path:
    root = tmp_path / "corpus"
    shutil.copytree(corpus, root, symlinks=True)
    return root


def building(releases: Path) -> list[Path]:
    return sorted(releases.glob(".building-*"))


def test_killed_at_every_stage_leaves_no_version_and_a_rerun_matches_an_uninterrupted_build(
    corpus: Path, tmp_path: Path
) -> None:
    root = fresh_copy(corpus, tmp_path)
    releases = root / "releases"
    before = tree_hashes(releases / f"v{PREVIOUS}")
    # The same release built without interruption, in a copy, to compare the re-run with.
    reference_root = tmp_path / "reference"
    shutil.copytree(root, reference_root, symlinks=True)
    reference = run_cli(["release", NEXT], cwd=reference_root)
    assert reference.returncode == 0, reference.stderr

    seen: list[set[str]] = []
    for stage in STAGES:
        with Paused(root, stage, ["release", NEXT], tmp_path / "signals") as paused:
            work = [w for w in building(releases) if w.name.endswith(f"-{paused.process.pid}")]
            if stage.building:
                # Its own folder only: the lock taken, it removed what the previous kill left.
                assert len(work) == 1 and building(releases) == work, (stage.name, building(releases))
                for rel in stage.present:
                    assert (work[0] / rel).exists(), (stage.name, rel)
                for rel in stage.absent:
                    assert not (work[0] / rel).exists(), (stage.name, rel)
                names = {p.relative_to(work[0]).as_posix() for p in work[0].rglob("*")}
                seen.append({name for name in names if not name.startswith(".runs")})
            else:
                assert work == [], stage.name
            paused.kill()

        assert list_versions(releases) == [PREVIOUS], stage.name
        assert not (releases / f"v{NEXT}").exists(), stage.name
        assert tree_hashes(releases / f"v{PREVIOUS}") == before, stage.name
        assert main(["verify", PREVIOUS, "--releases", str(releases)]) == 0
        # The killed build left no version behind: verify finds no such release (exit 2, as its help says).
        assert main(["verify", NEXT, "--releases", str(releases)]) == 2
        LOG.count(KILLS, "kills injected")
        LOG.count(KILLS, "files of the earlier release checked after a kill", len(before))
    # Later stages found more in the folder than earlier ones: the pauses really were in order.
    assert all(a <= b for a, b in itertools.pairwise(seen)), seen
    assert len(building(releases)) == 1

    rerun = run_cli(["release", NEXT], cwd=root)
    assert rerun.returncode == 0, rerun.stderr
    assert building(releases) == []  # leftovers of the killed builds are gone
    assert list_versions(releases) == [PREVIOUS, NEXT]
    # Built in another folder, the uninterrupted release has the same bytes: nothing in a release
    # depends on the interruptions, nor on where the corpus is checked out.
    assert tree_hashes(releases / f"v{NEXT}") == tree_hashes(reference_root / "releases" / f"v{NEXT}")
    for path in (releases / f"v{NEXT}").rglob("*"):
        assert not path.is_file() or str(root).encode() not in path.read_bytes(), path
    assert tree_hashes(releases / f"v{PREVIOUS}") == before
    LOG.count(KILLS, "kills survived (re-run identical to an uninterrupted build)", len(STAGES))


def test_killed_after_the_rename_leaves_a_complete_release(corpus: Path, tmp_path: Path) -> None:
    root = fresh_copy(corpus, tmp_path)
    releases = root / "releases"
    with Paused(root, RENAMED, ["release", NEXT], tmp_path / "signals") as paused:
        assert building(releases) == [] and (releases / f"v{NEXT}" / "manifest.json").is_file()
        paused.kill()
    assert list_versions(releases) == [PREVIOUS, NEXT]
    assert main(["verify", NEXT, "--releases", str(releases)]) == 0
    again = run_cli(["release", NEXT], cwd=root)
    assert again.returncode == 1 and "already exists" in again.stderr
    LOG.count(KILLS, "kills injected")
    LOG.count(KILLS, "kills after the rename leaving a complete release")


# ---- two releases at once ----------------------------------------------------------------------


def test_a_second_release_while_one_is_building_is_refused_and_writes_nothing(
    corpus: Path, tmp_path: Path
) -> None:
    root = fresh_copy(corpus, tmp_path)
    releases = root / "releases"
    mid_build = next(stage for stage in STAGES if stage.name == "gold spilled")
    with Paused(root, mid_build, ["release", NEXT], tmp_path / "signals") as first:
        (work,) = building(releases)
        during = tree_hashes(work)
        for args in (["release", NEXT], ["release", "--bump", "minor"], ["release", "2.0.0"]):
            second = run_cli(args, cwd=root)
            assert second.returncode == 1, (args, second.stderr)
            (line,) = second.stderr.strip().splitlines()
            assert line == (
                f"corpuskit: error: {releases / '.release.lock'}: another release is being built; "
                "try again when it has finished"
            )
            assert tree_hashes(work) == during
            assert building(releases) == [work]
        code, _, err = first.resume()
    assert code == 0, err
    assert list_versions(releases) == [PREVIOUS, NEXT]
    assert main(["verify", NEXT, "--releases", str(releases)]) == 0
    LOG.count(CONCURRENT, "second releases refused while one was building", 3)


def test_two_releases_started_together_give_one_release(corpus: Path, tmp_path: Path) -> None:
    root = fresh_copy(corpus, tmp_path)
    releases = root / "releases"
    corpuskit = str(Path(sys.executable).parent / "corpuskit")
    processes = [
        subprocess.Popen(
            [corpuskit, "release", NEXT],
            cwd=root,
            env=cli_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [(p.wait(timeout=300), p.communicate()[1]) for p in processes]
    assert sorted(code for code, _ in results) == [0, 1], results
    (refusal,) = [err for code, err in results if code == 1]
    assert "another release is being built" in refusal or "already exists" in refusal
    assert list_versions(releases) == [PREVIOUS, NEXT] and building(releases) == []
    assert main(["verify", NEXT, "--releases", str(releases)]) == 0
    LOG.count(CONCURRENT, "pairs started together, one release")


# ---- the disk filling up -----------------------------------------------------------------------


def launch(root: Path, stage: Stage, args: list[str], **spec: Any) -> subprocess.CompletedProcess[str]:
    """Run `corpuskit` through the launcher to the end, with `spec` applied at `stage`."""
    wrap = {"module": stage.module, "attr": stage.attr, "nth": stage.nth, "after": stage.after}
    return subprocess.run(
        [sys.executable, "-c", LAUNCHER, *args],
        cwd=root,
        env={**cli_env(), "CORPUSKIT_TEST_PAUSE": json.dumps({**wrap, **spec})},
        capture_output=True,
        text=True,
        timeout=300,
    )


def _limit_file_size(limit: int) -> Any:
    def apply() -> None:
        # Ignored, SIGXFSZ no longer kills the writer: the write fails with EFBIG, as on a full disk.
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    return apply


def _refused_for_a_full_disk(done: subprocess.CompletedProcess[str], releases: Path, before: Any) -> None:
    assert done.returncode == 2, (done.returncode, done.stderr)
    (line,) = done.stderr.strip().splitlines()
    assert line.startswith("corpuskit: error: ") and "File too large" in line, line
    assert "nothing was written" in line
    assert not (releases / f"v{NEXT}").exists() and building(releases) == []
    assert tree_hashes(releases) == before
    LOG.count(DISK, "disk-full faults injected and refused cleanly")


# From the start: 2,000 bytes stops the first sorted run of documents; 52,000 bytes lets every
# run and most shards through and stops at the largest gold shard.
@pytest.mark.parametrize("limit", [2_000, 52_000])
def test_disk_full_is_one_clear_error_and_leaves_nothing(corpus: Path, tmp_path: Path, limit: int) -> None:
    root = fresh_copy(corpus, tmp_path)
    releases = root / "releases"
    before = tree_hashes(releases)
    done = run_cli(["release", NEXT], cwd=root, preexec_fn=_limit_file_size(limit))
    _refused_for_a_full_disk(done, releases, before)


FILLS_AT = [
    "documents read",
    "annotations spilled",
    "gold spilled",
    "agreement report",
    "changelog",
    "card",
    "croissant",
    "manifest",
]


@pytest.mark.parametrize("stage", FILLS_AT)
def test_disk_filling_up_at_a_stage_is_one_clear_error(corpus: Path, tmp_path: Path, stage: str) -> None:
    root = fresh_copy(corpus, tmp_path)
    releases = root / "releases"
    before = tree_hashes(releases)
    (at,) = [s for s in STAGES if s.name == stage]
    done = launch(root, at, ["release", NEXT], fsize=0)
    _refused_for_a_full_disk(done, releases, before)


# ---- damaged release files ---------------------------------------------------------------------


def _truncate(path: Path) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])


def _flip_one_byte(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[len(data) // 3] ^= 0x01
    path.write_bytes(bytes(data))


def _edit_manifest(change: Any) -> Any:
    def edit(path: Path) -> None:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        change(manifest["files"])
        path.write_text(json.dumps(manifest, indent=2), encoding="utf-8")

    return edit


GOLD_TRAIN = "data/gold/train-00000-of-00001.parquet"
DAMAGE = {
    # case: (file damaged, how, file named in the refusal, what is said about it)
    "shard truncated": (GOLD_TRAIN, _truncate, GOLD_TRAIN, r"size \d+ != \d+ in the manifest"),
    "documents shard changed": (
        "data/documents/train-00000-of-00001.parquet",
        _flip_one_byte,
        "data/documents/train-00000-of-00001.parquet",
        "SHA-256 differs",
    ),
    "shard missing": (GOLD_TRAIN, Path.unlink, GOLD_TRAIN, "missing"),
    "extra shard": (
        "data/gold/train-00001-of-00001.parquet",
        lambda p: p.write_bytes(b"PAR1"),
        "data/gold/train-00001-of-00001.parquet",
        "not in the manifest",
    ),
    "card edited": ("README.md", _flip_one_byte, "README.md", "SHA-256 differs"),
    "card missing": ("README.md", Path.unlink, "README.md", "missing"),
    "croissant truncated": ("croissant.json", _truncate, "croissant.json", "size"),
    "manifest missing": ("manifest.json", Path.unlink, "manifest.json", "missing"),
    "manifest truncated": ("manifest.json", _truncate, "manifest.json", "cannot be read"),
    "manifest not an object": (
        "manifest.json",
        lambda p: p.write_text("[]\n", encoding="utf-8"),
        "manifest.json",
        "not a corpuskit manifest",
    ),
    "manifest hash edited": (
        "manifest.json",
        _edit_manifest(lambda files: files["README.md"].update(sha256="0" * 64)),
        "README.md",
        "SHA-256 differs",
    ),
    "manifest entry dropped": (
        "manifest.json",
        _edit_manifest(lambda files: files.pop(GOLD_TRAIN)),
        GOLD_TRAIN,
        "not in the manifest",
    ),
}


LOG.section(
    DAMAGED,
    title="A tampered, truncated or missing release file",
    checks=[
        "cases: " + "; ".join(DAMAGE),
        "`corpuskit.load` raises and `corpuskit verify` (by version and by folder) exits 1, "
        "both naming the damaged file",
    ],
)


@pytest.fixture(scope="module")
def release_folder(corpus: Path) -> Path:
    folder = corpus / "releases" / f"v{PREVIOUS}"
    assert main(["verify", str(folder)]) == 0
    return folder


@pytest.mark.parametrize("case", list(DAMAGE))
def test_damaged_release_is_refused_naming_the_file(
    release_folder: Path, tmp_path: Path, case: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import corpuskit

    damaged, damage, named, said = DAMAGE[case]
    releases = tmp_path / "releases"
    folder = releases / release_folder.name
    shutil.copytree(release_folder, folder)
    damage(folder / damaged)
    pattern = rf"{re.escape(str(folder / named))}: .*{said}"

    with pytest.raises(ReleaseError, match=pattern):
        corpuskit.load(PREVIOUS, config="gold", releases=releases)
    capsys.readouterr()
    for target in (f"v{PREVIOUS}", str(folder)):
        assert main(["verify", target, "--releases", str(releases)]) == 1, target
        err = capsys.readouterr().err
        assert err and all(
            line.startswith(str(folder)) or line.startswith("corpuskit: error: ")
            for line in err.strip().splitlines()
        ), err
        assert re.search(pattern, err), err
    LOG.count(DAMAGED, "damaged releases refused by load and by verify")


def test_verify_cli_process_names_the_damaged_file(release_folder: Path, tmp_path: Path) -> None:
    folder = tmp_path / "releases" / release_folder.name
    shutil.copytree(release_folder, folder)
    _truncate(folder / GOLD_TRAIN)
    done = run_cli(["verify", f"v{PREVIOUS}", "--releases", str(folder.parent)], cwd=tmp_path)
    assert done.returncode == 1
    assert f"{folder / GOLD_TRAIN}: size" in done.stderr
    assert done.stderr.strip().endswith("FAILED (1 problem(s))")
    assert done.stdout == ""
