"""A throwaway PostgreSQL cluster for tests: Debian's `postgresql` binaries, 127.0.0.1 only.

The cluster lives in a fresh temporary folder (data, socket, log) and runs as an unprivileged user:
`initdb` refuses to run as root, so under root it runs as `postgres` (the user Debian's package
creates) through `runuser`. It is stopped by the postmaster's pid, and its folder removed.
"""

from __future__ import annotations

import glob
import os
import pwd
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

CLUSTER_USER = "postgres"
SUPERUSER = "corpuskit"
DATABASE = "labelstudio"


def pg_binary(name: str) -> str:
    """`initdb`, `pg_ctl`, ... from the newest /usr/lib/postgresql/<major>/bin, else from PATH."""

    def major(path: str) -> int:
        part = Path(path).parts[-3]
        return int(part) if part.isdigit() else 0

    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=major)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise RuntimeError(
            f"PostgreSQL's {name} was not found: install Debian's postgresql (scripts/setup-system.sh)"
        )
    return on_path


@dataclass
class PostgresCluster:
    """A running cluster; `env()` is what Label Studio needs to use it."""

    root: Path
    port: int
    password: str = field(repr=False)
    pid: int

    def env(self) -> dict[str, str]:
        return {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": DATABASE,
            "POSTGRE_USER": SUPERUSER,
            "POSTGRE_PASSWORD": self.password,
            "POSTGRE_HOST": "127.0.0.1",
            "POSTGRE_PORT": str(self.port),
        }


def _as_cluster_user() -> tuple[list[str], int | None, int | None]:
    """A command prefix that drops root to the cluster user, and that user's uid/gid (None if not root)."""
    if os.geteuid() != 0:
        return [], None, None
    user = pwd.getpwnam(CLUSTER_USER)
    return ["runuser", "-u", CLUSTER_USER, "--"], user.pw_uid, user.pw_gid


def _run(command: list[str], what: str, env: dict[str, str] | None = None) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=120, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"{what} failed ({done.returncode}): {done.stderr.strip()[-2000:]}")


def start_cluster(port: int) -> PostgresCluster:
    """initdb + pg_ctl start on 127.0.0.1:`port`, then create the Label Studio database."""
    prefix, uid, gid = _as_cluster_user()
    # Not under pytest's tmp folders: those are private to the test user, and the cluster user
    # must reach its data folder.
    root = Path(tempfile.mkdtemp(prefix="corpuskit-pg-"))
    data, sockets = root / "data", root / "sockets"
    sockets.mkdir()
    password = secrets.token_hex(16)
    pwfile = root / "pwfile"
    pwfile.write_text(password + "\n", encoding="utf-8")
    if uid is not None and gid is not None:
        for path in (root, sockets, pwfile):
            os.chown(path, uid, gid)
    os.chmod(root, 0o700)
    try:
        _run(
            [
                *prefix,
                pg_binary("initdb"),
                "-D",
                str(data),
                "-U",
                SUPERUSER,
                f"--pwfile={pwfile}",
                "--auth=scram-sha-256",
                "--encoding=UTF8",
                "--locale=C",
                "--no-sync",
            ],
            "initdb",
        )
        options = f"-p {port} -c listen_addresses=127.0.0.1 -k {sockets} -c fsync=off"
        log = str(root / "postgres.log")
        pg_ctl = pg_binary("pg_ctl")
        _run(
            [*prefix, pg_ctl, "start", "-w", "-t", "60", "-D", str(data), "-l", log, "-o", options], "pg_ctl"
        )
        pid = int((data / "postmaster.pid").read_text(encoding="utf-8").split()[0])
        cluster = PostgresCluster(root=root, port=port, password=password, pid=pid)
        env = {**os.environ, "PGPASSWORD": password}
        _run(
            [pg_binary("createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", SUPERUSER, DATABASE],
            "createdb",
            env,
        )
    except BaseException:
        stop_pid = _postmaster_pid(data)
        if stop_pid is not None:
            _stop(stop_pid)
        shutil.rmtree(root, ignore_errors=True)
        raise
    return cluster


def _postmaster_pid(data: Path) -> int | None:
    try:
        return int((data / "postmaster.pid").read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    # A postmaster reparented to a container's init may linger as a zombie after it exits.
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def _stop(pid: int, grace: float = 30.0) -> None:
    # SIGINT is PostgreSQL's "fast" shutdown: roll back open sessions, then exit.
    try:
        os.kill(pid, signal.SIGINT)
    except ProcessLookupError:
        return
    deadline = time.monotonic() + grace
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    if _alive(pid):
        os.kill(pid, signal.SIGKILL)


def query(cluster: PostgresCluster, sql: str) -> str:
    """The result of one SQL statement in the Label Studio database, as psql prints it unaligned."""
    where = ["-h", "127.0.0.1", "-p", str(cluster.port), "-U", SUPERUSER, "-d", DATABASE]
    done = subprocess.run(
        [pg_binary("psql"), *where, "-tAc", sql],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "PGPASSWORD": cluster.password},
    )
    if done.returncode != 0:
        raise RuntimeError(f"psql failed: {done.stderr.strip()}")
    return done.stdout.strip()


def stop_cluster(cluster: PostgresCluster) -> None:
    """Stop the postmaster by its pid and remove the cluster's folder."""
    _stop(cluster.pid)
    shutil.rmtree(cluster.root, ignore_errors=True)
