"""Release versions (semantic, `X.Y.Z`), their folders, and the lock that serializes builds."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Iterator
from pathlib import Path

from corpuskit.errors import ReleaseError, UsageError

LOCK_NAME = ".release.lock"
TEMP_PREFIX = ".building-"
_VERSION = re.compile(r"^v?(\d+)\.(\d+)\.(\d+)$")
BUMPS = ("major", "minor", "patch")


def parse_version(text: str) -> tuple[int, int, int]:
    match = _VERSION.match(text.strip())
    if not match:
        raise UsageError(f"{text!r} is not a release version: expected X.Y.Z (e.g. 1.0.0)")
    major, minor, patch = (int(part) for part in match.groups())
    return major, minor, patch


def is_version(text: str) -> bool:
    """Whether `text` reads as a release version ('1.2.3' or 'v1.2.3')."""
    return _VERSION.match(text.strip()) is not None


def normalize(text: str) -> str:
    """'v1.2.3' or '1.2.3' -> '1.2.3'."""
    return "{}.{}.{}".format(*parse_version(text))


def version_dir(releases: Path, version: str) -> Path:
    return releases / f"v{normalize(version)}"


def list_versions(releases: Path) -> list[str]:
    """Versions present in `releases/`, oldest first (temporary build folders are ignored)."""
    if not releases.is_dir():
        return []
    found = [
        p.name[1:] for p in releases.iterdir() if p.is_dir() and _VERSION.match(p.name) and p.name[0] == "v"
    ]
    return sorted(found, key=parse_version)


def previous_version(releases: Path, version: str) -> str | None:
    """The newest existing release older than `version`."""
    older = [v for v in list_versions(releases) if parse_version(v) < parse_version(version)]
    return older[-1] if older else None


def bump(releases: Path, part: str) -> str:
    """The next version after the newest release (0.0.0 when there is none)."""
    if part not in BUMPS:
        raise UsageError(f"--bump must be one of {', '.join(BUMPS)}, not {part!r}")
    versions = list_versions(releases)
    major, minor, patch = parse_version(versions[-1]) if versions else (0, 0, 0)
    if part == "major":
        return f"{major + 1}.0.0"
    if part == "minor":
        return f"{major}.{minor + 1}.0"
    return f"{major}.{minor}.{patch + 1}"


@contextlib.contextmanager
def release_lock(path: Path) -> Iterator[None]:
    """An exclusive lock on `releases/` for one build; a second build fails at once instead of waiting."""
    import fcntl

    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            raise ReleaseError(
                f"{path}: another release is being built; try again when it has finished"
            ) from exc
        yield
    finally:
        os.close(fd)
