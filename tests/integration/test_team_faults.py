"""Label Studio SIGKILLed on the team server while annotators submit through the queue over HTTPS.

Two members keep labelling from the queue (through Caddy, trusting the server's own CA); at seeded
random moments Label Studio's process group is killed with SIGKILL, the team server is restarted
on the same folder, and the members carry on. At the end every answer the server acknowledged is
pulled exactly once, and no member has two answers on one document: a kill loses nothing that was
confirmed and doubles nothing. `CORPUSKIT_FAULT_KILLS` (default 2) and `CORPUSKIT_FAULT_SEED` set
the loop, as for the embedded server's kill loop (tests/integration/test_faults_kill.py).
"""

from __future__ import annotations

import os
import random
import secrets
import shutil
import signal
import socket
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest
from test_push_studio import generate_jsonl, make_corpus
from test_team_studio import _answer

from corpuskit.errors import StudioError
from corpuskit.settings import Settings, load_settings
from corpuskit.snapshot import read_snapshot
from corpuskit.studio import server, teamserver
from corpuskit.studio.client import StudioClient, connection
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.members import Member, log_in, sign_up
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push

pytestmark = pytest.mark.studio

HOST = "127.0.0.2"
KILLS = int(os.environ.get("CORPUSKIT_FAULT_KILLS", "2"))
SEED = int(os.environ.get("CORPUSKIT_FAULT_SEED", "20241"))


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class Annotator(threading.Thread):
    """Labels from the queue until it is empty; survives the server going away and coming back."""

    def __init__(
        self, url: str, email: str, password: str, ca: Path, settings: Settings, project: int
    ) -> None:
        super().__init__(daemon=True)
        self.url, self.email, self.password, self.ca = url, email, password, ca
        self.settings, self.project = settings, project
        self.acknowledged: list[tuple[int, int]] = []  # (task id, annotation id) the server confirmed
        self.failures = 0
        self.stop = threading.Event()
        self.member: Member | None = None

    def _session(self) -> Member:
        if self.member is None:
            self.member = log_in(self.url, self.email, self.password, verify=self.ca)
        return self.member

    def run(self) -> None:
        try:
            self._label()
        finally:
            if self.member is not None:
                self.member.close()

    def _label(self) -> None:
        deadline = time.monotonic() + 600
        while not self.stop.is_set() and time.monotonic() < deadline:
            try:
                member = self._session()
                task = member.next_task(self.project)
                if task is None:
                    return
                answer = _answer(self.settings, task, "neutral")
                self.acknowledged.append((task["id"], member.submit(task["id"], self.project, answer, 9.0)))
            except (StudioError, httpx.HTTPError, KeyError, ValueError):
                # The server is down or restarting: an answer it did not confirm may or may not have
                # been stored; the queue decides what comes next once it is back.
                self.failures += 1
                if self.member is not None:
                    self.member.close()
                    self.member = None
                time.sleep(0.5)


def test_label_studio_killed_while_annotators_submit_over_https(tmp_path: Path) -> None:
    rng = random.Random(SEED)
    base = Path(tempfile.mkdtemp(prefix="teamfaults-"))
    os.chmod(base, 0o755)
    data_dir = base / "studio"
    root = make_corpus(base / "corpus", f"team faults {secrets.token_hex(3)}", data_dir, seeds=False)
    generate_jsonl(root / "raw" / "docs.jsonl", 30, seed=31)
    settings = load_settings(root)
    port = _free_port(HOST)
    try:
        team = teamserver.start(data_dir, HOST, port, timeout=300.0, progress=False)
        ca = team.ca_file
        assert ca is not None
        with StudioClient(connection(settings)) as client:
            project_id = push(settings=settings, client=client, progress=False).project_id
            assert project_id is not None
            link = Gateway(client).users.invite_link()
        people = [
            (f"fault{i}-{secrets.token_hex(3)}@example.org", secrets.token_urlsafe(12)) for i in range(2)
        ]
        for email, password in people:
            sign_up(link, email, password, verify=ca).close()
        annotators = [Annotator(team.url, e, p, ca, settings, project_id) for e, p in people]
        for annotator in annotators:
            annotator.start()
        kills = 0
        for _ in range(KILLS):
            time.sleep(rng.uniform(0.3, 2.0))
            running = teamserver.status(data_dir)
            assert running is not None
            ls = running.processes[teamserver.LABEL_STUDIO]
            if not any(a.is_alive() for a in annotators):
                break
            os.killpg(ls.pid, signal.SIGKILL)  # kill -9, children included
            kills += 1
            teamserver.stop(data_dir)  # the proxy and the database, cleanly
            teamserver.start(data_dir, HOST, port, timeout=300.0, progress=False)
        for annotator in annotators:
            annotator.join(timeout=600)
            assert not annotator.is_alive()
        assert kills >= 1
        out = base / "annotations"
        pull(project=project_id, out=out, settings=settings)
        rows = read_snapshot(out).annotations
    finally:
        for annotator in locals().get("annotators", []):
            annotator.stop.set()
        teamserver.stop(data_dir)
        server.stop(data_dir)
        shutil.rmtree(base, ignore_errors=True)
    pulled = Counter(row["annotation_id"] for row in rows)
    confirmed = [ann for a in annotators for _, ann in a.acknowledged]
    assert confirmed and all(pulled[ann] == 1 for ann in confirmed), (
        "a confirmed answer is missing or doubled"
    )
    per_member = Counter((row["document_id"], row["annotator"]["id"]) for row in rows)
    assert max(per_member.values()) == 1, "a member answered one document twice"
    # The queue picked up after each kill: every document was labelled, none past its two
    # annotators. A kill between an answer and the release of its task lock leaves the lock until
    # it expires, and the document waits for its second annotator until then: at most one such
    # document per member and kill.
    per_doc = Counter(row["document_id"] for row in rows)
    assert len(per_doc) == 30 and set(per_doc.values()) <= {1, 2}
    assert sum(1 for n in per_doc.values() if n < 2) <= kills * len(annotators)
    assert sum(a.failures for a in annotators) >= 1  # the kills were felt
