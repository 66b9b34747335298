"""The team server: Label Studio on PostgreSQL behind a TLS reverse proxy, invite-only, at one
address a research group can reach (`corpuskit studio start --team --listen HOST:PORT`).

Three processes, all started, recorded and stopped by corpuskit:

- PostgreSQL (`postgres`), on 127.0.0.1 and a free port, its cluster in `postgres/`;
- Label Studio, on 127.0.0.1 and a free port, its media and uploads in `label-studio/`, told its
  public URL (host, CSRF-trusted origin, CORS origin) with secure cookies and sign-up by invite
  link only;
- Caddy (`caddy`), the only one listening beyond the machine: HTTPS on HOST:PORT, with its own CA
  (`caddy/pki/authorities/local/root.crt`) or the certificate given.

The studio folder (default `.corpuskit/studio/`) also holds `credentials.json` (the admin, 0600),
`database.json` (the PostgreSQL password, 0600), `server.log` (Label Studio's output) and
`server.json`: mode `team`, the pid and start time of each process, the internal port, the
listen address and the public URL. `stop` signals only those pids, and only while each is still
the program corpuskit started at that time.
"""

from __future__ import annotations

import ipaddress
import json
import os
import secrets
import socket
import ssl
import subprocess
import sys
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from corpuskit.errors import EnvironmentProblem, StudioError, UsageError
from corpuskit.studio import caddy, postgres, processes, server
from corpuskit.studio.server import StudioServer

POSTGRES = "postgres"
LABEL_STUDIO = "label-studio"
CADDY = "caddy"
# Stopped in this order: the proxy first (no new requests), the database last.
ORDER = (CADDY, LABEL_STUDIO, POSTGRES)
MARKERS: dict[str, bytes | tuple[bytes, ...]] = {
    POSTGRES: postgres.MARKER,
    LABEL_STUDIO: server.LABEL_STUDIO_MARKER,
    CADDY: caddy.MARKER,
}
_WILDCARDS = {"", "0.0.0.0", "::", "*"}


@dataclass(frozen=True)
class TeamServer:
    """A team server recorded in a studio folder, and which of its processes still run."""

    server: StudioServer  # the public URL, the admin's credentials and the CA to trust
    host: str
    port: int
    internal_port: int
    # The certificate whose fingerprint annotators compare: the CA's root, or the one given.
    certificate: Path
    processes: Mapping[str, processes.Recorded]
    alive: Mapping[str, bool]
    database: postgres.Cluster | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        return self.server.url

    @property
    def ca_file(self) -> Path | None:
        return self.server.ca_file

    @property
    def listen(self) -> str:
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"

    @property
    def any_alive(self) -> bool:
        return any(self.alive.values())

    @property
    def all_alive(self) -> bool:
        return all(self.alive.get(name, False) for name in ORDER)

    @property
    def down(self) -> list[str]:
        return [name for name in ORDER if not self.alive.get(name, False)]

    @property
    def fingerprint(self) -> str:
        return caddy.fingerprint(self.certificate)


def public_url(host: str, port: int) -> str:
    """The address annotators open: `https://HOST:PORT`, without `:443`."""
    name = f"[{host}]" if ":" in host else host
    return f"https://{name}" if port == 443 else f"https://{name}:{port}"


def parse_listen(text: str) -> tuple[str, int]:
    """`HOST:PORT` (`[v6]:PORT` for an IPv6 address) as (host, port); a UsageError otherwise."""
    head, sep, tail = text.strip().rpartition(":")
    host = head[1:-1] if head.startswith("[") and head.endswith("]") else head
    if not sep or not tail.isdigit() or not 0 < int(tail) < 65536:
        raise UsageError(f"--listen {text!r}: expected HOST:PORT, e.g. 192.168.1.20:8443")
    return check_host(host), int(tail)


