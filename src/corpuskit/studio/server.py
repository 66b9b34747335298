"""The embedded Label Studio: start, stop and status of a local server that corpuskit owns.

Everything lives in one data folder (by default `.corpuskit/studio/`):

- `credentials.json` (mode 0600): the admin's email, password and API token, generated on first start;
- `server.json`: pid, process start time and port of the running server (the pid file);
- `port`: the port this corpus's server last used, tried first at the next start;
- `server.log`: the server's stdout and stderr;
- `label-studio/`: Label Studio's own data (SQLite database, uploads).

The server binds to 127.0.0.1 only (`--internal-host`; `--host` does not set the bind address) and
runs in its own process group, so `stop` ends it with its children and nothing else.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.errors import EnvironmentProblem, StudioError

DEFAULT_PORT = 8080
HOST = "127.0.0.1"
DEFAULT_USERNAME = "admin@example.com"
CREDENTIALS_FILE = "credentials.json"
PID_FILE = "server.json"
LOG_FILE = "server.log"
LS_DATA = "label-studio"
PORT_FILE = "port"
# How far past the preferred port `start` looks for a free one (several corpora on one machine).
PORT_SEARCH = 100

# Servers this process started, kept so that the Popen objects live (and reap) as long as they run.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}

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


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)
    token: str = field(repr=False)


def _write_private(path: Path, text: str) -> None:
    """Atomically write a file that only the owner may read."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _prepare_dir(data_dir: Path) -> Path:
    data_dir = Path(data_dir).resolve()
    data_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    # The folder holds the credentials and Label Studio's database (which stores API tokens in
    # clear): a folder that existed before, or was loosened since, is made private again.
    if data_dir.stat().st_mode & 0o077:
        os.chmod(data_dir, 0o700)
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
    data_dir = _prepare_dir(data_dir)
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
    _write_private(
        data_dir / CREDENTIALS_FILE,
        json.dumps({"username": creds.username, "password": creds.password, "token": creds.token}, indent=2)
        + "\n",
    )
    return creds


def _proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a reused pid from ours)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def _is_label_studio(pid: int) -> bool:
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return b"label-studio" in cmdline or b"label_studio" in cmdline


