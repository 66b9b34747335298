"""Label Studio SIGKILLed at random points of `corpuskit push` and `corpuskit pull`, in a seeded loop.

One killable server (its own data folder, started from a copy of the session server's migrated
database) runs behind the fault proxy, which SIGKILLs its process group when the k-th request of
a run arrives (k drawn from the number of requests a whole run makes), a few milliseconds into
that request. The CLI run ends (exit 2, one line, or exit 0 when the kill came after the last
answer), the server is restarted on the same data folder, and the run is repeated:

- push: the project holds every valid document exactly once (counted by `doc_id`); the state the
  kill left (no project, a project with some batches, all of them) is recorded;
- pull: a killed pull leaves the previous snapshot byte for byte and no temporary files; the re-run
  writes a snapshot with every annotation exactly once (each annotation carries a unique note).

`CORPUSKIT_FAULT_KILLS` (default 2) sets the kills per command, `CORPUSKIT_FAULT_SEED` the seed;
`scripts/bench.py reliability --n N` runs the loop with N kills each.
"""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import sqlite3
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from corpuskit.settings import load_settings
from corpuskit.studio import server
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push
from support.faultproxy import FaultProxy
from support.faults_helpers import (
    AnnotatedProject,
    add_annotated_tasks,
    assert_exactly_once,
    assert_one_error_line,
    assert_snapshot_exact,
    cli_env,
    client_for,
    doc_counts,
    leftovers,
    make_annotated_project,
    make_corpus,
    projects_titled,
    run_cli,
    snapshot_bytes,
)
from support.reliability_log import LOG, reliability  # noqa: F401 - the fixture

pytestmark = [pytest.mark.studio, pytest.mark.usefixtures("reliability")]

KILLS = int(os.environ.get("CORPUSKIT_FAULT_KILLS", "2"))
SEED = int(os.environ.get("CORPUSKIT_FAULT_SEED", "20241"))
DOCS = 60
BATCH = 10
# Long enough for a loaded machine; a killed server refuses connections at once anyway.
KILL_ENV = {"CORPUSKIT_HTTP_TIMEOUT": "60", "CORPUSKIT_RETRIES": "2", "CORPUSKIT_RETRY_BACKOFF": "0.2"}

PUSH = "studio-kill-push"
PULL = "studio-kill-pull"
LOG.section(
    PUSH,
    title="Label Studio SIGKILLed during `corpuskit push`, restarted, push re-run",
    checks=[
        "the killed push ends with exit 2 and one error line "
        "(or exit 0 if the kill came after its last answer)",
        "the state the kill left has no duplicated document",
        "after a restart on the same data folder and a re-run: one project, "
        "every valid document exactly once",
    ],
)
LOG.section(
    PULL,
    title="Label Studio SIGKILLed during `corpuskit pull`, restarted, pull re-run",
    checks=[
        "the killed pull ends with exit 2 and one error line, the previous snapshot byte-identical, "
        "no temporary files (or exit 0 with a complete new snapshot if the kill came after the last answer)",
        "after a restart and a re-run: a complete snapshot with every annotation exactly once",
    ],
)


@dataclass
class Killable:
    """A Label Studio that tests may SIGKILL and restart on the same data folder and port."""

    data_dir: Path
    port: int
    current: server.StudioServer
    kills: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return self.current.url

    @property
    def token(self) -> str:
        return self.current.token

    def kill(self) -> None:
        """SIGKILL the server's process group (it leads its own session) and reap it."""
        with self._lock:
            pid = self.current.pid
            assert pid is not None and os.getpgid(pid) == pid
            os.killpg(pid, signal.SIGKILL)
            self.kills += 1

    def restart(self) -> None:
        server.stop(self.data_dir)  # reaps the killed process, removes its pid file
        self.current = server.start(self.data_dir, port=self.port, timeout=600.0, progress=False)


def _seed_database(template: Path, data_dir: Path) -> None:
    """Start from a consistent copy of an already migrated database: a fresh one takes minutes."""
    source = template / server.LS_DATA / "label_studio.sqlite3"
    target_dir = data_dir / server.LS_DATA
    target_dir.mkdir(parents=True, mode=0o700)
    with sqlite3.connect(source) as src, sqlite3.connect(target_dir / source.name) as dst:
        src.backup(dst)
    for name in (server.CREDENTIALS_FILE, f"{server.LS_DATA}/.env"):
        if (template / name).exists():
            shutil.copy2(template / name, data_dir / name)


@pytest.fixture(scope="module")
def killable(
    tmp_path_factory: pytest.TempPathFactory, studio_server: server.StudioServer
) -> Iterator[Killable]:
    data_dir = tmp_path_factory.mktemp("killable")
    _seed_database(studio_server.data_dir, data_dir)
    port = server.free_port()
    running = server.start(data_dir, port=port, timeout=600.0, progress=False)
    try:
        yield Killable(data_dir, port, running)
    finally:
        server.stop(data_dir)


def _where(line: str) -> str:
    """A request line with its ids and query left out: where in a run the kill landed."""
    return re.sub(r"\d+", "N", line.split("?", 1)[0])


def _arm(proxy: FaultProxy, target: Killable, k: int, delay: float, landed: list[str]) -> None:
    """SIGKILL the server `delay` seconds after the k-th request of this run arrives."""

    def on_request(index: int, line: str) -> None:
        if index == k:
            landed.append(_where(line))
            threading.Timer(delay, target.kill).start()

    proxy.seen.clear()
    proxy.on_request = on_request