def check_host(host: str) -> str:
    """The host the server binds to and its certificate names: an address or a name annotators
    use, never a wildcard (the URL and the certificate need one name)."""
    if host in _WILDCARDS:
        raise UsageError(
            f"--listen {host or '(empty)'}: give the address or host name annotators will open "
            "(the server binds to it and its certificate names it), not a wildcard"
        )
    try:
        ipaddress.ip_address(host)
    except ValueError:
        if not all(part and (part.replace("-", "").isalnum()) for part in host.split(".")):
            raise UsageError(f"--listen: {host!r} is neither an IP address nor a host name") from None
    return host


def _check_listen_free(host: str, port: int) -> None:
    """Refuse before starting anything when HOST:PORT cannot be listened on (taken, not ours)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise StudioError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(address)
        except OSError as exc:
            raise StudioError(f"cannot listen on {host}:{port}: {exc.strerror}") from None


def load_database_password(data_dir: Path) -> str | None:
    """The PostgreSQL superuser's password from `database.json`, or None before the first start."""
    path = Path(data_dir) / server.DATABASE_FILE
    try:
        password = json.loads(path.read_text(encoding="utf-8"))["password"]
        if not isinstance(password, str) or not password:
            raise ValueError("no password")
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EnvironmentProblem(f"{path}: cannot be read ({type(exc).__name__})") from None
    return password


def proxy_answers(url: str, ca_file: Path | None, certificate: Path) -> bool:
    """Whether Label Studio answers /health through Caddy at `url`. With its own CA, the server's
    certificate must verify against `ca_file`; with a certificate given (which this machine may not
    trust), the server must present exactly that certificate."""
    if ca_file is not None:
        return ca_file.is_file() and server.is_healthy(url, ca_file=ca_file)
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or 443
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE  # checked below: the certificate served is the one given
    try:
        expected = ssl.PEM_cert_to_DER_cert(caddy.first_certificate(certificate))
        with (
            socket.create_connection((host, port), timeout=5) as raw,
            context.wrap_socket(raw, server_hostname=host) as tls,
        ):
            if tls.getpeercert(binary_form=True) != expected:
                return False
            tls.sendall(f"GET /health HTTP/1.1\r\nHost: {parts.netloc}\r\nConnection: close\r\n\r\n".encode())
            return tls.recv(64).split(b"\r\n", 1)[0].split()[1:2] == [b"200"]
    except (OSError, ValueError, IndexError, UsageError):
        return False


def _database_password(data_dir: Path) -> str:
    """The PostgreSQL superuser's password, generated on first use and kept in `database.json` (0600)."""
    path = data_dir / server.DATABASE_FILE
    existing = load_database_password(data_dir)
    if existing is not None:
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return existing
    password = secrets.token_urlsafe(24)
    server.write_private(
        path,
        json.dumps({"database": postgres.DATABASE, "user": postgres.SUPERUSER, "password": password}) + "\n",
    )
    return password


def label_studio_env(cluster: postgres.Cluster, url: str) -> dict[str, str]:
    """Label Studio's settings behind the proxy: its database, its public URL, secure cookies and
    sign-up by invite link only. Prefixed names win over anything in the caller's environment."""
    env = {f"LABEL_STUDIO_{key}": value for key, value in cluster.env().items()}
    env.update(
        {
            # Links, redirects and the origin the browser's forms come from.
            "LABEL_STUDIO_HOST": url,
            "LABEL_STUDIO_CSRF_TRUSTED_ORIGINS": url,
            "LABEL_STUDIO_CORS_ALLOWED_ORIGINS": url,
            # Cookies travel over HTTPS only. The CSRF cookie is also kept from scripts: the
            # login and sign-up forms carry the token in a hidden field, and the API the frontend
            # calls is exempt from CSRF (Label Studio 1.23's DisableCSRF middleware).
            "LABEL_STUDIO_SESSION_COOKIE_SECURE": "1",
            "LABEL_STUDIO_CSRF_COOKIE_SECURE": "1",
            "LABEL_STUDIO_CSRF_COOKIE_HTTPONLY": "1",
            # Invite-only: a sign-up without the organisation's token is refused (HTTP 403).
            "LABEL_STUDIO_DISABLE_SIGNUP_WITHOUT_LINK": "true",
        }
    )
    return env


