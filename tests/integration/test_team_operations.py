"""A team server's life, on real servers: a corpus that began on the embedded server moves up to the
team server with every annotation and author; the team server is backed up while an annotator
labels over HTTPS; the backup restores into a fresh folder whose server pulls the same tables; a
restore never goes over a running server.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest
from test_backup_studio import TABLES, _label
from test_push_studio import generate_jsonl, make_corpus

from corpuskit.settings import load_settings
from corpuskit.studio import postgres, server, teamserver
from corpuskit.studio.backup import read_manifest
from corpuskit.studio.client import Connection, StudioClient
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.members import log_in, sign_up
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push

pytestmark = pytest.mark.studio

HOST = "127.0.0.2"
CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def _run(root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    done = subprocess.run([CORPUSKIT, *args], cwd=root, env=env, capture_output=True, text=True, check=False)
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _same_tables(a: Path, b: Path) -> None:
    for name in TABLES:
        assert (a / f"{name}.jsonl").read_bytes() == (b / f"{name}.jsonl").read_bytes(), name


def test_move_up_back_up_while_labelling_restore_and_pull_the_same(tmp_path: Path) -> None:
    # Not under pytest's private temporary folders: the cluster runs as `postgres` under root.
    base = Path(tempfile.mkdtemp(prefix="teamops-"))
    os.chmod(base, 0o755)
    data_dir = base / "studio"
    restored_dir = base / "restored"
    root = make_corpus(base / "corpus", f"team ops {secrets.token_hex(3)}", data_dir, seeds=False)
    generate_jsonl(root / "raw" / "docs.jsonl", 8, seed=23)
    settings = load_settings(root)
    people = [(f"op{i}-{secrets.token_hex(3)}@example.org", secrets.token_urlsafe(12)) for i in range(2)]
    try:
        # 1. The corpus begins on the embedded server: two annotators label three documents each.
        embedded = server.start(data_dir, port=server.free_port(), timeout=300.0, progress=False)
        try:
            with StudioClient(Connection(embedded.url, embedded.token)) as client:
                project_id = push(settings=settings, client=client, progress=False).project_id
                assert project_id is not None
                link = Gateway(client).users.invite_link()
            for email, password in people:
                member = sign_up(link, email, password)
                try:
                    assert _label(member, settings, project_id, 3) == 3
                finally:
                    member.close()
            before = pull(project=project_id, out=base / "before", settings=settings)
            assert before.counts["annotations"] == 6
        finally:
            server.stop(data_dir)

        # 2. Moving up: the team server starts on the same folder and takes every row along.
        port = _free_port(HOST)
        started = _run(root, "studio", "start", "--team", "--listen", f"{HOST}:{port}", "--timeout", "300")
        assert "moved 3 accounts, 1 projects, 8 tasks, 6 annotations" in started.stderr
        assert "not moved: log-in sessions" in started.stderr
        ca_file = Path(re.search(r"^CA certificate: (.+)$", started.stdout, re.M).group(1))  # type: ignore[union-attr]
        team = teamserver.status(data_dir)
        assert team is not None and team.all_alive
        moved = pull(project=project_id, out=base / "moved", settings=settings)
        _same_tables(base / "moved", base / "before")
        status = json.loads(_run(root, "status", "--format", "json").stdout)
        assert status["project"]["server_kind"] == "team server"
        assert status["project"]["server"] == f"https://{HOST}:{port}"

        # 3. A backup while an annotator labels over HTTPS (pg_dump: one consistent snapshot).
        email, password = people[0]
        member = log_in(team.url, email, password, verify=ca_file)
        try:
            labelling = threading.Thread(target=_label, args=(member, settings, project_id, 5))
            labelling.start()
            busy = _run(root, "studio", "backup", str(base / "busy.tar.gz"), "--format", "json")
            labelling.join()
        finally:
            member.close()
        assert json.loads(busy.stdout)["mode"] == "team"
        manifest = read_manifest(base / "busy.tar.gz")
        assert "database/labelstudio.dump" in manifest["files"] and "database.json" in manifest["files"]
        assert not any(name.startswith("postgres/") for name in manifest["files"])
        assert moved.counts["annotations"] == 6

        # A restore never goes over the running server.
        refused = _run(
            root, "studio", "restore", str(base / "busy.tar.gz"), "--into", str(data_dir), check=False
        )
        assert refused.returncode == 2 and "running" in refused.stderr

        # The busy backup restores into a consistent database: the six moved answers and whatever
        # the annotator had submitted at that instant.
        busy_dir = base / "busy-restored"
        _run(root, "studio", "restore", str(base / "busy.tar.gz"), "--into", str(busy_dir))
        db_password = teamserver.load_database_password(busy_dir)
        assert db_password is not None
        cluster = postgres.start(busy_dir / server.POSTGRES_DIR, server.free_port(), db_password)
        try:
            sql = (
                "SELECT count(*) FROM task_completion c JOIN task t ON c.task_id = t.id WHERE t.project_id = "
            )
            count = int(cluster.query(f"{sql}{project_id}"))
        finally:
            postgres.stop(cluster.recorded())
        assert 6 <= count <= 11

        # 4. Once the labelling stopped: pull, back up, restore into a fresh folder, start, pull.
        after_labelling = pull(project=project_id, out=base / "quiet-before", settings=settings)
        assert after_labelling.counts["annotations"] == 11  # 6 moved, 5 more over HTTPS
        _run(root, "studio", "backup", str(base / "quiet.tar"))
        _run(root, "studio", "restore", str(base / "quiet.tar"), "--into", str(restored_dir))
        teamserver.stop(data_dir)
        again = teamserver.start(restored_dir, HOST, _free_port(HOST), timeout=300.0, progress=False)
        try:
            assert again.all_alive and again.fingerprint == team.fingerprint  # the same CA: trust survives
            # Found through the restored folder's record, with its CA, as `corpuskit pull` finds it.
            restored = pull(
                project=project_id,
                out=base / "quiet-after",
                settings=dataclasses.replace(settings, studio_dir=str(restored_dir)),
            )
        finally:
            teamserver.stop(restored_dir)
        assert restored.counts == after_labelling.counts
        _same_tables(base / "quiet-after", base / "quiet-before")
    finally:
        teamserver.stop(data_dir)
        teamserver.stop(restored_dir)
        server.stop(data_dir)
        shutil.rmtree(base, ignore_errors=True)
