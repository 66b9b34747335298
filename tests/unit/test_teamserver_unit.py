"""The team server's parts that need no running server: the listen address, Caddy's configuration,
the fingerprint, Label Studio's settings names, and pid records that must not get a stranger killed."""

from __future__ import annotations

import importlib.util
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from corpuskit.errors import EnvironmentProblem, StudioError, UsageError
from corpuskit.studio import caddy, postgres, server, teamserver

CORPUSKIT = str(Path(sys.executable).parent / "corpuskit")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("127.0.0.2:8443", ("127.0.0.2", 8443)),
        ("annotate.lab.example.org:443", ("annotate.lab.example.org", 443)),
        ("[fd00::5]:8443", ("fd00::5", 8443)),
    ],
)
def test_listen_addresses(text: str, expected: tuple[str, int]) -> None:
    assert teamserver.parse_listen(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("0.0.0.0:8443", "not a wildcard"),
        ("[::]:8443", "not a wildcard"),
        (":8443", "not a wildcard"),
        ("127.0.0.2", "expected HOST:PORT"),
        ("127.0.0.2:0", "expected HOST:PORT"),
        ("127.0.0.2:70000", "expected HOST:PORT"),
        ("bad host!:8443", "neither an IP address nor a host name"),
    ],
)
def test_bad_listen_addresses(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=re.escape(message)):
        teamserver.parse_listen(text)


def test_public_url() -> None:
    assert teamserver.public_url("127.0.0.2", 8443) == "https://127.0.0.2:8443"
    assert teamserver.public_url("annotate.example.org", 443) == "https://annotate.example.org"
    assert teamserver.public_url("fd00::5", 8443) == "https://[fd00::5]:8443"


def _adapt(config: str, tmp_path: Path) -> dict[str, object]:
    path = tmp_path / "Caddyfile"
    path.write_text(config, encoding="utf-8")
    done = subprocess.run(
        ["caddy", "adapt", "--config", str(path), "--adapter", "caddyfile"],
        capture_output=True,
        text=True,
        check=True,
    )
    adapted: dict[str, object] = json.loads(done.stdout)
    return adapted


def test_caddy_serves_https_on_the_listen_address_only(tmp_path: Path) -> None:
    config = caddy.caddyfile(tmp_path / "caddy", "127.0.0.2", 8443, 41000)
    for line in ("admin off", "auto_https disable_redirects", "skip_install_trust", "bind 127.0.0.2"):
        assert line in config
    adapted = json.dumps(_adapt(config, tmp_path))
    assert '"admin": {"disabled": true}' in adapted
    assert '"listen": ["127.0.0.2:8443"]' in adapted and adapted.count('"listen"') == 1
    assert '"protocols": ["h1", "h2"]' in adapted  # no HTTP/3 on UDP
    assert '"install_trust": false' in adapted and '"module": "internal"' in adapted
    assert '"dial": "127.0.0.1:41000"' in adapted


def test_caddy_with_a_given_certificate(tmp_path: Path) -> None:
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    config = caddy.caddyfile(tmp_path / "caddy", "annotate.example.org", 443, 41000, cert, key)
    assert f'tls "{cert}" "{key}"' in config and "tls internal" not in config
    with pytest.raises(UsageError, match="quotes"):
        caddy.caddyfile(tmp_path / 'a"b', "127.0.0.2", 8443, 41000)


