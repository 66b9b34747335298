"""A PostgreSQL cluster for Label Studio, from Debian's `postgresql` binaries: the one place that
creates, starts and stops one (the team server and the test suite both use it).

A cluster lives in one folder:

- `data/`: the cluster itself (`initdb`);
- `sockets/`: its Unix socket, so nothing goes to /var/run/postgresql;
- `postgres.log`: the server's log.

It listens on 127.0.0.1 only, on a port the caller chooses, and admits one superuser with a
password (SCRAM); Label Studio's database is created on first start. PostgreSQL refuses to run
as root: under root, `initdb` and the server run as the `postgres` user that Debian's package
creates (through `runuser`), the folder belongs to that user, and every folder above it must let
that user pass (`passage_problem`). The server is stopped by the postmaster's pid, checked
against its start time: never by name, never another cluster.
"""

from __future__ import annotations

import glob
import os
import pwd
import shlex
import shutil
import signal
import stat
import subprocess
from dataclasses import dataclass, field
from pathlib import Path

from corpuskit.errors import EnvironmentProblem
from corpuskit.studio import processes

CLUSTER_USER = "postgres"
SUPERUSER = "corpuskit"
DATABASE = "labelstudio"
HOST = "127.0.0.1"
DATA = "data"
SOCKETS = "sockets"
LOG = "postgres.log"
MARKER = b"postgres"
INSTALL_HINT = "apt-get install postgresql"
# A Unix socket path longer than this (sun_path, 108 bytes with the NUL) cannot be bound.
_SOCKET_PATH_MAX = 107


def pg_binary(name: str, major: str | None = None) -> str:
    """`initdb`, `pg_ctl`, `psql`, ... from /usr/lib/postgresql/<major>/bin: the given major version
    (a cluster runs only under the version that made it), else the newest; else from PATH."""

    def number(path: str) -> int:
        part = Path(path).parts[-3]
        return int(part) if part.isdigit() else 0

    if major is not None:
        wanted = Path("/usr/lib/postgresql", major, "bin", name)
        if wanted.is_file():
            return str(wanted)
        if glob.glob(f"/usr/lib/postgresql/*/bin/{name}"):
            raise EnvironmentProblem(
                f"this cluster was made by PostgreSQL {major}, whose {name} is not installed "
                f"(apt-get install postgresql-{major}); to move to another version, back the "
                "server up and restore it (docs/team-server.md)"
            )
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), key=number)
    if found:
        return found[-1]
    on_path = shutil.which(name)
    if on_path is None:
        raise EnvironmentProblem(f"PostgreSQL's {name} was not found: install it ({INSTALL_HINT})")
    return on_path


def _cluster_user() -> pwd.struct_passwd | None:
    """The user the cluster runs as when corpuskit runs as root; None otherwise (it runs as us)."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(CLUSTER_USER)
    except KeyError:
        raise EnvironmentProblem(
            f"PostgreSQL cannot run as root and there is no '{CLUSTER_USER}' user: "
            f"install Debian's PostgreSQL ({INSTALL_HINT}) or run corpuskit as an ordinary user"
        ) from None


def run_as() -> list[str]:
    """The command prefix that runs a PostgreSQL program as the cluster's user (empty unless root)."""
    return [] if _cluster_user() is None else ["runuser", "-u", CLUSTER_USER, "--"]


def passage_gid() -> int | None:
    """The group that may pass through a folder above a cluster (under root), else None."""
    if os.geteuid() != 0:
        return None
    try:
        return pwd.getpwnam(CLUSTER_USER).pw_gid
    except KeyError:
        return None


def allow_passage(folder: Path) -> None:
    """Under root, let the cluster's user pass through `folder` (group `postgres`, mode 0710: it can
    reach its own sub-folder, list and read nothing); nothing to do otherwise."""
    gid = passage_gid()
    if gid is None:
        return
    os.chown(folder, -1, gid)
    os.chmod(folder, 0o710)


