"""Reporters: a `ValidationResult` as text for people, JSON for programs, annotations for GitHub.

Pick one from `REPORTERS`; each writes to the stream it is given. The JSON shape is stable
(`version` changes if it ever must) and documented in docs/validation.md.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import TextIO

from corpuskit.diagnostics import Diagnostic
from corpuskit.validation.api import ValidationResult

JSON_VERSION = 1

Reporter = Callable[[ValidationResult, TextIO], None]


def summary_line(result: ValidationResult) -> str:
    """'2 files, 3 documents: 2 valid, 1 invalid; 1 error, 0 warnings'."""

    def count(number: int, word: str) -> str:
        return f"{number} {word}{'' if number == 1 else 's'}"

    scope = ""
    if result.changed_files is not None:
        scope = f" ({result.changed_files} changed)"
    return (
        f"{count(result.files, 'file')}{scope}, {count(result.documents, 'document')}: "
        f"{result.valid} valid, {result.invalid} invalid; "
        f"{count(result.errors, 'error')}, {count(result.warnings, 'warning')}"
    )


def report_text(result: ValidationResult, out: TextIO) -> None:
    for diagnostic in result.diagnostics:
        print(diagnostic, file=out)


def report_json(result: ValidationResult, out: TextIO) -> None:
    payload = {
        "version": JSON_VERSION,
        "ok": result.ok,
        "summary": result.summary(),
        "diagnostics": [diagnostic.to_json() for diagnostic in result.diagnostics],
    }
    json.dump(payload, out, ensure_ascii=False, indent=None)
    out.write("\n")


def _escape_data(text: str) -> str:
    return text.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _escape_property(text: str) -> str:
    return _escape_data(text).replace(":", "%3A").replace(",", "%2C")


def github_annotation(diagnostic: Diagnostic) -> str:
    """`::error file=raw/a.txt,line=4,title=corpuskit invalid-date::published_at: ...`"""
    properties = [f"file={_escape_property(diagnostic.file)}"]
    if diagnostic.line is not None:
        properties.append(f"line={diagnostic.line}")
        if diagnostic.column is not None:
            properties.append(f"col={diagnostic.column}")
    properties.append(f"title={_escape_property('corpuskit ' + diagnostic.code)}")
    field = diagnostic.pointer.lstrip("/").replace("/", ".")
    message = f"{field}: {diagnostic.message}" if field else diagnostic.message
    return f"::{diagnostic.severity.value} {','.join(properties)}::{_escape_data(message)}"


def report_github(result: ValidationResult, out: TextIO) -> None:
    for diagnostic in result.diagnostics:
        print(github_annotation(diagnostic), file=out)


REPORTERS: dict[str, Reporter] = {
    "text": report_text,
    "json": report_json,
    "github": report_github,
}
