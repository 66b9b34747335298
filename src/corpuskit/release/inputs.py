"""What a release reads from the corpus repository, through the modules that own each part.

Documents come from the document reader, validation and near-duplicates from the validation engine,
the taxonomy from its loader, annotations/gold/agreement from the pulled snapshot and the quality
module. Everything here is a thin call; the reading itself lives in those modules.
"""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from corpuskit.errors import DataError, ReleaseError, UsageError
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


def snapshot_rows(folder: Path, table: str, meta: Mapping[str, Any]) -> Iterator[Row]:
    """Rows of a snapshot table, streamed and checked against `snapshot.json` by `corpuskit.snapshot`;
    a bad line or a changed table is a ReleaseError naming the file."""
    from corpuskit.snapshot import iter_table

    try:
        yield from iter_table(folder, table, meta=meta)
    except ReleaseError:
        raise
    except DataError as exc:
        raise ReleaseError(str(exc)) from None


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
    result: Any = None
    near_duplicates: list[tuple[str, str]] = field(default_factory=list)
    # Every cluster of identical or near-duplicate documents: (kind, member ids).
    duplicate_groups: list[tuple[str, tuple[str, ...]]] = field(default_factory=list)
    # Ids of the documents the dedupe record leaves out (valid, not released).
    left_out: list[str] = field(default_factory=list)
    dedupe_record: str | None = None


def validate_corpus(settings: Settings) -> ValidationOutcome:
    """Run the validation engine on the raw corpus; its near-duplicate pairs feed the splits."""
    from corpuskit.validation.api import validate

    result = validate(settings=settings)
    errors = [str(d) for d in result.diagnostics if d.severity.value == "error"]
    return ValidationOutcome(
        ok=result.ok,
        errors=errors,
        result=result,
        near_duplicates=[(str(a), str(b)) for a, b in result.near_duplicates],
        duplicate_groups=list(result.groups),
        left_out=sorted({str(item["id"]) for item in result.left_out}),
        dedupe_record=settings.dedupe_record if result.dedupe_record else None,
    )


def require(path: Path, what: str) -> Path:
    if not path.is_file():
        raise UsageError(f"{path}: {what} not found")
    return path


# The names the taxonomy and guidelines get inside a release (the card and Croissant cite them).
TAXONOMY_FILE = "taxonomy.yaml"
GUIDELINES_FILE = "annotation-guidelines.md"


def shipped_files(settings: Settings) -> dict[str, Path]:
    """The corpus files a release carries beside its data: the taxonomy, and the guidelines if any."""
    files = {TAXONOMY_FILE: settings.path(settings.taxonomy)}
    guidelines = settings.path(settings.guidelines)
    if guidelines.is_file():
        files[GUIDELINES_FILE] = guidelines
    return files


def document_sources(settings: Settings, result: Any) -> dict[str, str | None]:
    """Document id -> source, read before the build: held-out-source splits need every source (and
    the near-duplicate links between sources) before the first document is placed."""
    from corpuskit.validation.api import iter_valid_documents

    return {
        str(doc["id"]): doc.get("source") for doc in iter_valid_documents(settings=settings, result=result)
    }