def _read_pid_file(data_dir: Path) -> dict[str, Any] | None:
    try:
        data = json.loads((Path(data_dir) / PID_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("pid"), int) else None


def _owned_pid(record: dict[str, Any]) -> int | None:
    """The recorded pid if that process is still the Label Studio we started, else None."""
    pid = int(record["pid"])
    if not _is_label_studio(pid):
        return None
    started = record.get("start_time")
    if started is not None and _proc_start_time(pid) != started:
        return None
    return pid


def is_healthy(url: str, timeout: float = 2.0) -> bool:
    """Whether Label Studio at `url` answers its health check."""
    try:
        with urllib.request.urlopen(f"{url.rstrip('/')}/health", timeout=timeout) as response:
            return bool(response.status == 200)
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
            "(pip install 'corpuskit[studio]') or point LABEL_STUDIO_URL at a running server"
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


def _log_tail(data_dir: Path, creds: Credentials, lines: int = 5) -> str:
    try:
        text = (data_dir / LOG_FILE).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return ""
    tail = " | ".join(line.strip() for line in text.strip().splitlines()[-lines:] if line.strip())
    for secret in (creds.token, creds.password):
        tail = tail.replace(secret, "***")
    return tail


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
    """The embedded server recorded in `data_dir` if its process is still running, else None."""
    data_dir = Path(data_dir).resolve()
    record = _read_pid_file(data_dir)
    if record is None:
        return None
    pid = _owned_pid(record)
    creds = load_credentials(data_dir)
    if pid is None or creds is None:
        return None
    return _server(data_dir, creds, int(record["port"]), pid)


def start(
    data_dir: Path,
    port: int | None = None,
    timeout: float = 180.0,
    progress: bool = True,
) -> StudioServer:
    """Start the embedded Label Studio (or return the one already running) once it answers /health.

    Without `port`, the port it used last (else 8080) or, when another program holds that one,
    the next free port; the choice is recorded and said. A `port` given is used or refused."""
    data_dir = _prepare_dir(data_dir)
    running = status(data_dir)
    if running is not None:
        _wait_healthy(running, timeout, progress, data_dir, None)
        return running
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
    executable = _label_studio_executable()
    (data_dir / LS_DATA).mkdir(exist_ok=True, mode=0o700)
    command = [executable, "start", "--no-browser", "--port", str(port), "--internal-host", HOST]
    with open(data_dir / LOG_FILE, "ab") as log:
        process = subprocess.Popen(
            command,
            cwd=data_dir,
            env=_server_env(data_dir, creds),
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _CHILDREN[process.pid] = process
    (data_dir / PORT_FILE).write_text(f"{port}\n", encoding="utf-8")
    _write_private(
        data_dir / PID_FILE,
        json.dumps(
            {"pid": process.pid, "start_time": _proc_start_time(process.pid), "port": port, "host": HOST}
        )
        + "\n",
    )
    server = _server(data_dir, creds, port, process.pid)
    try:
        _wait_healthy(server, timeout, progress, data_dir, process)
    except BaseException:
        _terminate_group(process.pid)
        process.wait()
        _CHILDREN.pop(process.pid, None)
        (data_dir / PID_FILE).unlink(missing_ok=True)
        raise
    return server


def _wait_healthy(
    server: StudioServer,
    timeout: float,
    progress: bool,
    data_dir: Path,
    process: subprocess.Popen[bytes] | None,
) -> None:
    creds = Credentials(server.username, server.password, server.token)
    began = time.monotonic()
    last_note = began
    if progress:
        print(f"starting Label Studio at {server.url} (log: {data_dir / LOG_FILE})", file=sys.stderr)
    while True:
        if process is not None and process.poll() is not None:
            raise StudioError(
                f"Label Studio exited with code {process.returncode} while starting; "
                f"{data_dir / LOG_FILE}: {_log_tail(data_dir, creds)}"
            )
        if is_healthy(server.url, timeout=2.0):
            if progress:
                print(f"Label Studio is ready at {server.url}", file=sys.stderr)
            return
        now = time.monotonic()
        if now - began > timeout:
            raise StudioError(
                f"Label Studio did not answer {server.url}/health within {timeout:.0f} s; "
                f"see {data_dir / LOG_FILE}"
            )
        if progress and now - last_note >= 10:
            print(f"  still waiting for Label Studio ({now - began:.0f} s)", file=sys.stderr)
            last_note = now
        time.sleep(0.5)


def _terminate_group(pid: int, grace: float = 20.0) -> None:
    """SIGTERM the process group led by `pid`, then SIGKILL whatever is left after `grace` seconds."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    # Only signal a group the server leads (it was started in its own session); never ours.
    target_group = pgid == pid and pgid != os.getpgrp()
    try:
        if target_group:
            os.killpg(pgid, signal.SIGTERM)
        else:
            os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline:
        if not _alive(pid):
            break
        time.sleep(0.2)
    try:
        if target_group:
            os.killpg(pgid, signal.SIGKILL)
        elif _alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def _alive(pid: int) -> bool:
    try:
        # Reap it if it is our child, so it does not linger as a zombie.
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    state = _proc_state(pid)
    return state not in {"Z", "X"}


def _proc_state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def stop(data_dir: Path) -> bool:
    """Stop the embedded server recorded in `data_dir`; True if it was running.

    Only the recorded pid is signalled, and only while it is still the Label Studio process
    corpuskit started (same command, same start time)."""
    data_dir = Path(data_dir).resolve()
    record = _read_pid_file(data_dir)
    if record is None:
        return False
    pid = _owned_pid(record)
    if pid is not None:
        _terminate_group(pid)
    child = _CHILDREN.pop(int(record["pid"]), None)
    if child is not None:
        child.wait()
    (data_dir / PID_FILE).unlink(missing_ok=True)
    return pid is not None
