"""Diagnostics: the values every check returns and every reporter prints."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from enum import StrEnum
from typing import Any


class Severity(StrEnum):
    ERROR = "error"
    WARNING = "warning"


@dataclass(frozen=True, order=True)
class Diagnostic:
    """One finding, located as precisely as the input allows.

    `file` is the path as the user gave it (relative to the working directory when possible),
    `line`/`column` are 1-based (None when unknown), `pointer` is a JSON pointer into the
    normalized document ("" for the whole document), `code` is a stable kebab-case identifier
    documented in docs/validation.md.
    """

    file: str
    line: int | None
    column: int | None
    pointer: str
    severity: Severity
    code: str
    message: str
    document_id: str | None = None

    def location(self) -> str:
        where = self.file
        if self.line is not None:
            where += f":{self.line}"
            if self.column is not None:
                where += f":{self.column}"
        return where

    def __str__(self) -> str:
        field = f" {self.pointer.lstrip('/').replace('/', '.')}:" if self.pointer else ""
        return f"{self.location()}: {self.severity.value}:{field} {self.message} [{self.code}]"

    def to_json(self) -> dict[str, Any]:
        data = asdict(self)
        data["severity"] = self.severity.value
        return data