def passage_problem(root: Path) -> str | None:
    """The first folder above `root` that the cluster's user cannot pass through, else None."""
    user = _cluster_user()
    if user is None:
        return None
    groups = set(os.getgrouplist(user.pw_name, user.pw_gid))
    for folder in reversed(Path(root).resolve().parents):
        info = folder.stat()
        mode = stat.S_IMODE(info.st_mode)
        if info.st_uid == user.pw_uid:
            can = bool(mode & 0o100)
        elif info.st_gid in groups:
            can = bool(mode & 0o010)
        else:
            can = bool(mode & 0o001)
        if not can:
            return f"{folder} (mode {mode:04o}, owner uid {info.st_uid})"
    return None


@dataclass(frozen=True)
class Cluster:
    """A running cluster; `env()` is what Label Studio needs to use it."""

    root: Path
    port: int
    password: str = field(repr=False)
    pid: int
    start_time: int | None

    def env(self) -> dict[str, str]:
        """Label Studio's database settings (read with or without the LABEL_STUDIO_ prefix)."""
        return {
            "DJANGO_DB": "default",
            "POSTGRE_NAME": DATABASE,
            "POSTGRE_USER": SUPERUSER,
            "POSTGRE_PASSWORD": self.password,
            "POSTGRE_HOST": HOST,
            "POSTGRE_PORT": str(self.port),
        }

    def recorded(self) -> processes.Recorded:
        return processes.Recorded(pid=self.pid, started=self.start_time, marker=MARKER)

    def query(self, sql: str, database: str = DATABASE) -> str:
        """The result of one SQL statement, as psql prints it unaligned and without headers."""
        return _psql(self.port, self.password, sql, database)


def _psql(port: int, password: str, sql: str, database: str) -> str:
    where = ["-h", HOST, "-p", str(port), "-U", SUPERUSER, "-d", database]
    done = subprocess.run(
        [pg_binary("psql"), "-X", *where, "-v", "ON_ERROR_STOP=1", "-tAc", sql],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PGPASSWORD": password, "PGCONNECT_TIMEOUT": "10"},
        check=False,
    )
    if done.returncode != 0:
        raise EnvironmentProblem(f"psql on 127.0.0.1:{port} failed: {_last_line(done.stderr, password)}")
    return done.stdout.strip()


def _last_line(text: str, password: str) -> str:
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return (lines[-1] if lines else "no message").replace(password, "***")


def _run(command: list[str], what: str, cwd: Path, password: str) -> None:
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=cwd, check=False)
    if done.returncode != 0:
        raise EnvironmentProblem(
            f"{what} failed (exit {done.returncode}): {_last_line(done.stderr, password)}"
        )


def initialized(root: Path) -> bool:
    return (Path(root) / DATA / "PG_VERSION").is_file()


def major_version(root: Path) -> str | None:
    """The PostgreSQL major version that made the cluster in `root` (None before `init`)."""
    try:
        return (Path(root) / DATA / "PG_VERSION").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _prepare(root: Path) -> None:
    """The cluster's folder, private to the user the server runs as."""
    user = _cluster_user()
    root.mkdir(parents=True, exist_ok=True, mode=0o700)
    (root / SOCKETS).mkdir(exist_ok=True, mode=0o700)
    if user is not None:
        problem = passage_problem(root)
        if problem is not None:
            raise EnvironmentProblem(
                f"PostgreSQL runs as '{CLUSTER_USER}' under root and cannot reach {root}: {problem} "
                "does not let it pass; keep the corpus under a folder it can pass through "
                "(e.g. /srv) or run corpuskit as an ordinary user"
            )
        for path in (root, root / SOCKETS):
            os.chown(path, user.pw_uid, user.pw_gid)
    os.chmod(root, 0o700)


def init(root: Path, password: str, *, durable: bool = True) -> None:
    """`initdb` a cluster in `root` whose superuser has `password` (nothing if one is there)."""
    root = Path(root).resolve()
    _prepare(root)
    if initialized(root):
        return
    user = _cluster_user()
    pwfile = root / ".pwfile"
    fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        handle.write(password + "\n")
    if user is not None:
        os.chown(pwfile, user.pw_uid, user.pw_gid)
    command = [
        *run_as(),
        pg_binary("initdb"),
        "-D",
        str(root / DATA),
        "-U",
        SUPERUSER,
        f"--pwfile={pwfile}",
        "--auth=scram-sha-256",
        "--encoding=UTF8",
        "--locale=C",
    ]
    try:
        _run([*command, *([] if durable else ["--no-sync"])], "initdb", root, password)
    finally:
        pwfile.unlink(missing_ok=True)


