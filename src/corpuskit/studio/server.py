"""The embedded Label Studio: start, stop and status of a local server that corpuskit owns.

Everything lives in one data folder (by default `.corpuskit/studio/`):

- `credentials.json` (mode 0600): the admin's email, password and API token, generated on first start;
- `server.json`: pid, process start time and port of the running server (the pid file); its `mode`
  says which server runs: `embedded` (this module) or `team` (`teamserver`, which records more);
- `port`: the port this corpus's server last used, tried first at the next start;
- `server.log`: the server's stdout and stderr;
- `label-studio/`: Label Studio's own data (SQLite database, uploads).

The server binds to 127.0.0.1 only (`--internal-host`; `--host` does not set the bind address) and
runs in its own process group, so `stop` ends it with its children and nothing else. `status` and
`stop` answer for whichever server the folder runs, the embedded one or the team server.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import ssl
import stat
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.errors import EnvironmentProblem, StudioError
from corpuskit.files import atomic_write_text
from corpuskit.studio import postgres, processes

DEFAULT_PORT = 8080
HOST = "127.0.0.1"
DEFAULT_USERNAME = "admin@example.com"
CREDENTIALS_FILE = "credentials.json"
PID_FILE = "server.json"
LOG_FILE = "server.log"
LS_DATA = "label-studio"
# A team server's own folders (teamserver): its PostgreSQL cluster, whose presence marks a team
# server's folder, and Caddy's configuration, certificates and log.
POSTGRES_DIR = "postgres"
CADDY_DIR = "caddy"
DATABASE_FILE = "database.json"
PORT_FILE = "port"
EMBEDDED = "embedded"
TEAM = "team"
LABEL_STUDIO_MARKER = (b"label-studio", b"label_studio")
# How far past the preferred port `start` looks for a free one (several corpora on one machine).
PORT_SEARCH = 100

# Label Studio options that must not phone home or wait on the network at start-up: the PyPI
# version check (it has hung for minutes offline), analytics and Sentry error reports.
_QUIET_ENV = {
    "LATEST_VERSION_CHECK": "false",
    "COLLECT_ANALYTICS": "false",
    "SENTRY_DSN": "",
    "FRONTEND_SENTRY_DSN": "",
    "LOG_LEVEL": "WARNING",
}


@dataclass(frozen=True)
class StudioServer:
    """A reachable Label Studio with the credentials corpuskit uses for it."""

    url: str
    token: str = field(repr=False)
    username: str
    password: str = field(repr=False)
    pid: int | None
    data_dir: Path
    # The CA certificate that signs the server's TLS certificate (a team server's own CA), if the
    # client must be told to trust it.
    ca_file: Path | None = None
    mode: str = EMBEDDED


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    token: str = field(repr=False)


def write_private(path: Path, text: str) -> None:
    """Atomically write a file that only the owner may read."""
    atomic_write_text(path, text, mode=0o600)


def prepare_dir(data_dir: Path) -> Path:
    """The studio folder, created if needed and private to its owner (mode 0700)."""
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The folder holds the credentials and Label Studio's database (which stores API tokens in
    # clear): a folder that existed before, or was loosened since, is made private again. Only a
    # team server run by root keeps group `postgres` passing through (mode 0710) to the cluster's
    # own folder (postgres.allow_passage).
    info = data_dir.stat()
    keep = 0o010 if info.st_gid == postgres.passage_gid() else 0
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077 & ~keep:
        os.chmod(data_dir, 0o700 | (mode & keep))
    return data_dir


def load_credentials(data_dir: Path) -> Credentials | None:
    """The stored admin credentials, or None before the first start."""
    path = Path(data_dir) / CREDENTIALS_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Credentials(username=data["username"], password=data["password"], token=data["token"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise EnvironmentProblem(f"{path}: cannot be read ({type(exc).__name__})") from None


def ensure_credentials(data_dir: Path) -> Credentials:
    """Load the admin credentials, generating and storing them (mode 0600) on first use."""
    data_dir = prepare_dir(data_dir)
    existing = load_credentials(data_dir)
    if existing is not None:
        path = data_dir / CREDENTIALS_FILE
        if path.stat().st_mode & 0o077:
            os.chmod(path, 0o600)
        return existing
    creds = Credentials(
        username=DEFAULT_USERNAME,
        password=secrets.token_urlsafe(18),
        token=secrets.token_hex(20),
    )
    write_private(
        data_dir / CREDENTIALS_FILE,
        json.dumps({"username": creds.username, "password": creds.password, "token": creds.token}, indent=2)
        + "\n",
    )
    return creds


def read_record(data_dir: Path) -> dict[str, Any] | None:
    """The pid file (`server.json`) of the folder, whichever server wrote it, or None."""
    try:
        data = json.loads((Path(data_dir) / PID_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def record_mode(record: dict[str, Any]) -> str:
    """`embedded` or `team`: which server a pid file records (files without a mode are embedded)."""
    return str(record.get("mode") or EMBEDDED)


def write_record(data_dir: Path, record: dict[str, Any]) -> None:
    write_private(Path(data_dir) / PID_FILE, json.dumps(record, indent=2) + "\n")


def _owned_pid(record: dict[str, Any]) -> int | None:
    """The recorded pid if that process is still the Label Studio we started, else None."""
    recorded = processes.Recorded.from_json(record, LABEL_STUDIO_MARKER)
    return recorded.pid if recorded is not None and recorded.owned() else None


def _context(ca_file: Path | None) -> ssl.SSLContext | None:
    return ssl.create_default_context(cafile=str(ca_file)) if ca_file is not None else None


def is_healthy(url: str, timeout: float = 2.0, ca_file: Path | None = None) -> bool:
    """Whether Label Studio at `url` answers its health check (over HTTPS: trusting `ca_file`)."""
    try:
        with urllib.request.urlopen(
            f"{url.rstrip('/')}/health", timeout=timeout, context=_context(ca_file)
        ) as response:
            return bool(response.status == 200)
    except urllib.error.HTTPError as error:
        error.close()  # a proxy's 502 while Label Studio starts: the answer holds the connection
        return False
    except (OSError, ValueError):
        return False


def _port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.settimeout(0.5)
        return sock.connect_ex((HOST, port)) == 0


def _recorded_port(data_dir: Path) -> int | None:
    try:
        port = int((data_dir / PORT_FILE).read_text(encoding="utf-8").strip())
    except (OSError, ValueError):
        return None
    return port if 0 < port < 65536 else None


def choose_port(data_dir: Path) -> int:
    """The port this corpus's server last used, else the default; the next free one when another
    program (another corpus's server) holds it."""
    preferred = _recorded_port(Path(data_dir)) or DEFAULT_PORT
    for port in range(preferred, min(preferred + PORT_SEARCH, 65536)):
        if not _port_in_use(port):
            return port
    raise StudioError(
        f"no free port on {HOST} from {preferred} to {preferred + PORT_SEARCH - 1}; choose one with --port"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def _label_studio_executable() -> str:
    candidate = Path(sys.executable).parent / "label-studio"
    if candidate.exists():
        return str(candidate)
    from shutil import which

    found = which("label-studio")
    if found is None:
        raise EnvironmentProblem(
            "label-studio is not installed: install corpuskit with the 'studio' extra "
            "(pip install 'corpuskit-news[studio]') or point LABEL_STUDIO_URL at a running server"
        )
    return found


def _server_env(data_dir: Path, creds: Credentials) -> dict[str, str]:
    # The caller's LABEL_STUDIO_* settings (a remote server's URL and key, a HOST, a PORT) must
    # not leak into the embedded server's configuration.
    env = {key: value for key, value in os.environ.items() if not key.startswith("LABEL_STUDIO_")}
    env.pop("HOST", None)
    env.pop("PORT", None)
    env.update(_QUIET_ENV)
    env.update(
        {
            "LABEL_STUDIO_BASE_DATA_DIR": str(data_dir / LS_DATA),
            "LABEL_STUDIO_USERNAME": creds.username,
            "LABEL_STUDIO_PASSWORD": creds.password,
            "LABEL_STUDIO_USER_TOKEN": creds.token,
            "LABEL_STUDIO_ENABLE_LEGACY_API_TOKEN": "true",
            "PYTHONUNBUFFERED": "1",
        }
    )
    return env


def log_tail(path: Path, secrets_: list[str], lines: int = 5) -> str:
    """The last lines of a log, on one line, with every secret replaced by `***`."""
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
    for secret in secrets_:
        if secret:
            tail = tail.replace(secret, "***")
    return tail


def _log_tail(data_dir: Path, creds: Credentials, lines: int = 5) -> str:
    return log_tail(data_dir / LOG_FILE, [creds.token, creds.password], lines)


def _server(data_dir: Path, creds: Credentials, port: int, pid: int | None) -> StudioServer:
    return StudioServer(
        url=f"http://{HOST}:{port}",
        token=creds.token,
        username=creds.username,
        password=creds.password,
        pid=pid,
        data_dir=data_dir,
    )


def status(data_dir: Path) -> StudioServer | None:
    """The server recorded in `data_dir` if it is still running, else None: the embedded server,
    or the team server (its public URL and CA) while any of its processes runs."""
    data_dir = Path(data_dir).resolve()
    record = read_record(data_dir)
    if record is None:
        return None
    if record_mode(record) == TEAM:
        from corpuskit.studio import teamserver

        team = teamserver.status(data_dir)
        return team.server if team is not None and team.any_alive else None
    if not isinstance(record.get("pid"), int):
        return None
    pid = _owned_pid(record)
    creds = load_credentials(data_dir)
    if pid is None or creds is None:
        return None
    return _server(data_dir, creds, int(record["port"]), pid)


def launch(
    data_dir: Path, creds: Credentials, port: int, env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    """Start Label Studio on 127.0.0.1:`port` in its own process group, its output appended to
    `server.log`; `env` adds to (and wins over) the embedded server's environment."""
    executable = _label_studio_executable()
    (data_dir / LS_DATA).mkdir(exist_ok=True, mode=0o700)
    command = [executable, "start", "--no-browser", "--port", str(port), "--internal-host", HOST]
    return processes.spawn(
        command, data_dir, {**_server_env(data_dir, creds), **(env or {})}, data_dir / LOG_FILE
    )


def start(
    data_dir: Path,
    port: int | None = None,
    timeout: float = 180.0,
    progress: bool = True,
) -> StudioServer:
    """Start the embedded Label Studio (or return the one already running) once it answers /health.

    Without `port`, the port it used last (else 8080) or, when another program holds that one,
    the next free port; the choice is recorded and said. A `port` given is used or refused."""
    data_dir = prepare_dir(data_dir)
    running = status(data_dir)
    if running is not None and running.mode == TEAM:
        raise StudioError(
            f"this corpus's team server is running at {running.url}; "
            "stop it first (`corpuskit studio stop`) to start the embedded server"
        )
    if running is not None:
        _wait_healthy(running, timeout, progress, data_dir, None)
        return running
    if (data_dir / POSTGRES_DIR).is_dir():
        raise StudioError(
            f"{data_dir} holds a team server (its data is in PostgreSQL, {POSTGRES_DIR}/): "
            "start it with `corpuskit studio start --team --listen HOST:PORT`, "
            "or give the embedded server another studio_dir"
        )
    creds = ensure_credentials(data_dir)
    if port is None:
        preferred = _recorded_port(data_dir) or DEFAULT_PORT
        port = choose_port(data_dir)
        if port != preferred:  # said even without progress: later commands find it recorded
            print(
                f"port {preferred} on {HOST} is taken (another corpus's server?); using {port}",
                file=sys.stderr,
            )
    elif _port_in_use(port):
        raise StudioError(f"port {port} on {HOST} is already in use; choose another with --port")
    process = launch(data_dir, creds, port)
    (data_dir / PORT_FILE).write_text(f"{port}\n", encoding="utf-8")
    write_record(
        data_dir,
        {
            "mode": EMBEDDED,
            "pid": process.pid,
            "start_time": processes.start_time(process.pid),
            "port": port,
            "host": HOST,
        },
    )
    server = _server(data_dir, creds, port, process.pid)
    try:
        _wait_healthy(server, timeout, progress, data_dir, process)
    except BaseException:
        processes.terminate(process.pid)
        processes.forget(process.pid)
        (data_dir / PID_FILE).unlink(missing_ok=True)
        raise
    return server


def wait_healthy(
    url: str,
    timeout: float,
    *,
    log: Path,
    secrets_: list[str],
    process: subprocess.Popen[bytes] | None = None,
    ca_file: Path | None = None,
    progress: bool = False,
    started: float | None = None,
) -> None:
    """Wait until Label Studio answers `url`/health; a StudioError if `process` exits or time runs out."""
    began = time.monotonic() if started is None else started
    last_note = time.monotonic()
    while True:
        if process is not None and process.poll() is not None:
            raise StudioError(
                f"Label Studio exited with code {process.returncode} while starting; "
                f"{log}: {log_tail(log, secrets_)}"
            )
        if is_healthy(url, timeout=2.0, ca_file=ca_file):
            return
        now = time.monotonic()
        if now - began > timeout:
            raise StudioError(f"Label Studio did not answer {url}/health within {timeout:.0f} s; see {log}")
        if progress and now - last_note >= 10:
            print(f"  still waiting for Label Studio ({now - began:.0f} s)", file=sys.stderr)
            last_note = now
        time.sleep(0.5)


def _wait_healthy(
    server: StudioServer,
    timeout: float,
    progress: bool,
    data_dir: Path,
    process: subprocess.Popen[bytes] | None,
) -> None:
    if progress:
        print(f"starting Label Studio at {server.url} (log: {data_dir / LOG_FILE})", file=sys.stderr)
    wait_healthy(
        server.url,
        timeout,
        log=data_dir / LOG_FILE,
        secrets_=[server.token, server.password],
        process=process,
        progress=progress,
    )
    if progress:
        print(f"Label Studio is ready at {server.url}", file=sys.stderr)


def stop(data_dir: Path) -> bool:
    """Stop the server recorded in `data_dir` (the embedded one, or every process of the team
    server); True if it was running.

    Only the recorded pids are signalled, and only while each is still the process corpuskit
    started (same command, same start time)."""
    data_dir = Path(data_dir).resolve()
    record = read_record(data_dir)
    if record is None:
        return False
    if record_mode(record) == TEAM:
        from corpuskit.studio import teamserver

        return teamserver.stop(data_dir)
    if not isinstance(record.get("pid"), int):
        (data_dir / PID_FILE).unlink(missing_ok=True)
        return False
    pid = _owned_pid(record)
    if pid is not None:
        processes.terminate(pid)
    processes.forget(int(record["pid"]))
    (data_dir / PID_FILE).unlink(missing_ok=True)
    return pid is not None
