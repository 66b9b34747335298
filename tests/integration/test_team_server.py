"""The team server, started as a research group would start it, on the loopback alias 127.0.0.2.

`corpuskit studio start --team --listen 127.0.0.2:PORT` runs PostgreSQL, Label Studio and Caddy;
only Caddy listens beyond 127.0.0.1, over HTTPS with its own CA, whose file and fingerprint it
prints. Sign-up needs the invite link. An annotator joins by invite over HTTPS, labels the task
the queue gives her, and `pull` returns her answer through HTTPS; `corpuskit studio stop` leaves
no process behind. One server for the module (Label Studio's migrations on PostgreSQL take about
30 s); it is stopped by its recorded pids at the end.
"""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import shutil
import socket
import ssl
import stat
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from test_push_studio import generate_jsonl, make_corpus

from corpuskit.settings import Settings, load_settings
from corpuskit.snapshot import read_snapshot
from corpuskit.studio import caddy, members, processes, server, teamserver
from corpuskit.studio.client import StudioClient, connection
from corpuskit.studio.pull import pull
from corpuskit.studio.push import push
from corpuskit.taxonomy import load_taxonomy, row_to_result

pytestmark = pytest.mark.studio

HOST = "127.0.0.2"
CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")


@dataclass
class Team:
    """The running team server and what `studio start --team` printed."""

    settings: Settings
    data_dir: Path
    port: int
    url: str
    ca_file: Path
    fingerprint: str
    started: subprocess.CompletedProcess[str]
    server: teamserver.TeamServer


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}


def corpuskit(team_root: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        [CORPUSKIT, *args], cwd=team_root, env=_env(), capture_output=True, text=True, check=False
    )
    if check:
        assert done.returncode == 0, done.stderr
    return done


def _free_port(host: str) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def team(monkeypatch_module: pytest.MonkeyPatch) -> Iterator[Team]:
    # Not under pytest's temporary folders: they are private to root, and under root PostgreSQL
    # runs as `postgres`, which must pass through every folder above its cluster.
    base = Path(tempfile.mkdtemp(prefix="teamsrv-"))
    os.chmod(base, 0o755)
    data_dir = base / "studio"
    root = make_corpus(base / "corpus", f"team server {secrets.token_hex(4)}", data_dir, seeds=False)
    generate_jsonl(root / "raw" / "docs.jsonl", 3, seed=19)
    port = _free_port(HOST)
    try:
        started = corpuskit(
            root, "studio", "start", "--team", "--listen", f"{HOST}:{port}", "--timeout", "300"
        )
        out = started.stdout
        ca_file = Path(re.search(r"^CA certificate: (.+)$", out, re.M).group(1))  # type: ignore[union-attr]
        fingerprint = re.search(r"^CA fingerprint \(SHA-256\): (\S+)$", out, re.M).group(1)  # type: ignore[union-attr]
        found = teamserver.status(data_dir)
        assert found is not None and found.all_alive
        yield Team(
            settings=load_settings(root),
            data_dir=data_dir,
            port=port,
            url=f"https://{HOST}:{port}",
            ca_file=ca_file,
            fingerprint=fingerprint,
            started=started,
            server=found,
        )
    finally:
        teamserver.stop(data_dir)
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def monkeypatch_module() -> Iterator[pytest.MonkeyPatch]:
    with pytest.MonkeyPatch.context() as patch:
        # connection() must find the team server, not a server named in the environment.
        patch.delenv("LABEL_STUDIO_URL", raising=False)
        patch.delenv("LABEL_STUDIO_API_KEY", raising=False)
        yield patch


def _listening(pid: int) -> list[str]:
    """Every TCP address `pid` listens on (`ss -ltnpH`)."""
    out = subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout
    return sorted(line.split()[3] for line in out.splitlines() if f"pid={pid}," in line)