def postmaster_pid(root: Path) -> int | None:
    """The pid in the cluster's postmaster.pid (a running or a crashed server), else None."""
    try:
        return int((Path(root) / DATA / "postmaster.pid").read_text(encoding="utf-8").split()[0])
    except (OSError, ValueError, IndexError):
        return None


def start(root: Path, port: int, password: str, *, durable: bool = True, timeout: float = 120.0) -> Cluster:
    """Start the cluster in `root` on 127.0.0.1:`port` (creating it first if needed) and create
    Label Studio's database if it is not there. `durable=False` (tests) turns fsync off."""
    root = Path(root).resolve()
    init(root, password, durable=durable)
    sockets = root / SOCKETS
    socket_dir = str(sockets) if len(f"{sockets}/.s.PGSQL.{port}") <= _SOCKET_PATH_MAX else ""
    # pg_ctl hands -o to a shell: the socket folder is quoted.
    options = f"-p {port} -c listen_addresses={HOST} -k {shlex.quote(socket_dir)}"
    if not durable:
        options += " -c fsync=off"
    pg_ctl = pg_binary("pg_ctl", major_version(root))
    data = root / DATA
    running = postmaster_pid(root)
    if running is not None and processes.runs(running, MARKER) and processes.alive(running):
        raise EnvironmentProblem(
            f"PostgreSQL already runs in {data} (pid {running}); stop it first "
            f"(if that pid is not this cluster, remove {data / 'postmaster.pid'})"
        )
    command = [*run_as(), pg_ctl, "start", "-w", "-t", str(int(timeout)), "-D", str(data)]
    try:
        _run([*command, "-l", str(root / LOG), "-o", options], "pg_ctl start", root, password)
        pid = postmaster_pid(root)
        if pid is None:
            raise EnvironmentProblem(f"PostgreSQL in {data} started but wrote no postmaster.pid")
        cluster = Cluster(
            root=root, port=port, password=password, pid=pid, start_time=processes.start_time(pid)
        )
        exists = _psql(port, password, f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'", "postgres")
        if exists != "1":
            _psql(port, password, f"CREATE DATABASE {DATABASE}", "postgres")
    except BaseException:
        stray = postmaster_pid(root)
        if stray is not None and processes.runs(stray, MARKER):
            stop(processes.Recorded.of(stray, MARKER))
        raise
    return cluster


def stop(recorded: processes.Recorded, grace: float = 60.0) -> bool:
    """Stop the postmaster recorded (a "fast" shutdown: open sessions are rolled back); True if it
    was running. Nothing is signalled unless the pid is still that postmaster."""
    if not recorded.owned():
        return False
    # SIGINT to the postmaster alone is PostgreSQL's fast shutdown (it ends its own children);
    # SIGKILL only if it is still there after `grace`.
    processes.terminate(recorded.pid, grace, sig=signal.SIGINT, group=False)
    return True


def _client(program: str, args: list[str], password: str) -> None:
    """Run one of PostgreSQL's client programs against Label Studio's database on 127.0.0.1."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("PG")}
    env["PGPASSWORD"] = password
    done = subprocess.run(
        [pg_binary(program), "-h", HOST, "-U", SUPERUSER, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
        check=False,
    )
    if done.returncode != 0:
        raise EnvironmentProblem(f"{program} failed ({done.returncode}): {_last_line(done.stderr, password)}")


def dump(port: int, password: str, target: Path) -> None:
    """`pg_dump` Label Studio's database (custom format, one consistent snapshot: writers go on)."""
    _client("pg_dump", ["-p", str(port), "-Fc", "-f", str(target), DATABASE], password)


def restore_dump(port: int, password: str, source: Path) -> None:
    """Load a `dump` into the (empty) database of the cluster on `port`; any error stops it."""
    args = ["-p", str(port), "-d", DATABASE, "--no-owner", "--exit-on-error", "--single-transaction"]
    _client("pg_restore", [*args, str(source)], password)
