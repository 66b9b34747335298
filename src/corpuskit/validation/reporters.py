"""Reporters: a `ValidationResult` as text for people, JSON for programs, annotations for GitHub.

Pick one from `REPORTERS`; each writes to the stream it is given. The JSON shape is stable
(`version` changes if it ever must), documented in docs/validation.md and published as a JSON
Schema (`report.schema.json` beside this module, `report_schema()`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Any, TextIO

from corpuskit.diagnostics import Diagnostic
from corpuskit.errors import CorpuskitError
from corpuskit.validation.api import ValidationResult

JSON_VERSION = 1
REPORT_SCHEMA = "report.schema.json"

Reporter = Callable[[ValidationResult, TextIO], None]


def summary_line(result: ValidationResult) -> str:
    """'2 files, 3 documents: 2 valid, 1 invalid; 1 error, 0 warnings'."""

    def count(number: int, word: str) -> str:
        return f"{number} {word}{'' if number == 1 else 's'}"

    scope = ""
    if result.changed_files is not None:
        scope = f" ({result.changed_files} changed)"
    elif result.full_check:
        scope = f" (all checked: {result.full_check})"
    line = (
        f"{count(result.files, 'file')}{scope}, {count(result.documents, 'document')}: "
        f"{result.valid} valid, {result.invalid} invalid; "
        f"{count(result.errors, 'error')}, {count(result.warnings, 'warning')}"
    )
    # A corpus in one language keeps its one line; several languages are counted (JSON: always).
    kinds = (("identical", "identical-content cluster"), ("near-duplicate", "near-duplicate cluster"))
    for kind, name in kinds:
        clusters = [cluster for cluster in result.clusters if cluster["kind"] == kind]
        if clusters:
            members = sum(cluster["size"] for cluster in clusters)
            line += f"; {count(len(clusters), name)} of {members} documents"
    if result.dedupe_record and (result.left_out or result.dedupe_written):
        verb = "written" if result.dedupe_written else "read"
        line += f"; {len(result.left_out)} left out by {result.dedupe_record} ({verb})"
    if len(result.languages) > 1:
        line += "; languages: " + ", ".join(f"{tag} {n}" for tag, n in result.languages.items())
    return line


def report_text(result: ValidationResult, out: TextIO) -> None:
    for diagnostic in result.diagnostics:
        print(diagnostic, file=out)
    for file, count in sorted(result.stripped.items()):
        print(f"{file}: {count} boilerplate line{'' if count == 1 else 's'} stripped", file=out)


def report_json(result: ValidationResult, out: TextIO) -> None:
    payload = {
        "version": JSON_VERSION,
        "ok": result.ok,
        "summary": result.summary(),
        "diagnostics": [diagnostic.to_json() for diagnostic in result.diagnostics],
        "clusters": list(result.clusters),
        "left_out": list(result.left_out),
    }
    json.dump(payload, out, ensure_ascii=False, indent=None)
    out.write("\n")


def report_json_error(error: CorpuskitError, out: TextIO) -> None:
    """The one object `--format json` prints when validation could not run (exit 2)."""
    payload = {
        "version": JSON_VERSION,
        "ok": False,
        "error": {"exit_code": error.exit_code, "message": str(error)},
    }
    json.dump(payload, out, ensure_ascii=False)
    out.write("\n")


def report_schema() -> dict[str, Any]:
    """The JSON Schema (Draft 2020-12) of what `--format json` prints: a report or an error."""
    text = (resources.files("corpuskit.validation") / REPORT_SCHEMA).read_text(encoding="utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(diagnostic: Diagnostic, top: Path | None = None) -> str:
    """`::error file=raw/a.txt,line=4,title=corpuskit invalid-date::published_at: ...`

    GitHub matches `file` against paths from the repository's top: with `top`, the diagnostic's
    path is made relative to it, whatever folder validate ran in."""
    file = diagnostic.file
    if top is not None:
        relative = os.path.relpath(os.path.abspath(file), top)
        if not relative.startswith(".."):
            file = Path(relative).as_posix()
    properties = [f"file={_escape_property(file)}"]
    if diagnostic.line is not None:
        properties.append(f"line={diagnostic.line}")
        if diagnostic.column is not None:
            properties.append(f"col={diagnostic.column}")
    properties.append(f"title={_escape_property('corpuskit ' + diagnostic.code)}")
    field = diagnostic.pointer.lstrip("/").replace("/", ".")
    message = f"{field}: {diagnostic.message}" if field else diagnostic.message
    return f"::{diagnostic.severity.value} {','.join(properties)}::{_escape_data(message)}"


def report_github(result: ValidationResult, out: TextIO) -> None:
    from corpuskit.validation.gitscope import repository_root

    top = (repository_root(result.root) or result.root) if result.root else None
    for diagnostic in result.diagnostics:
        print(github_annotation(diagnostic, top), file=out)


REPORTERS: dict[str, Reporter] = {
    "text": report_text,
    "json": report_json,
    "github": report_github,
}
