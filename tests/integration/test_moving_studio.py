"""Moving up: an annotated embedded server (SQLite) moved into PostgreSQL keeps every task,
annotation and author, on real servers: the pull before and the pull after are the same tables."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path
from unittest import mock

import pytest
from test_backup_studio import TABLES, _label
from test_push_studio import generate_jsonl, make_corpus

from corpuskit.settings import load_settings
from corpuskit.studio import server
from corpuskit.studio.client import Connection, StudioClient
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.members import log_in, sign_up
from corpuskit.studio.moving import MOVED_SUFFIX, move_up
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push
from support.postgres import query, start_cluster, stop_cluster

pytestmark = pytest.mark.studio


def test_an_annotated_embedded_server_moves_to_postgresql_with_every_author(tmp_path: Path) -> None:
    data_dir = tmp_path / "studio"
    root = make_corpus(tmp_path / "corpus", f"moving {secrets.token_hex(3)}", data_dir, seeds=False)
    generate_jsonl(root / "raw" / "docs.jsonl", 6, seed=5)
    settings = load_settings(root)
    running = server.start(data_dir, port=server.free_port(), timeout=300.0, progress=False)
    people = [(f"mover{i}-{secrets.token_hex(3)}@example.org", secrets.token_urlsafe(12)) for i in range(2)]
    try:
        with StudioClient(Connection(running.url, running.token)) as client:
            project_id = push(settings=settings, client=client, progress=False).project_id
            assert project_id is not None
            link = Gateway(client).users.invite_link()
        members = [sign_up(link, email, password) for email, password in people]
        try:
            for member in members:
                assert _label(member, settings, project_id, 6) == 6
        finally:
            for member in members:
                member.close()
        before = pull(project=project_id, out=tmp_path / "before", settings=settings)
        assert before.counts["annotations"] == 12
    finally:
        server.stop(data_dir)

    cluster = start_cluster(server.free_port())
    try:
        creds = server.load_credentials(data_dir)
        assert creds is not None
        embedded_env = server._server_env(data_dir.resolve(), creds)
        database = data_dir / server.LS_DATA / "label_studio.sqlite3"
        report = move_up(embedded_env, {**embedded_env, **cluster.env()}, database, tmp_path)
        assert report.count("tasks.task") == 6 and report.count("tasks.annotation") == 12
        assert report.count("users.user") == 3  # the admin and the two annotators
        assert "sessions" in report.not_moved and "logs in again" in report.summary()
        assert not database.exists() and database.with_name(database.name + MOVED_SUFFIX).is_file()
        with mock.patch.dict(os.environ, cluster.env()):
            moved = server.start(data_dir, port=server.free_port(), timeout=300.0, progress=False)
        try:
            assert not database.exists()  # Label Studio runs on PostgreSQL, not on a new SQLite file
            emails = query(cluster, "SELECT email FROM htx_user").split()
            assert all(email in emails for email, _ in people)
            after = pull(
                project=project_id,
                out=tmp_path / "after",
                settings=settings,
                url=moved.url,
                token=moved.token,
            )
            # The annotators' own passwords still work, and their queues are empty: the work moved.
            for email, password in people:
                member = log_in(moved.url, email, password)
                try:
                    assert member.next_task(project_id) is None
                finally:
                    member.close()
            # The sequences were reset: the moved server takes new work without id clashes.
            with StudioClient(Connection(moved.url, moved.token)) as client:
                (root / "raw" / "more.jsonl").write_text(
                    "".join(
                        json.dumps(
                            {
                                "id": f"after-move-{i}",
                                "title": f"Written after the move {i}",
                                "paragraphs": [
                                    {"heading": None, "text": " ".join([f"A new story number {i}."] * 20)}
                                ],
                            }
                        )
                        + "\n"
                        for i in range(2)
                    ),
                    encoding="utf-8",
                )
                more = push(settings=settings, client=client, progress=False)
                assert more.created == 2
        finally:
            server.stop(data_dir)
    finally:
        stop_cluster(cluster)
    assert after.counts == before.counts
    for name in TABLES:
        assert (tmp_path / "after" / f"{name}.jsonl").read_bytes() == (
            tmp_path / "before" / f"{name}.jsonl"
        ).read_bytes(), name