def _recorded(record: Mapping[str, Any]) -> dict[str, processes.Recorded]:
    found = {}
    table = record.get("processes")
    for name, marker in MARKERS.items():
        entry = processes.Recorded.from_json(table.get(name) if isinstance(table, dict) else None, marker)
        if entry is not None:
            found[name] = entry
    return found


def status(data_dir: Path) -> TeamServer | None:
    """The team server recorded in `data_dir` (None if the folder records none), with which of its
    processes still run."""
    data_dir = Path(data_dir).resolve()
    record = server.read_record(data_dir)
    if record is None or server.record_mode(record) != server.TEAM:
        return None
    creds = server.load_credentials(data_dir)
    try:
        host, port = str(record["host"]), int(record["port"])
        internal = int(record["internal_port"])
        certificate = Path(record["certificate"])
        ca_file = Path(record["ca_file"]) if record.get("ca_file") else None
    except (KeyError, TypeError, ValueError):
        return None
    if creds is None:
        return None
    recorded = _recorded(record)
    alive = {name: entry.owned() for name, entry in recorded.items()}
    database = None
    pg = recorded.get(POSTGRES)
    pg_port = record["processes"][POSTGRES].get("port") if pg is not None else None
    password = load_database_password(data_dir)
    if pg is not None and isinstance(pg_port, int) and password is not None:
        database = postgres.Cluster(
            root=data_dir / server.POSTGRES_DIR,
            port=pg_port,
            password=password,
            pid=pg.pid,
            start_time=pg.started,
        )
    ls = recorded.get(LABEL_STUDIO)
    studio = StudioServer(
        url=str(record.get("url") or public_url(host, port)),
        token=creds.token,
        username=creds.username,
        password=creds.password,
        pid=ls.pid if ls is not None else None,
        data_dir=data_dir,
        ca_file=ca_file,
        mode=server.TEAM,
    )
    return TeamServer(
        server=studio,
        host=host,
        port=port,
        internal_port=internal,
        certificate=certificate,
        processes=recorded,
        alive=alive,
        database=database,
    )


def _say(progress: bool, message: str) -> None:
    if progress:
        print(message, file=sys.stderr)