def _kill_count(proxy: FaultProxy) -> None:
    proxy.on_request = None


def test_push_killed_at_random_points_then_rerun(killable: Killable, tmp_path: Path) -> None:
    rng = random.Random(SEED)
    LOG.note(PUSH, "seed", SEED)
    with FaultProxy(killable.url) as proxy:
        # A whole push, to learn how many requests one makes.
        baseline = make_corpus(tmp_path / "baseline", "faults kill push baseline", DOCS, seed=100)
        result = run_cli(
            ["push", "--quiet", "--batch-size", str(BATCH)],
            tmp_path / "baseline",
            cli_env(proxy.url, killable.token, **KILL_ENV),
        )
        assert result.returncode == 0, result.stderr
        assert_exactly_once(killable.url, killable.token, "faults kill push baseline", baseline)
        requests = len(proxy.seen)
        landed: list[str] = []
        states: Counter[str] = Counter()
        left: list[int] = []  # tasks found after each kill that left a project
        for i in range(KILLS):
            title = f"faults kill push {SEED} {i}"
            root = tmp_path / f"corpus{i}"
            ids = make_corpus(root, title, DOCS, seed=200 + i)
            k = rng.randint(1, requests)
            _arm(proxy, killable, k, rng.uniform(0.0, 0.05), landed)
            kills_before = killable.kills
            result = run_cli(
                ["push", "--quiet", "--batch-size", str(BATCH)],
                root,
                cli_env(proxy.url, killable.token, **KILL_ENV),
            )
            _kill_count(proxy)
            assert killable.kills == kills_before + 1, "the server was not killed"
            LOG.count(PUSH, "kills injected")
            if result.returncode != 0:
                assert_one_error_line(result, killable.token)
            killable.restart()
            proxy.upstream = killable.url
            found = projects_titled(killable.url, killable.token, title)
            assert len(found) <= 1
            if not found:
                states["no project yet"] += 1
            else:
                counts = doc_counts(killable.url, killable.token, int(found[0]["id"]))
                assert all(n == 1 for n in counts.values()), counts.most_common(3)
                present = len(counts)
                left.append(present)
                states[
                    "project, no task"
                    if present == 0
                    else "all tasks"
                    if present == len(ids)
                    else "project, some batches"
                ] += 1
            with client_for(killable.url, killable.token) as client:
                push(settings=load_settings(root), client=client, batch_size=BATCH, progress=False)
            assert_exactly_once(killable.url, killable.token, title, ids)
            LOG.count(PUSH, "kills survived")
            LOG.count(PUSH, "documents checked for loss or duplication", len(ids))
        LOG.note(PUSH, "requests in one push", requests)
        LOG.note(PUSH, "where the kills landed", dict(Counter(landed)))
        LOG.note(PUSH, "what a kill left before the re-run", dict(states))
        LOG.note(PUSH, f"tasks found after a kill (of {DOCS}, batches of {BATCH})", sorted(left))


def test_pull_killed_at_random_points_then_rerun(killable: Killable, tmp_path: Path) -> None:
    rng = random.Random(SEED + 1)
    LOG.note(PULL, "seed", SEED + 1)
    project: AnnotatedProject = make_annotated_project(
        killable.url, killable.token, "faults kill pull", 80, seed=SEED
    )
    root = tmp_path / "corpus"
    make_corpus(root, "faults kill pull", 0, seed=0)
    folder = root / "annotations"
    with FaultProxy(killable.url) as proxy:
        env = cli_env(proxy.url, killable.token, **KILL_ENV)
        result = run_cli(["pull", "--project", str(project.id)], root, env)
        assert result.returncode == 0, result.stderr
        assert_snapshot_exact(folder, project.notes)
        requests = len(proxy.seen)
        landed: list[str] = []
        outcomes: Counter[str] = Counter()
        for i in range(KILLS):
            # New annotations since the last snapshot: a pull that got through changes it.
            add_annotated_tasks(killable.url, killable.token, project, f"kill-{SEED}-{i}", 4, rng)
            before = snapshot_bytes(folder)
            k = rng.randint(1, requests)
            _arm(proxy, killable, k, rng.uniform(0.0, 0.05), landed)
            kills_before = killable.kills
            result = run_cli(["pull", "--project", str(project.id)], root, env)
            _kill_count(proxy)
            assert killable.kills == kills_before + 1, "the server was not killed"
            LOG.count(PULL, "kills injected")
            if result.returncode == 0:
                # The kill came after the export was in: the new snapshot must be whole.
                assert_snapshot_exact(folder, project.notes)
                outcomes["pull finished before the kill mattered"] += 1
            else:
                assert_one_error_line(result, killable.token)
                assert snapshot_bytes(folder) == before
                outcomes["previous snapshot kept"] += 1
            assert leftovers(root) == []
            killable.restart()
            proxy.upstream = killable.url
            pull(project=project.id, settings=load_settings(root), url=killable.url, token=killable.token)
            checked = assert_snapshot_exact(folder, project.notes)
            LOG.count(PULL, "kills survived")
            LOG.count(PULL, "annotations checked for loss or duplication", checked)
        LOG.note(PULL, "requests in one pull", requests)
        LOG.note(PULL, "where the kills landed", dict(Counter(landed)))
        LOG.note(PULL, "what a kill left before the re-run", dict(outcomes))
