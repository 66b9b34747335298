"""Using a release: find it, verify every checksum, then hand it to `datasets`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpuskit.errors import ReleaseError, UsageError
from corpuskit.release.manifest import Verification, verify_folder
from corpuskit.release.versions import is_version, normalize, version_dir


def releases_folder(releases: str | Path | None) -> Path:
    if releases is not None:
        return Path(releases)
    from corpuskit.settings import load_settings

    settings = load_settings()
    return settings.path(settings.releases)


def resolve_release(version: str | Path, releases: str | Path | None = None) -> Path:
    """A release folder from a version ('1.0.0', 'v1.0.0') or a path to the folder."""
    candidate = Path(version)
    # A folder given by path is the release even without its manifest, so that a deleted manifest
    # is reported as such (not as "not a release version").
    if candidate.is_dir() and ((candidate / "manifest.json").exists() or not is_version(str(version))):
        return candidate
    folder = version_dir(releases_folder(releases), normalize(str(version)))
    if not folder.is_dir():
        # A release that is not there is a usage error (exit 2), as `verify` and `diff` promise.
        raise UsageError(f"{folder}: no such release")
    return folder


def verify(version: str | Path, releases: str | Path | None = None) -> Verification:
    """Check every file of a release against its manifest (SHA-256 and size); never raises on a mismatch."""
    return verify_folder(resolve_release(version, releases))


def load(version: str | Path, config: str = "gold", releases: str | Path | None = None, **kwargs: Any) -> Any:
    """Verify a release, then load one config with `datasets.load_dataset` (a DatasetDict of the splits).

    Raises ReleaseError naming the first tampered, missing or extra file."""
    folder = resolve_release(version, releases)
    result = verify_folder(folder)
    if not result.ok:
        more = f" (and {len(result.problems) - 1} more)" if len(result.problems) > 1 else ""
        raise ReleaseError(f"release {folder.name} failed verification: {result.problems[0]}{more}")
    import datasets

    return datasets.load_dataset(str(folder), config, **kwargs)