def start(
    data_dir: Path,
    listen_host: str,
    listen_port: int,
    cert: Path | None = None,
    key: Path | None = None,
    *,
    timeout: float = 300.0,
    progress: bool = True,
) -> TeamServer:
    """Start the team server (or return the one already running at that address) once Label Studio
    answers through the proxy over HTTPS."""
    host = check_host(listen_host)
    if not 0 < listen_port < 65536:
        raise UsageError(f"--listen: port {listen_port} is not between 1 and 65535")
    if (cert is None) != (key is None):
        raise UsageError("--cert and --key go together: the certificate (PEM, with its chain) and its key")
    if cert is not None and key is not None:
        cert, key = Path(cert).resolve(), Path(key).resolve()
        for option, path in (("--cert", cert), ("--key", key)):
            if not path.is_file():
                raise UsageError(f"{option} {path}: no such file")
        caddy.fingerprint(cert)  # a PEM certificate, or a UsageError now rather than a dead proxy
    data_dir = server.prepare_dir(data_dir)
    url = public_url(host, listen_port)

    current = status(data_dir)
    if current is not None and current.any_alive:
        wanted = cert if cert is not None else caddy.root_certificate(data_dir / server.CADDY_DIR)
        if (current.host, current.port, current.certificate) != (host, listen_port, wanted):
            raise StudioError(
                f"this corpus's team server is running at {current.url}; "
                "stop it first (`corpuskit studio stop`) to listen elsewhere or change its certificate"
            )
        if not current.all_alive:
            raise StudioError(
                f"this corpus's team server at {current.url} is partly down "
                f"({', '.join(current.down)} not running): `corpuskit studio stop`, then start it again"
            )
        deadline = time.monotonic() + timeout
        while not proxy_answers(current.url, current.ca_file, current.certificate):
            if time.monotonic() >= deadline:
                raise StudioError(f"the team server does not answer at {current.url}/health")
            time.sleep(0.5)
        return current
    embedded = server.status(data_dir)
    if embedded is not None:
        raise StudioError(
            f"this corpus's embedded server is running at {embedded.url}; "
            "stop it first (`corpuskit studio stop`) to start the team server"
        )
    # A corpus that started on the embedded server moves up: its SQLite data goes into the new
    # cluster whole (corpuskit.studio.moving), once.
    sqlite = data_dir / server.LS_DATA / "label_studio.sqlite3"
    moving_up = sqlite.exists()
    if moving_up and postgres.initialized(data_dir / server.POSTGRES_DIR):
        raise StudioError(
            f"{data_dir} holds both an embedded server's data (SQLite) and a team server's cluster; "
            f"move {sqlite} away if the team server's data is the one to keep"
        )
    # Every program is there before anything starts.
    caddy.executable()
    for program in ("initdb", "pg_ctl", "psql"):
        postgres.pg_binary(program)
    postgres.pg_binary("pg_ctl", postgres.major_version(data_dir / server.POSTGRES_DIR))
    _check_listen_free(host, listen_port)

    creds = server.ensure_credentials(data_dir)
    db_password = _database_password(data_dir)
    postgres.allow_passage(data_dir)
    caddy_dir = data_dir / server.CADDY_DIR
    ca_file = None if cert is not None else caddy.root_certificate(caddy_dir)
    secrets_ = [creds.token, creds.password, db_password]
    record: dict[str, Any] = {
        "mode": server.TEAM,
        "url": url,
        "host": host,
        "port": listen_port,
        "internal_port": None,
        "ca_file": str(ca_file) if ca_file is not None else None,
        "certificate": str(cert if cert is not None else ca_file),
        "processes": {},
    }
    started: dict[str, processes.Recorded] = {}
    began = time.monotonic()
    try:
        _say(progress, f"starting PostgreSQL (log: {data_dir / server.POSTGRES_DIR / postgres.LOG})")
        cluster = postgres.start(data_dir / server.POSTGRES_DIR, server.free_port(), db_password)
        started[POSTGRES] = cluster.recorded()
        record["processes"][POSTGRES] = {**cluster.recorded().to_json(), "port": cluster.port}
        server.write_record(data_dir, record)
        if moving_up:
            from corpuskit.studio.moving import move_up

            _say(progress, "moving the embedded server's data into PostgreSQL (about 30 s)")
            embedded_env = server._server_env(data_dir, creds)
            report = move_up(
                embedded_env, {**embedded_env, **label_studio_env(cluster, url)}, sqlite, data_dir
            )
            _say(True, report.summary())

        internal = server.free_port()
        record["internal_port"] = internal
        _say(progress, f"starting Label Studio on 127.0.0.1:{internal} (log: {data_dir / server.LOG_FILE})")
        ls = server.launch(data_dir, creds, internal, env=label_studio_env(cluster, url))
        started[LABEL_STUDIO] = processes.Recorded.of(ls.pid, server.LABEL_STUDIO_MARKER)
        record["processes"][LABEL_STUDIO] = started[LABEL_STUDIO].to_json()
        server.write_record(data_dir, record)

        _say(progress, f"starting Caddy on {url} (log: {caddy_dir / caddy.LOG})")
        proxy = caddy.launch(caddy_dir, host, listen_port, internal, cert, key)
        started[CADDY] = processes.Recorded.of(proxy.pid, caddy.MARKER)
        record["processes"][CADDY] = started[CADDY].to_json()
        server.write_record(data_dir, record)

        certificate = cert if cert is not None else caddy.root_certificate(caddy_dir)
        _wait_ready(
            url, internal, ca_file, certificate, ls, proxy, data_dir, secrets_, timeout, progress, began
        )
    except BaseException:
        _stop_all(started)
        (data_dir / server.PID_FILE).unlink(missing_ok=True)
        if moving_up and sqlite.exists():
            # The move did not finish: the SQLite data is untouched, the half-filled cluster goes,
            # so that the next start moves again from the beginning.
            import shutil

            shutil.rmtree(data_dir / server.POSTGRES_DIR, ignore_errors=True)
        raise
    _say(progress, f"the team server is ready at {url} ({time.monotonic() - began:.0f} s)")
    found = status(data_dir)
    if found is None:  # pragma: no cover - the record was just written
        raise StudioError(f"{data_dir / server.PID_FILE}: the team server's record is unreadable")
    return found


