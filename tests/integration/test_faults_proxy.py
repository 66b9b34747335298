"""push and pull through a fault-injecting proxy in front of the real Label Studio of the session.

A fault that lasts beyond the retry budget ends in one clear error line and exit 2 after a bounded
number of attempts, with the waits between them growing; a fault that clears within the budget is
survived. Whatever happened, the project ends with every document exactly once (after a re-run) and
the annotation snapshot is either the previous one, byte for byte, or a complete new one.

Most runs call the library in this process (the CLI only maps its error to the line and the exit
code); a few run the real CLI as a subprocess to show that mapping end to end.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from corpuskit.settings import load_settings
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push
from corpuskit.studio.server import StudioServer
from support.faultproxy import FaultProxy
from support.faults_helpers import (
    BACKOFF,
    RETRIES,
    TIMEOUT,
    AnnotatedProject,
    add_annotated_tasks,
    assert_clear_error,
    assert_exactly_once,
    assert_one_error_line,
    assert_snapshot_exact,
    cli_env,
    doc_counts,
    in_process,
    leftovers,
    make_annotated_project,
    make_corpus,
    projects_titled,
    run_cli,
    snapshot_bytes,
    use_server,
)
from support.reliability_log import LOG, reliability  # noqa: F401 - the fixture

pytestmark = [pytest.mark.studio, pytest.mark.usefixtures("reliability")]

SECTION = "proxy-faults"
LOG.section(
    SECTION,
    title="Label Studio answering slowly, with 5xx, dropped connections or cut bodies (fault proxy)",
    checks=[
        "a fault that outlasts the retry budget: exit 2 and one `corpuskit: error:` line naming the "
        "server (no traceback, no token), after exactly the configured number of attempts, each "
        "wait at least the back-off",
        "push under a lasting fault changes nothing, or leaves a half-done project that a re-run "
        "completes with every document exactly once",
        "push under faults that clear within the budget, also when the server acted on a request "
        "whose answer was lost: one project, every document exactly once, a second push creates nothing",
        "pull under a lasting fault: exit 2, the previous snapshot byte-identical, no temporary "
        "files left; under faults that clear: every annotation exactly once",
    ],
)

ATTEMPTS = RETRIES + 1
DOCS = 40
SLOW = TIMEOUT + 1.5


@pytest.fixture
def proxy(studio_server: StudioServer) -> Iterator[FaultProxy]:
    with FaultProxy(studio_server.url) as running:
        yield running


@pytest.fixture
def via_proxy(proxy: FaultProxy, studio_server: StudioServer, monkeypatch: pytest.MonkeyPatch) -> FaultProxy:
    """The proxy, with this process's library calls pointed at it (short request budget)."""
    use_server(monkeypatch, proxy.url, studio_server.token)
    return proxy


def _count_faults(proxy: FaultProxy) -> None:
    for kind, number in proxy.faults.items():
        LOG.count(SECTION, f"faults injected: {kind}", number)


def _check_backoff(proxy: FaultProxy, pattern: str) -> None:
    """Exactly ATTEMPTS tries, the gap before try n+1 at least BACKOFF * 2**(n-1) seconds."""
    tries = proxy.requests_matching(pattern)
    assert len(tries) == ATTEMPTS, [f"{s.method} {s.path}" for s in proxy.seen]
    for n, (before, after) in enumerate(itertools.pairwise(tries)):
        assert after.at - before.at >= BACKOFF * 2**n * 0.95, (n, after.at - before.at)


def _push(root: Path, **options: Any) -> None:
    push(settings=load_settings(root), progress=False, **options)


# --- push --------------------------------------------------------------------------------------------

LASTING: list[tuple[str, dict[str, Any]]] = [
    ("http 500", {"kind": "status", "status": 500}),
    ("http 502", {"kind": "status", "status": 502}),
    ("http 503", {"kind": "status", "status": 503}),
    ("dropped connection", {"kind": "drop"}),
    ("answer lost after the server acted", {"kind": "drop_after"}),
    ("truncated body", {"kind": "truncate"}),
    ("body cut short with a consistent length", {"kind": "short"}),
    ("slow answer", {"kind": "slow", "delay": SLOW}),
]


