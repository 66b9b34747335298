"""What a release reads from the corpus repository, through the modules that own each part.

Documents come from the document reader, validation and near-duplicates from the validation engine,
the taxonomy from its loader, annotations/gold/agreement from the pulled snapshot and the quality
module. Everything here is a thin call; the reading itself lives in those modules.
"""

from __future__ import annotations

import hashlib
import importlib
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from corpuskit.errors import ReleaseError, UsageError
from corpuskit.settings import Settings

Row = dict[str, Any]


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def load_taxonomy(settings: Settings) -> Any:
    from corpuskit.taxonomy.loader import load_taxonomy as load

    return load(settings.path(settings.taxonomy))


def iter_jsonl(path: Path) -> Iterator[Row]:
    """Rows of a JSONL file, one at a time; a bad line is a ReleaseError naming file and line."""
    with path.open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise ReleaseError(f"{path}:{number}: not valid JSON: {exc}") from exc
            if not isinstance(row, dict):
                raise ReleaseError(f"{path}:{number}: expected a JSON object")
            yield row


def iter_documents(settings: Settings) -> Iterator[Row]:
    """The normalized documents of the corpus, read one at a time by the document reader."""
    reader = importlib.import_module("corpuskit.documents.reader")
    yield from reader.iter_files([settings.path(settings.raw)])


def annotations_dir(settings: Settings) -> Path:
    return settings.path(settings.annotations)


def read_snapshot(settings: Settings) -> Row:
    folder = annotations_dir(settings)
    try:
        pull = importlib.import_module("corpuskit.studio.pull")
        snapshot = pull.read_snapshot(folder)
        return dict(snapshot) if not isinstance(snapshot, dict) else snapshot
    except ModuleNotFoundError:
        pass
    path = folder / "snapshot.json"
    if not path.is_file():
        raise ReleaseError(f"{path}: no annotation snapshot; run `corpuskit pull` first")
    data = orjson.loads(path.read_bytes())
    if not isinstance(data, dict):
        raise ReleaseError(f"{path}: expected a JSON object")
    return data


def git_state(root: Path) -> dict[str, Any]:
    """The corpus commit a release was built from, and whether uncommitted changes were included."""
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True, check=True
        ).stdout.strip()
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=root,
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None}
    return {"commit": commit, "dirty": bool(status.strip())}


@dataclass
class ValidationOutcome:
    ok: bool
    errors: list[str]
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)


def validate_corpus(settings: Settings) -> ValidationOutcome:
    """Run the validation engine on the raw corpus; its near-duplicate pairs feed the splits."""
    api = importlib.import_module("corpuskit.validation.api")
    result = api.validate([settings.path(settings.raw)], settings=settings)
    diagnostics = list(getattr(result, "diagnostics", []))
    errors = [str(d) for d in diagnostics if getattr(getattr(d, "severity", None), "value", "") == "error"]
    return ValidationOutcome(ok=not errors, errors=errors, near_duplicates=near_duplicate_pairs(result))


def near_duplicate_pairs(result: Any) -> list[tuple[str, str]]:
    """Near-duplicate document pairs found by validation (`near_duplicates` on its result)."""
    pairs = getattr(result, "near_duplicates", None)
    if pairs is None:
        return []
    out: list[tuple[str, str]] = []
    for pair in pairs:
        if isinstance(pair, dict):
            out.append((str(pair["a"]), str(pair["b"])))
        elif isinstance(pair, tuple | list):
            out.append((str(pair[0]), str(pair[1])))
        else:
            out.append((str(pair.a), str(pair.b)))
    return out


@dataclass
class Quality:
    """Agreement per target (with intervals) and the shortfalls against the settings' thresholds."""

    agreement: dict[str, Any]
    shortfalls: list[str]
    write_report: Any = None


def require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise UsageError(f"{path}: {what} not found")
    return path
