"""Processes corpuskit starts (Label Studio, PostgreSQL, Caddy): knowing them again and ending them.

A process is recorded by its pid and its start time (clock ticks since boot, from /proc), and is
signalled only while the pid still runs the program recorded and started at that time: a pid reused
by another program after a reboot or a crash is never signalled.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any


def start_time(pid: int) -> int | None:
    """The process's start time in clock ticks since boot (tells a reused pid from ours)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: count from the last ')'.
    return int(stat.rsplit(")", 1)[1].split()[19])


def state(pid: int) -> str | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def alive(pid: int) -> bool:
    """Whether `pid` runs (a zombie does not; our own exited child is reaped on the way)."""
    try:
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    except ChildProcessError:
        pass
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        pass  # another user's process (PostgreSQL under root runs as `postgres`): it exists
    return state(pid) not in {None, "Z", "X"}


def runs(pid: int, marker: bytes | tuple[bytes, ...]) -> bool:
    """Whether `pid`'s command line contains `marker` (or one of them: the program recorded for it)."""
    try:
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return any(m in cmdline for m in ((marker,) if isinstance(marker, bytes) else marker))


# Processes this process started, kept so that their Popen objects live (and reap) as long as they run.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}


def adopt(process: subprocess.Popen[bytes]) -> None:
    """Keep a started server's Popen until `forget`, so that it is reaped when it ends."""
    _CHILDREN[process.pid] = process


def spawn(command: list[str], cwd: Path, env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a server in its own session (so it is stopped with its children), its output appended
    to `log` (mode 0600), and keep its Popen (`adopt`)."""
    with open(open_log(log), "ab") as out:
        process = subprocess.Popen(
            command,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    adopt(process)
    return process


def forget(pid: int) -> None:
    """Reap a server this process started, once it has been stopped."""
    child = _CHILDREN.pop(pid, None)
    if child is not None:
        child.wait()


@dataclass(frozen=True)
class Recorded:
    """A process as a pid file records it: pid, start time and the program it must be running."""

    pid: int
    started: int | None
    marker: bytes | tuple[bytes, ...]

    def owned(self) -> bool:
        """Still the process corpuskit started (same program, same start time) and running."""
        if not runs(self.pid, self.marker) or not alive(self.pid):
            return False
        return self.started is None or start_time(self.pid) == self.started

    def to_json(self) -> dict[str, Any]:
        return {"pid": self.pid, "start_time": self.started}

    @classmethod
    def of(cls, pid: int, marker: bytes | tuple[bytes, ...]) -> Recorded:
        return cls(pid=pid, started=start_time(pid), marker=marker)

    @classmethod
    def from_json(cls, data: Any, marker: bytes | tuple[bytes, ...]) -> Recorded | None:
        if not isinstance(data, dict) or not isinstance(data.get("pid"), int):
            return None
        started = data.get("start_time")
        return cls(pid=data["pid"], started=started if isinstance(started, int) else None, marker=marker)


def open_log(path: Path) -> int:
    """A log file opened for appending, private to the owner (mode 0600): a server's output can
    name users and paths."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.fchmod(fd, 0o600)
    return fd


def wait_gone(pid: int, timeout: float) -> bool:
    """Wait until `pid` has exited; True if it did within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.1)
    return True


def terminate(
    pid: int, grace: float = 20.0, *, sig: signal.Signals = signal.SIGTERM, group: bool = True
) -> None:
    """Send `sig` to `pid` (with `group`, to its whole process group when it leads one that is not
    ours), then SIGKILL whatever is left after `grace` seconds."""
    try:
        pgid = os.getpgid(pid)
    except ProcessLookupError:
        return
    # Only signal a group the process leads (it was started in its own session); never ours.
    target_group = group and pgid == pid and pgid != os.getpgrp()
    try:
        if target_group:
            os.killpg(pgid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return
    wait_gone(pid, grace)
    try:
        if target_group:
            os.killpg(pgid, signal.SIGKILL)
        elif alive(pid):
            os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    wait_gone(pid, 5.0)
