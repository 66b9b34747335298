"""The embedded Label Studio: bound to 127.0.0.1 only, private credentials, stop ends only its own process."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from corpuskit.studio import server
from corpuskit.studio.server import StudioServer


def _listening(port: int) -> list[str]:
    out = subprocess.run(["ss", "-ltnH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.split()[3].endswith(f":{port}")]


def test_server_listens_on_loopback_only(studio_server: StudioServer) -> None:
    port = int(studio_server.url.rsplit(":", 1)[1])
    assert _listening(port) == [f"127.0.0.1:{port}"]


def test_health_and_token_work(studio_server: StudioServer) -> None:
    assert server.is_healthy(studio_server.url)
    request = urllib.request.Request(
        f"{studio_server.url}/api/current-user/whoami",
        headers={"Authorization": f"Token {studio_server.token}"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response)["email"] == studio_server.username


def test_credentials_are_private_and_stable(studio_server: StudioServer) -> None:
    path = studio_server.data_dir / server.CREDENTIALS_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert len(studio_server.token) == 40 and int(studio_server.token, 16) >= 0
    again = server.ensure_credentials(studio_server.data_dir)
    assert (again.token, again.password) == (studio_server.token, studio_server.password)


def test_status_finds_the_running_server(studio_server: StudioServer) -> None:
    found = server.status(studio_server.data_dir)
    assert found is not None
    assert (found.pid, found.url) == (studio_server.pid, studio_server.url)


def test_secrets_stay_out_of_log_and_repr(studio_server: StudioServer) -> None:
    log = (studio_server.data_dir / server.LOG_FILE).read_text(encoding="utf-8", errors="replace")
    assert "Starting development server" in log
    for secret in (studio_server.token, studio_server.password):
        assert secret not in log
        assert secret not in repr(studio_server)


def test_stop_leaves_a_foreign_process_alone(tmp_path: Path) -> None:
    """A stale pid file that points at some other process must not get it killed."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (tmp_path / server.PID_FILE).write_text(json.dumps({"pid": other.pid, "port": 1, "start_time": None}))
        assert server.stop(tmp_path) is False
        assert other.poll() is None
        assert not (tmp_path / server.PID_FILE).exists()
    finally:
        other.kill()
        other.wait()


def test_status_without_a_server(tmp_path: Path) -> None:
    assert server.status(tmp_path) is None
    assert server.stop(tmp_path) is False


@pytest.mark.browser
def test_admin_can_log_in(studio_server: StudioServer, chromium_page: Any, studio_login: Any) -> None:
    studio_login(chromium_page, studio_server.url, studio_server.username, studio_server.password)
    whoami = chromium_page.request.get(f"{studio_server.url}/api/current-user/whoami")
    assert whoami.ok
    assert whoami.json()["email"] == studio_server.username


def test_a_second_corpus_starts_on_the_next_free_port_and_later_commands_find_it(
    tmp_path: Path, studio_server: StudioServer
) -> None:
    """Another corpus's server holds the port this corpus used last: `studio start` takes the next
    free one, says so, records it, and `studio status` (a later command) finds it there."""
    taken = int(studio_server.url.rsplit(":", 1)[1])
    root = tmp_path / "second"
    data_dir = root / ".corpuskit" / "studio"
    data_dir.mkdir(parents=True)
    (data_dir / server.PORT_FILE).write_text(f"{taken}\n", encoding="utf-8")
    (root / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    corpuskit = str(Path(sys.executable).parent / "corpuskit")
    try:
        started = subprocess.run(
            [corpuskit, "studio", "start", "--timeout", "300"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=False,
        )
        assert started.returncode == 0, started.stderr
        assert f"port {taken} on 127.0.0.1 is taken" in started.stderr
        running = server.status(data_dir)
        assert running is not None and running.url != studio_server.url
        port = int(running.url.rsplit(":", 1)[1])
        assert f"running at {running.url}" in started.stdout
        assert (data_dir / server.PORT_FILE).read_text(encoding="utf-8").strip() == str(port)
        shown = subprocess.run(
            [corpuskit, "studio", "status", "--format", "json"],
            cwd=root,
            env=env,
            capture_output=True,
            text=True,
            check=True,
        )
        assert json.loads(shown.stdout)["url"] == running.url
        assert server.is_healthy(studio_server.url)  # the first corpus's server is untouched
    finally:
        server.stop(data_dir)
