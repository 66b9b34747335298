"""`manifest.json`: what a release is made of and the SHA-256 of every file, and checking it back.

No timestamp of the build goes in, so identical inputs give an identical manifest (and release).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit import __version__
from corpuskit.errors import ReleaseError
from corpuskit.release.inputs import file_sha256

if TYPE_CHECKING:
    from corpuskit.release.build import ReleaseInputs, Stats

MANIFEST = "manifest.json"
FORMAT = 1


def _files(folder: Path, stats: Stats) -> dict[str, dict[str, Any]]:
    out: dict[str, dict[str, Any]] = {}
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != MANIFEST:
            out[rel] = {"sha256": stats.sha256_of(path, rel), "size": path.stat().st_size}
    return out


def split_warnings(stats: Stats) -> list[str]:
    """What `release` says loudly about the splits: a small corpus all in one split, empty splits."""
    from corpuskit.release.splits import SPLITS

    out = []
    if stats.only_split:
        out.append(
            f"no document fell into train by its hash: all of them are in {stats.only_split} "
            "until the corpus is large enough"
        )
    for config, rows in stats.rows.items():
        empty = [split for split in SPLITS if not rows[split]]
        if empty and any(rows.values()):
            out.append(
                f"{config}: empty split(s) {', '.join(empty)}: not written (datasets cannot load them)"
            )
    return out


def write_manifest(folder: Path, inputs: ReleaseInputs, stats: Stats, version: str) -> Path:
    snapshot = inputs.snapshot
    manifest = {
        "format": FORMAT,
        "name": inputs.pretty_name,
        "version": version,
        "corpuskit_version": __version__,
        "corpus": {"git_commit": inputs.git.get("commit"), "git_dirty": inputs.git.get("dirty")},
        "annotation_snapshot": {
            "project_id": snapshot.get("project_id"),
            "project_title": snapshot.get("project_title"),
            "exported_at": snapshot.get("exported_at"),
            "taxonomy_version": snapshot.get("taxonomy_version"),
        },
        "taxonomy_version": inputs.taxonomy.version,
        "hashes": dict(sorted(inputs.hashes.items())),
        "split_ratios": list(inputs.split_ratios),
        "rows": stats.rows,
        "agreement": inputs.agreement,
        "below_threshold": inputs.shortfalls,
        # Pseudonyms of the demo accounts whose scripted answers are in the release (publish warns).
        "demo_annotators": sorted(stats.demo_annotators),
        "shipped": sorted(inputs.shipped),
        "split_warnings": split_warnings(stats),
        "files": _files(folder, stats),
    }
    path = folder / MANIFEST
    path.write_text(
        json.dumps(manifest, indent=2, sort_keys=True, ensure_ascii=False) + "\n", encoding="utf-8"
    )
    return path


def read_manifest(folder: Path) -> dict[str, Any]:
    path = folder / MANIFEST
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as exc:
        raise ReleaseError(f"{path}: missing; not a corpuskit release (or damaged)") from exc
    except (OSError, json.JSONDecodeError) as exc:
        raise ReleaseError(f"{path}: cannot be read: {exc}") from exc
    if not isinstance(data, dict) or not isinstance(data.get("files"), dict):
        raise ReleaseError(f"{path}: not a corpuskit manifest (no 'files')")
    return data


@dataclass
class Verification:
    folder: Path
    checked: int = 0
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_json(self) -> dict[str, Any]:
        return {
            "release": str(self.folder),
            "ok": self.ok,
            "files_checked": self.checked,
            "problems": self.problems,
        }


def verify_folder(folder: Path) -> Verification:
    """Check every file against the manifest: present, same size, same SHA-256, and nothing extra."""
    manifest = read_manifest(folder)
    result = Verification(folder=folder)
    listed = manifest["files"]
    for rel, expected in sorted(listed.items()):
        path = folder / rel
        result.checked += 1
        if not path.is_file():
            result.problems.append(f"{path}: missing")
        elif path.stat().st_size != expected.get("size"):
            result.problems.append(
                f"{path}: size {path.stat().st_size} != {expected.get('size')} in the manifest"
            )
        elif file_sha256(path) != expected.get("sha256"):
            result.problems.append(f"{path}: SHA-256 differs from the manifest (changed after release)")
    for path in sorted(folder.rglob("*")):
        rel = path.relative_to(folder).as_posix()
        if path.is_file() and rel != MANIFEST and rel not in listed and not rel.startswith(".cache"):
            result.problems.append(f"{path}: not in the manifest (added after release)")
    return result