@pytest.mark.parametrize(("name", "fault"), LASTING, ids=[name for name, _ in LASTING])
def test_push_gives_up_on_a_lasting_fault(
    name: str, fault: dict[str, Any], via_proxy: FaultProxy, studio_server: StudioServer, tmp_path: Path
) -> None:
    title = f"faults push lasting {name}"[:50].strip()
    make_corpus(tmp_path / "corpus", title, DOCS, seed=1)
    via_proxy.inject(**fault)
    outcome = in_process(lambda: _push(tmp_path / "corpus"))
    assert_clear_error(outcome, studio_server.token)
    assert via_proxy.url in outcome.message
    # The first request (the project lookup: is the server there, is the token good?) fails;
    # nothing after it is tried.
    _check_backoff(via_proxy, r"^GET /api/projects\?")
    assert len(via_proxy.seen) == ATTEMPTS
    assert projects_titled(studio_server.url, studio_server.token, title) == []
    _count_faults(via_proxy)


@pytest.mark.parametrize("kind", ["status", "truncate"])
def test_cli_push_ends_with_one_error_line_and_exit_2(
    kind: str, proxy: FaultProxy, studio_server: StudioServer, tmp_path: Path
) -> None:
    title = f"faults push cli {kind}"
    ids = make_corpus(tmp_path / "corpus", title, DOCS, seed=4)
    env = cli_env(proxy.url, studio_server.token)
    # The project and its first batch arrive; then every import fails.
    if kind == "status":
        proxy.inject("status", r"^POST /api/projects/\d+/import", status=503)
    else:
        # A first push into an empty project reads no task (it imports while validating): the
        # truncated read is the next push's look at the tasks changed since the first.
        assert run_cli(["push", "--quiet"], tmp_path / "corpus", env).returncode == 0
        proxy.seen.clear()  # the tries counted below are the second push's
        proxy.inject("truncate", r"^GET /api/tasks")
    result = run_cli(["push", "--quiet", "--batch-size", "15"], tmp_path / "corpus", env)
    line = assert_one_error_line(result, studio_server.token)
    assert proxy.url in line
    if kind == "status":
        assert "HTTP 503" in line
        _check_backoff(proxy, r"^POST /api/projects/\d+/import")
    else:
        assert "cannot reach" in line
        _check_backoff(proxy, r"^GET /api/tasks")
    _count_faults(proxy)
    proxy.clear()
    result = run_cli(["push", "--quiet"], tmp_path / "corpus", env)
    assert result.returncode == 0, result.stderr
    assert_exactly_once(studio_server.url, studio_server.token, title, ids)
    LOG.count(SECTION, "documents checked for loss or duplication", len(ids))


IMPORT_FAULTS: list[tuple[str, dict[str, Any]]] = [
    ("503", {"kind": "status", "status": 503}),
    ("drop", {"kind": "drop"}),
    ("drop_after", {"kind": "drop_after"}),
    ("502_after", {"kind": "status_after", "status": 502}),
    ("slow", {"kind": "slow", "delay": SLOW}),
]


@pytest.mark.parametrize(("name", "fault"), IMPORT_FAULTS, ids=[name for name, _ in IMPORT_FAULTS])
def test_push_whose_imports_keep_failing_is_completed_by_a_rerun(
    name: str, fault: dict[str, Any], via_proxy: FaultProxy, studio_server: StudioServer, tmp_path: Path
) -> None:
    title = f"faults push import {name}"
    ids = make_corpus(tmp_path / "corpus", title, DOCS, seed=2)
    via_proxy.inject(match=r"^POST /api/projects/\d+/import", **fault)
    outcome = in_process(lambda: _push(tmp_path / "corpus", batch_size=15))
    if fault["kind"] in ("drop_after", "status_after", "slow"):
        # The server took every batch although no answer came back: push checks, finds them, goes on.
        assert outcome.code == 0, outcome
    else:
        assert_clear_error(outcome, studio_server.token)
        # Half done: the project exists, no batch was taken.
        found = projects_titled(studio_server.url, studio_server.token, title)
        assert len(found) == 1
        assert doc_counts(studio_server.url, studio_server.token, int(found[0]["id"])) == {}
        assert len(via_proxy.requests_matching(r"^POST /api/projects/\d+/import")) == ATTEMPTS
    _count_faults(via_proxy)
    via_proxy.clear()
    assert in_process(lambda: _push(tmp_path / "corpus")).code == 0
    assert_exactly_once(studio_server.url, studio_server.token, title, ids)
    LOG.count(SECTION, "documents checked for loss or duplication", len(ids))


