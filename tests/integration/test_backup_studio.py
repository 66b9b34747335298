"""Backup and restore of a corpus's Label Studio, on a real embedded server (SQLite).

A backup of a server that has settled, restored into a fresh folder and started, gives a pull whose
tables are byte for byte those of the original; a backup taken while an annotator keeps submitting
is a consistent database; a restore refuses a running server, a folder in use, and a damaged archive.
"""

from __future__ import annotations

import json
import secrets
import sqlite3
import subprocess
import sys
import tarfile
import threading
from pathlib import Path
from typing import Any

import pytest
from test_push_studio import generate_jsonl, make_corpus
from test_team_studio import _answer

from corpuskit.errors import DataError, UsageError
from corpuskit.studio import server
from corpuskit.studio.backup import FORMAT, MANIFEST, SQLITE_NAME, backup, read_manifest, restore
from corpuskit.studio.client import Connection, StudioClient
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.members import Member, sign_up
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push
from corpuskit.studio.server import StudioServer

CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")
TABLES = ("tasks", "annotations", "drafts", "predictions", "problems")

pytestmark = pytest.mark.studio


def _label(member: Member, settings: Any, project_id: int, n: int) -> int:
    done = 0
    while done < n:
        task = member.next_task(project_id)
        if task is None:
            break
        member.submit(task["id"], project_id, _answer(settings, task, "against"), 15.0)
        done += 1
    return done


def _tables(folder: Path) -> dict[str, bytes]:
    return {name: (folder / f"{name}.jsonl").read_bytes() for name in TABLES}


def test_backup_restore_and_pull_give_the_same_snapshot(tmp_path: Path, studio_server: StudioServer) -> None:
    from corpuskit.settings import load_settings

    title = f"backup {secrets.token_hex(4)}"
    root = make_corpus(tmp_path / "corpus", title, studio_server.data_dir, seeds=False)
    generate_jsonl(root / "raw" / "docs.jsonl", 12, seed=3)
    settings = load_settings(root)
    with StudioClient(Connection(studio_server.url, studio_server.token)) as client:
        project_id = push(settings=settings, client=client, progress=False).project_id
        assert project_id is not None
        link = Gateway(client).users.invite_link()
    tag = secrets.token_hex(3)
    alice = sign_up(link, f"alice-{tag}@example.org", secrets.token_urlsafe(12))
    bob = sign_up(link, f"bob-{tag}@example.org", secrets.token_urlsafe(12))
    try:
        assert _label(alice, settings, project_id, 4) == 4
        # A backup while Bob keeps labelling: the SQLite copy is one consistent state.
        labelling = threading.Thread(target=_label, args=(bob, settings, project_id, 8))
        labelling.start()
        busy = backup(studio_server.data_dir, tmp_path / "busy.tar.gz")
        labelling.join()
    finally:
        alice.close()
        bob.close()
    assert busy.mode == "embedded" and busy.path.stat().st_mode & 0o777 == 0o600
    busy_restored = restore(busy.path, tmp_path / "busy-restored")
    db = sqlite3.connect(busy_restored.folder / server.LS_DATA / SQLITE_NAME)
    try:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        (count,) = db.execute(
            "SELECT count(*) FROM task_completion c JOIN task t ON c.task_id = t.id WHERE t.project_id = ?",
            (project_id,),
        ).fetchone()
    finally:
        db.close()
    assert 4 <= count <= 12  # Alice's four, and whatever Bob had submitted at that instant

    before = pull(project=project_id, out=tmp_path / "before", settings=settings)
    assert before.counts["annotations"] == 12
    quiet = backup(studio_server.data_dir, tmp_path / "quiet.tar")
    manifest = read_manifest(quiet.path)
    assert manifest["format"] == FORMAT and "database/label_studio.sqlite3" in manifest["files"]
    assert "credentials.json" in manifest["files"] and "server.json" not in manifest["files"]
    with tarfile.open(quiet.path) as tar:
        assert tar.getnames()[-1] == MANIFEST

    restored_dir = tmp_path / "restored" / "studio"
    restore(quiet.path, restored_dir)
    assert (restored_dir / server.CREDENTIALS_FILE).stat().st_mode & 0o777 == 0o600
    running = server.start(restored_dir, port=server.free_port(), timeout=300.0, progress=False)
    try:
        # The same admin token works: the credentials travelled with the backup.
        assert running.token == studio_server.token and running.url != studio_server.url
        after = pull(
            project=project_id,
            out=tmp_path / "after",
            settings=settings,
            url=running.url,
            token=running.token,
        )
    finally:
        server.stop(restored_dir)
    assert after.counts == before.counts
    assert _tables(tmp_path / "after") == _tables(tmp_path / "before")
    meta_before = json.loads((tmp_path / "before" / "snapshot.json").read_text(encoding="utf-8"))
    meta_after = json.loads((tmp_path / "after" / "snapshot.json").read_text(encoding="utf-8"))
    assert meta_after["files"] == meta_before["files"]


def test_restore_refuses_a_running_server_a_used_folder_and_a_damaged_archive(
    tmp_path: Path, studio_server: StudioServer
) -> None:
    archive = backup(studio_server.data_dir, tmp_path / "b.tar").path
    with pytest.raises(UsageError, match="running"):
        restore(archive, studio_server.data_dir)
    used = tmp_path / "used"
    used.mkdir()
    (used / "keep.txt").write_text("mine", encoding="utf-8")
    with pytest.raises(UsageError, match="not empty"):
        restore(archive, used)
    assert [p.name for p in used.iterdir()] == ["keep.txt"]
    with pytest.raises(UsageError, match="already exists"):
        backup(studio_server.data_dir, archive)

    # One byte changed inside a member: the checksum catches it, nothing is left behind.
    data = bytearray(archive.read_bytes())
    with tarfile.open(archive) as tar:
        member = tar.getmember("database/label_studio.sqlite3")
        offset = member.offset_data + member.size // 2
    data[offset] ^= 0xFF
    damaged = tmp_path / "damaged.tar"
    damaged.write_bytes(bytes(data))
    target = tmp_path / "fresh"
    with pytest.raises(DataError, match=r"database/label_studio\.sqlite3: SHA-256 does not match"):
        restore(damaged, target)
    assert not target.exists() and not any(p.name.startswith(".fresh.restore-") for p in tmp_path.iterdir())

    # On the command line: one line, exit 1 for damaged data, 2 for a refused target.
    run = subprocess.run(
        [CORPUSKIT, "studio", "restore", str(damaged), "--into", str(target)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 1 and "SHA-256 does not match" in run.stderr and "Traceback" not in run.stderr
    run = subprocess.run(
        [CORPUSKIT, "studio", "restore", str(archive), "--into", str(used)],
        capture_output=True,
        text=True,
        check=False,
        cwd=tmp_path,
    )
    assert run.returncode == 2 and "not empty" in run.stderr