def test_the_fingerprint_is_openssls(tmp_path: Path) -> None:
    cert = tmp_path / "cert.pem"
    subprocess.run(
        [
            *("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"),
            *("-keyout", str(tmp_path / "key.pem"), "-out", str(cert), "-days", "1", "-subj", "/CN=test"),
        ],
        capture_output=True,
        check=True,
    )
    shown = subprocess.run(
        ["openssl", "x509", "-in", str(cert), "-noout", "-fingerprint", "-sha256"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert caddy.fingerprint(cert) == shown.strip().split("=", 1)[1]
    (tmp_path / "not.pem").write_text("hello\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no PEM certificate"):
        caddy.fingerprint(tmp_path / "not.pem")


def test_label_studio_reads_every_setting_the_team_server_gives_it() -> None:
    """Each LABEL_STUDIO_<NAME> is a name Label Studio's settings read with get_env (a rename in a
    new Label Studio would otherwise silently reopen sign-up or drop the secure cookies)."""
    spec = importlib.util.find_spec("label_studio")
    assert spec is not None and spec.origin is not None
    source = (Path(spec.origin).parent / "core" / "settings" / "base.py").read_text(encoding="utf-8")
    read = set(re.findall(r"get_(?:bool_)?env(?:_list)?\(\s*'([A-Z_]+)'", source))
    cluster = postgres.Cluster(root=Path("/nowhere"), port=5999, password="pw", pid=1, start_time=None)
    env = teamserver.label_studio_env(cluster, "https://127.0.0.2:8443")
    names = {key.removeprefix("LABEL_STUDIO_") for key in env}
    assert names - read == set()
    assert env["LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK"] == "true"
    assert env["LABEL_STUDIO_HOST"] == env["LABEL_STUDIO_CSRF_TRUSTED_ORIGINS"] == "https://127.0.0.2:8443"


def _team_record(tmp_path: Path, pid: int) -> None:
    server.ensure_credentials(tmp_path)
    entry = {"pid": pid, "start_time": None}
    record = {
        "mode": "team",
        "url": "https://127.0.0.2:8443",
        "host": "127.0.0.2",
        "port": 8443,
        "internal_port": 41000,
        "ca_file": None,
        "certificate": str(tmp_path / "root.crt"),
        "processes": {"postgres": {**entry, "port": 5999}, "label-studio": entry, "caddy": entry},
    }
    server.write_record(tmp_path, record)


def test_stop_leaves_a_foreign_process_alone(tmp_path: Path) -> None:
    """A team record whose pids now belong to some other program gets none of them killed."""
    other = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        _team_record(tmp_path, other.pid)
        found = teamserver.status(tmp_path)
        assert (
            found is not None and not found.any_alive and found.down == ["caddy", "label-studio", "postgres"]
        )
        assert server.status(tmp_path) is None
        assert server.stop(tmp_path) is False
        assert other.poll() is None
        assert not (tmp_path / server.PID_FILE).exists()
    finally:
        other.kill()
        other.wait()


def test_start_refuses_a_folder_with_both_servers_data(tmp_path: Path) -> None:
    # An embedded server's SQLite data alone moves up at the first start (test_team_operations);
    # beside a team server's cluster it is ambiguous which data to keep.
    (tmp_path / server.LS_DATA).mkdir(parents=True)
    (tmp_path / server.LS_DATA / "label_studio.sqlite3").write_bytes(b"")
    (tmp_path / server.POSTGRES_DIR / "data").mkdir(parents=True)
    (tmp_path / server.POSTGRES_DIR / "data" / "PG_VERSION").write_text("15\n", encoding="utf-8")
    with pytest.raises(StudioError, match="holds both an embedded server's data"):
        teamserver.start(tmp_path, "127.0.0.2", 8443, progress=False)
    with pytest.raises(UsageError, match="--cert and --key go together"):
        teamserver.start(tmp_path, "127.0.0.2", 8443, cert=tmp_path / "cert.pem", progress=False)


def test_the_embedded_server_refuses_a_team_servers_folder(tmp_path: Path) -> None:
    (tmp_path / server.POSTGRES_DIR).mkdir()
    with pytest.raises(StudioError, match="holds a team server"):
        server.start(tmp_path, port=server.free_port(), progress=False)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--listen", "127.0.0.2:8443"], "add --team"),
        (["--team"], "--team needs --listen HOST:PORT"),
        (["--team", "--port", "8081", "--listen", "127.0.0.2:8443"], "--port is the embedded server's"),
    ],
)
def test_start_options(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "pyproject.toml").write_text("[tool.corpuskit]\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABEL_STUDIO_")}
    done = subprocess.run(
        [CORPUSKIT, "studio", "start", *args],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2 and message in done.stderr and "Traceback" not in done.stderr


def test_a_cluster_runs_only_under_the_postgresql_that_made_it(tmp_path: Path) -> None:
    (tmp_path / postgres.DATA).mkdir()
    (tmp_path / postgres.DATA / "PG_VERSION").write_text("9\n", encoding="utf-8")
    assert postgres.major_version(tmp_path) == "9"
    with pytest.raises(EnvironmentProblem, match=re.escape("apt-get install postgresql-9")):
        postgres.pg_binary("pg_ctl", postgres.major_version(tmp_path))