TRANSIENT: list[tuple[str, dict[str, Any]]] = [
    ("every request fails twice with 503", {"kind": "status", "status": 503, "match": "", "times": 2}),
    ("project created, answer lost", {"kind": "drop_after", "match": r"^POST /api/projects/?$", "times": 1}),
    (
        "project created, gateway answers 502",
        {"kind": "status_after", "status": 502, "match": r"^POST /api/projects/?$", "times": 1},
    ),
    ("imports taken, answers lost", {"kind": "drop_after", "match": r"/import", "times": 2}),
    ("an import answer comes too late", {"kind": "slow", "delay": SLOW, "match": r"/import", "times": 1}),
    ("the task list cut off twice", {"kind": "truncate", "match": r"^GET /api/tasks", "times": 2}),
    ("the task list cut short once", {"kind": "short", "match": r"^GET /api/tasks", "times": 1}),
    ("connections drop three times", {"kind": "drop", "match": "", "times": 3}),
]


@pytest.mark.parametrize(("name", "fault"), TRANSIENT, ids=[name for name, _ in TRANSIENT])
def test_push_survives_faults_that_clear(
    name: str, fault: dict[str, Any], via_proxy: FaultProxy, studio_server: StudioServer, tmp_path: Path
) -> None:
    title = f"faults push clears {name}"[:50].strip()
    ids = make_corpus(tmp_path / "corpus", title, DOCS, seed=3)
    via_proxy.inject(**fault)
    outcome = in_process(lambda: _push(tmp_path / "corpus", batch_size=15))
    assert outcome.code == 0, outcome
    assert sum(via_proxy.faults.values()) == fault["times"]
    assert_exactly_once(studio_server.url, studio_server.token, title, ids)
    # A second push finds nothing to do: no duplicate hides behind a retry.
    via_proxy.clear()
    again = push(settings=load_settings(tmp_path / "corpus"), progress=False)
    assert again.created == 0 and not again.plan.duplicates and not again.plan.new
    _count_faults(via_proxy)
    LOG.count(SECTION, "documents checked for loss or duplication", len(ids))


# --- pull --------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pull_project(studio_server: StudioServer) -> AnnotatedProject:
    return make_annotated_project(studio_server.url, studio_server.token, "faults pull project", 60, seed=11)


@pytest.fixture
def pulled(tmp_path: Path, pull_project: AnnotatedProject, studio_server: StudioServer) -> Path:
    """A corpus folder with a complete snapshot of the pull project (pulled directly, no faults)."""
    root = tmp_path / "corpus"
    make_corpus(root, "faults pull project", 0, seed=0)
    pull(
        project=pull_project.id,
        settings=load_settings(root),
        url=studio_server.url,
        token=studio_server.token,
    )
    assert_snapshot_exact(root / "annotations", pull_project.notes)
    return root


def _pull(root: Path, project: int) -> None:
    pull(project=project, settings=load_settings(root))


PULL_LASTING: list[tuple[str, dict[str, Any]]] = [
    ("http 500 on every request", {"kind": "status", "status": 500, "match": ""}),
    ("download dropped", {"kind": "drop", "match": r"/download"}),
    ("download truncated", {"kind": "truncate", "match": r"/download"}),
    ("download cut short with a consistent length", {"kind": "short", "match": r"/download"}),
    ("download too slow", {"kind": "slow", "delay": SLOW, "match": r"/download"}),
]