def _udp(port: int) -> list[str]:
    out = subprocess.run(["ss", "-lunH"], capture_output=True, text=True, check=True).stdout
    return [line.split()[3] for line in out.splitlines() if line.split()[3].endswith(f":{port}")]


def _verify(ca_file: Path) -> ssl.SSLContext:
    return ssl.create_default_context(cafile=str(ca_file))


def test_start_prints_the_url_the_ca_and_how_to_trust_it(team: Team) -> None:
    out = team.started.stdout
    assert f"the team server is running at {team.url}" in out
    assert team.ca_file == team.data_dir / "caddy" / "pki" / "authorities" / "local" / "root.crt"
    assert "import" in out and "fingerprint" in out
    assert team.server.url == team.url and team.server.listen == f"{HOST}:{team.port}"
    record = json.loads((team.data_dir / server.PID_FILE).read_text(encoding="utf-8"))
    assert record["mode"] == "team" and record["url"] == team.url
    assert set(record["processes"]) == {"postgres", "label-studio", "caddy"}
    assert all(isinstance(p["start_time"], int) for p in record["processes"].values())


def test_only_the_proxy_listens_on_the_team_address(team: Team) -> None:
    pids = {name: entry.pid for name, entry in team.server.processes.items()}
    assert _listening(pids["caddy"]) == [f"{HOST}:{team.port}"]  # no :80, no admin endpoint
    assert _listening(pids["label-studio"]) == [f"127.0.0.1:{team.server.internal_port}"]
    assert team.server.database is not None
    assert _listening(pids["postgres"]) == [f"127.0.0.1:{team.server.database.port}"]
    assert _udp(team.port) == []  # HTTP/3 is off: one TCP port to open in a firewall
    # Only the public name is served: another Host header reaches no Label Studio page.
    other = httpx.get(
        f"{team.url}/user/login/", headers={"Host": "other.example"}, verify=_verify(team.ca_file), timeout=10
    )
    assert other.content == b""


def test_https_is_trusted_with_the_printed_ca_and_only_with_it(team: Team) -> None:
    health = httpx.get(f"{team.url}/health", verify=_verify(team.ca_file), timeout=10)
    assert health.status_code == 200
    with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
        httpx.get(f"{team.url}/health", timeout=10)
    # The certificate names the IP address itself (a SAN of type IP), so browsers accept it.
    with (
        socket.create_connection((HOST, team.port), timeout=10) as raw,
        _verify(team.ca_file).wrap_socket(raw, server_hostname=HOST) as tls,
    ):
        assert ("IP Address", HOST) in tls.getpeercert()["subjectAltName"]  # type: ignore[index, operator]