def _wait_ready(
    url: str,
    internal: int,
    ca_file: Path | None,
    certificate: Path,
    ls: subprocess.Popen[bytes],
    proxy: subprocess.Popen[bytes],
    data_dir: Path,
    secrets_: list[str],
    timeout: float,
    progress: bool,
    began: float,
) -> None:
    """Label Studio answers on 127.0.0.1 (its migrations take about 30 s), then through Caddy."""
    deadline = began + timeout
    last_note = time.monotonic()
    caddy_dir = data_dir / server.CADDY_DIR

    def check() -> None:
        if ls.poll() is not None:
            log = data_dir / server.LOG_FILE
            raise StudioError(
                f"Label Studio exited with code {ls.returncode} while starting; "
                f"{log}: {server.log_tail(log, secrets_)}"
            )
        if proxy.poll() is not None:
            log = caddy_dir / caddy.LOG
            raise StudioError(
                f"Caddy exited with code {proxy.returncode} while starting; "
                f"{log}: {server.log_tail(log, secrets_, lines=3)}"
            )

    while not server.is_healthy(f"http://{server.HOST}:{internal}"):
        check()
        now = time.monotonic()
        if now >= deadline:
            raise StudioError(
                f"Label Studio did not answer on 127.0.0.1:{internal} within {timeout:.0f} s; "
                f"see {data_dir / server.LOG_FILE}"
            )
        if progress and now - last_note >= 10:
            print(f"  still waiting for Label Studio ({now - began:.0f} s)", file=sys.stderr)
            last_note = now
        time.sleep(0.5)
    while not proxy_answers(url, ca_file, certificate):
        check()
        if time.monotonic() >= deadline:
            raise StudioError(
                f"Label Studio answers on 127.0.0.1:{internal} but not at {url}/health through Caddy "
                f"within {timeout:.0f} s; see {caddy_dir / caddy.LOG}"
            )
        time.sleep(0.5)


def _stop_all(recorded: Mapping[str, processes.Recorded]) -> bool:
    """Stop every recorded process that is still the one started, proxy first, database last."""
    stopped = False
    for name in ORDER:
        entry = recorded.get(name)
        if entry is None:
            continue
        if name == POSTGRES:
            stopped = postgres.stop(entry) or stopped
        elif entry.owned():
            processes.terminate(entry.pid)
            stopped = True
        processes.forget(entry.pid)
    return stopped


def stop(data_dir: Path) -> bool:
    """Stop the team server recorded in `data_dir`: Caddy, Label Studio and PostgreSQL, each by its
    recorded pid and start time; True if any of them was running."""
    data_dir = Path(data_dir).resolve()
    record = server.read_record(data_dir)
    if record is None or server.record_mode(record) != server.TEAM:
        return False
    stopped = _stop_all(_recorded(record))
    (data_dir / server.PID_FILE).unlink(missing_ok=True)
    return stopped