@pytest.mark.parametrize(("name", "fault"), PULL_LASTING, ids=[name for name, _ in PULL_LASTING])
def test_pull_under_a_lasting_fault_keeps_the_previous_snapshot(
    name: str,
    fault: dict[str, Any],
    via_proxy: FaultProxy,
    pulled: Path,
    pull_project: AnnotatedProject,
    studio_server: StudioServer,
) -> None:
    # New annotations on the server: a pull that got through would change the snapshot.
    rng = random.Random(name)
    add_annotated_tasks(
        studio_server.url, studio_server.token, pull_project, f"lasting-{rng.random():.6f}", 3, rng
    )
    before = snapshot_bytes(pulled / "annotations")
    via_proxy.inject(**fault)
    outcome = in_process(lambda: _pull(pulled, pull_project.id))
    assert_clear_error(outcome, studio_server.token)
    assert snapshot_bytes(pulled / "annotations") == before
    assert leftovers(pulled) == []
    _count_faults(via_proxy)
    via_proxy.clear()
    assert in_process(lambda: _pull(pulled, pull_project.id)).code == 0
    checked = assert_snapshot_exact(pulled / "annotations", pull_project.notes)
    LOG.count(SECTION, "annotations checked for loss or duplication", checked)


def test_cli_pull_ends_with_one_error_line_and_exit_2(
    proxy: FaultProxy, pulled: Path, pull_project: AnnotatedProject, studio_server: StudioServer
) -> None:
    before = snapshot_bytes(pulled / "annotations")
    proxy.inject("truncate", r"/download")
    env = cli_env(proxy.url, studio_server.token)
    result = run_cli(["pull", "--project", str(pull_project.id)], pulled, env)
    assert_one_error_line(result, studio_server.token)
    assert snapshot_bytes(pulled / "annotations") == before
    assert leftovers(pulled) == []
    _count_faults(proxy)


PULL_TRANSIENT: list[tuple[str, dict[str, Any]]] = [
    ("every request fails twice with 502", {"kind": "status", "status": 502, "match": "", "times": 2}),
    ("the download cut off twice", {"kind": "truncate", "match": r"/download", "times": 2}),
    ("the download drops once", {"kind": "drop", "match": r"/download", "times": 1}),
    ("export created, answer lost", {"kind": "drop_after", "match": r"^POST .*/exports", "times": 1}),
]


@pytest.mark.parametrize(("name", "fault"), PULL_TRANSIENT, ids=[name for name, _ in PULL_TRANSIENT])
def test_pull_survives_faults_that_clear(
    name: str,
    fault: dict[str, Any],
    via_proxy: FaultProxy,
    pulled: Path,
    pull_project: AnnotatedProject,
    studio_server: StudioServer,
) -> None:
    rng = random.Random(name)
    add_annotated_tasks(
        studio_server.url, studio_server.token, pull_project, f"clears-{rng.random():.6f}", 3, rng
    )
    via_proxy.inject(**fault)
    assert in_process(lambda: _pull(pulled, pull_project.id)).code == 0
    assert sum(via_proxy.faults.values()) == fault["times"]
    checked = assert_snapshot_exact(pulled / "annotations", pull_project.notes)
    assert leftovers(pulled) == []
    _count_faults(via_proxy)
    LOG.count(SECTION, "annotations checked for loss or duplication", checked)


def test_an_import_the_server_finishes_after_the_client_gave_up_is_healed_by_a_rerun(
    via_proxy: FaultProxy, studio_server: StudioServer, tmp_path: Path
) -> None:
    """The import request reaches the server only after the client's timeout: push sees no tasks,
    imports again, and the late import then lands too. The re-run deletes the unannotated copies."""
    title = "faults push stalled import"
    ids = make_corpus(tmp_path / "corpus", title, DOCS, seed=5)
    via_proxy.inject(kind="stall", delay=SLOW, match=r"/import", times=1)
    first = in_process(lambda: _push(tmp_path / "corpus", batch_size=DOCS))
    time.sleep(SLOW + 1)  # let the held-back import reach the server and finish
    via_proxy.clear()
    assert first.code in (0, 2), first
    healed = push(settings=load_settings(tmp_path / "corpus"), progress=False)
    assert healed.summary()["duplicates"] == []
    # The late import landed after push had imported again: every document had one copy to heal.
    assert healed.deduplicated == len(ids), healed.summary()
    assert_exactly_once(studio_server.url, studio_server.token, title, ids)
    again = push(settings=load_settings(tmp_path / "corpus"), progress=False)
    assert again.created == 0 and again.deduplicated == 0 and not again.plan.copies
    _count_faults(via_proxy)
    LOG.count(SECTION, "documents checked for loss or duplication", len(ids))