def test_the_printed_fingerprint_is_the_ca_certificates(team: Team) -> None:
    shown = subprocess.run(
        ["openssl", "x509", "-in", str(team.ca_file), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert shown.strip().split("=", 1)[1] == team.fingerprint == caddy.fingerprint(team.ca_file)


def test_sign_up_without_the_invite_is_refused(team: Team) -> None:
    email = f"intruder-{secrets.token_hex(3)}@example.org"
    with httpx.Client(base_url=team.url, verify=_verify(team.ca_file), timeout=30) as http:
        http.get("/user/signup/")
        token = http.cookies.get("csrftoken")
        assert token
        for query in ("", "?token=not-the-invite"):
            refused = http.post(
                f"/user/signup/{query}",
                data={"email": email, "password": secrets.token_urlsafe(12), "csrfmiddlewaretoken": token},
                headers={"Referer": f"{team.url}/user/signup/", "Origin": team.url},
            )
            assert refused.status_code == 403
    with StudioClient(connection(team.settings)) as client:
        users = client.request("GET", "/api/users", what="list users").json()
    assert email not in {u["email"] for u in users}


def _answer(settings: Settings, task: dict[str, Any]) -> list[dict[str, Any]]:
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    row = {"stance": dict.fromkeys(taxonomy.target_ids, "favor"), "topics": [], "spans": []}
    return row_to_result(taxonomy, row, str(task["data"]["text"]))


@pytest.fixture(scope="module")
def annotator(team: Team) -> Iterator[tuple[str, str]]:
    """An annotator who joined by the invite link `corpuskit studio invite` printed, over HTTPS."""
    invite = corpuskit(team.settings.root, "studio", "invite")
    link = invite.stdout.strip()
    assert link.startswith(f"{team.url}/user/signup/?token=")
    assert str(team.ca_file) in invite.stderr
    email, password = f"annotator-{secrets.token_hex(3)}@example.org", secrets.token_urlsafe(12)
    member = members.sign_up(link, email, password, verify=team.ca_file)
    member.close()
    yield email, password


def test_an_annotator_joins_by_invite_labels_over_https_and_pull_returns_her_answer(
    team: Team, annotator: tuple[str, str], tmp_path: Path
) -> None:
    email, password = annotator
    with StudioClient(connection(team.settings)) as client:
        assert client.conn.team and client.conn.ca_file == team.ca_file
        pushed = push(settings=team.settings, client=client, progress=False)
    project_id = pushed.project_id
    assert project_id is not None and pushed.created == 3
    member = members.log_in(team.url, email, password, verify=team.ca_file)
    try:
        task = member.next_task(project_id)
        assert task is not None
        member.submit(task["id"], project_id, _answer(team.settings, task), lead_time=20.0)
    finally:
        member.close()
    folder = tmp_path / "annotations"
    pulled = pull(project=project_id, out=folder, settings=team.settings)
    assert pulled.counts["annotations"] == 1
    (row,) = read_snapshot(folder).annotations
    assert row["annotator"]["email"] == email
    assert set(row["stance"].values()) == {"favor"}
    status = json.loads(corpuskit(team.settings.root, "studio", "status", "--format", "json").stdout)
    assert (status["url"], status["team"], status["embedded"]) == (team.url, True, False)


@pytest.mark.browser
def test_the_annotator_logs_in_with_a_browser_over_https(
    team: Team, annotator: tuple[str, str], studio_login: Any, playwright_session: Any
) -> None:
    """Secure cookies, the CSRF-trusted origin and the HttpOnly CSRF cookie let a real browser log in."""
    from conftest import CHROMIUM, CHROMIUM_ARGS

    # Chromium trusts the team server's CA for this run only: the intermediate's public key is pinned.
    intermediate = team.ca_file.with_name("intermediate.crt")
    spki = subprocess.run(
        f"openssl x509 -in '{intermediate}' -noout -pubkey | openssl pkey -pubin -outform der",
        shell=True,
        capture_output=True,
        check=True,
    ).stdout
    import hashlib

    pin = base64.b64encode(hashlib.sha256(spki).digest()).decode()
    email, password = annotator
    browser = playwright_session.chromium.launch(
        executable_path=CHROMIUM, args=[*CHROMIUM_ARGS, f"--ignore-certificate-errors-spki-list={pin}"]
    )
    try:
        page = browser.new_context().new_page()
        page.set_default_timeout(30_000)
        studio_login(page, team.url, email, password)
        # Asked from the page itself (Playwright's own request client does not honour the pin).
        whoami = page.evaluate("fetch('/api/current-user/whoami').then(r => r.json())")
        assert whoami["email"] == email
        cookies = {c["name"]: c for c in page.context.cookies(team.url)}
        assert cookies["sessionid"]["secure"] and cookies["csrftoken"]["secure"]
        assert cookies["csrftoken"]["httpOnly"]
    finally:
        browser.close()


def test_the_secrets_stay_private(team: Team) -> None:
    creds = server.load_credentials(team.data_dir)
    db_password = teamserver.load_database_password(team.data_dir)
    assert creds is not None and db_password
    for name in (server.CREDENTIALS_FILE, server.DATABASE_FILE, server.PID_FILE, server.LOG_FILE):
        assert stat.S_IMODE((team.data_dir / name).stat().st_mode) == 0o600, name
    texts = [team.started.stdout, team.started.stderr]
    for path in (
        team.data_dir / server.LOG_FILE,
        team.data_dir / server.PID_FILE,
        team.data_dir / "caddy" / caddy.CADDYFILE,
        team.data_dir / "caddy" / caddy.LOG,
        team.data_dir / "postgres" / "postgres.log",
    ):
        texts.append(path.read_text(encoding="utf-8", errors="replace"))
    for secret in (creds.password, creds.token, db_password):
        assert all(secret not in text for text in texts)


def test_the_embedded_server_is_refused_while_the_team_server_runs(team: Team) -> None:
    refused = corpuskit(team.settings.root, "studio", "start", check=False)
    assert refused.returncode == 2 and "team server is running" in refused.stderr
    moved = corpuskit(team.settings.root, "studio", "start", "--team", "--listen", f"{HOST}:1", check=False)
    assert moved.returncode == 2 and "stop it first" in moved.stderr
    # The same command again starts nothing: it finds the running server and says where it is.
    again = corpuskit(team.settings.root, "studio", "start", "--team", "--listen", f"{HOST}:{team.port}")
    pids = ", ".join(f"{name} pid {entry.pid}" for name, entry in team.server.processes.items())
    assert f"the team server is running at {team.url} ({pids})" in again.stdout


def test_stop_leaves_no_process_behind(team: Team) -> None:
    """Runs last: `corpuskit studio stop` ends Caddy, Label Studio and PostgreSQL by their pids."""
    pids = {name: entry.pid for name, entry in team.server.processes.items()}
    stopped = corpuskit(team.settings.root, "studio", "stop")
    assert f"stopped the team server at {team.url}" in stopped.stdout
    for name, pid in pids.items():
        # A process reparented to this container's init may stay a zombie: it runs no more.
        assert not processes.alive(pid), name
        assert _listening(pid) == []
    assert not (team.data_dir / server.PID_FILE).exists()
    assert server.status(team.data_dir) is None
    gone = corpuskit(team.settings.root, "studio", "status", check=False)
    assert gone.returncode == 2 and "no Label Studio server" in gone.stderr


def test_a_certificate_of_ones_own(team: Team, tmp_path: Path) -> None:
    """After the stop: the same server again with `--cert/--key` (a self-signed certificate for the
    address); corpuskit's own commands trust it through SSL_CERT_FILE, and say so when they do not."""
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-keyout", str(key), "-out", str(cert), "-days", "1", "-subj", f"/CN={HOST}"),
            *("-addext", f"subjectAltName=IP:{HOST}"),
        ],
        capture_output=True,
        check=True,
    )
    listen = f"{HOST}:{team.port}"
    started = corpuskit(
        team.settings.root,
        "studio",
        "start",
        "--team",
        "--listen",
        listen,
        "--cert",
        str(cert),
        "--key",
        str(key),
    )
    assert f"certificate fingerprint (SHA-256): {caddy.fingerprint(cert)}" in started.stdout
    assert "CA certificate" not in started.stdout
    health = httpx.get(f"{team.url}/health", verify=_verify(cert), timeout=10)
    assert health.status_code == 200
    untrusted = corpuskit(team.settings.root, "studio", "status", check=False)
    assert untrusted.returncode == 2 and "TLS certificate is not trusted" in untrusted.stderr
    trusted = subprocess.run(
        [CORPUSKIT, "studio", "status"],
        cwd=team.settings.root,
        env={**_env(), "SSL_CERT_FILE": str(cert)},
        capture_output=True,
        text=True,
        check=False,
    )
    assert trusted.returncode == 0 and "(team server) is up" in trusted.stdout, trusted.stderr
    assert "stopped the team server" in corpuskit(team.settings.root, "studio", "stop").stdout
