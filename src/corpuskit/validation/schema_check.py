"""The schema check: schema/document.schema.json applied to one normalized document.

Two validators share one schema. `jsonschema_rs` (compiled, Draft 2020-12) accepts valid
documents fast; only a document it rejects goes through `jsonschema`, whose best-match error
becomes the one diagnostic, so messages are the same whichever path a document takes.
Both check the custom format `corpuskit-datetime` with `parse_datetime`, which rejects dates
that do not exist (2024-02-31): `jsonschema` would skip `format: date-time` silently without
its format extras, so the schema names a format of its own.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

from corpuskit.diagnostics import Diagnostic, Severity
from corpuskit.errors import UsageError

DATETIME_FORMAT = "corpuskit-datetime"
DEFAULT_SCHEMA = "schema/document.schema.json"


def parse_datetime(value: str) -> datetime | None:
    """The datetime a `corpuskit-datetime` string names, or None when the date or time does not exist."""
    try:
        return datetime.fromisoformat(value.replace("Z", "+00:00") if value.endswith("Z") else value)
    except ValueError:
        return None


def is_datetime(value: object) -> bool:
    return not isinstance(value, str) or parse_datetime(value) is not None


def pointer_of(path: Any) -> str:
    """JSON pointer (RFC 6901) of a jsonschema error path."""
    return "".join("/" + str(part).replace("~", "~0").replace("/", "~1") for part in path)


def line_for(pointer: str, field_lines: Mapping[str, int], default: int) -> int:
    """Line of the nearest located field at or above `pointer`."""
    while True:
        if pointer in field_lines:
            return field_lines[pointer]
        if not pointer:
            return default
        pointer = pointer.rsplit("/", 1)[0]


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 4] + "...'"


def _forbidden_character(value: str, single_line: bool) -> str | None:
    from corpuskit.documents.characters import describe, first_forbidden

    index = first_forbidden(value, single_line=single_line)
    if index is None:
        return None
    return f"contains {describe(value[index])} at character {index + 1}"


@dataclass(frozen=True)
class Problem:
    pointer: str
    code: str
    message: str


def explain(error: Any) -> Problem:
    """Turn jsonschema's best-match error into a code and a sentence that names the field."""
    pointer = pointer_of(error.absolute_path)
    keyword = error.validator
    value = error.instance
    schema = error.schema if isinstance(error.schema, dict) else {}
    if keyword == "additionalProperties":
        known = set(schema.get("properties", {}))
        extra = sorted(set(value) - known) if isinstance(value, dict) else []
        if not extra:
            return Problem(pointer, "unknown-field", "has a field the schema does not allow")
        others = f" (also {', '.join(repr(name) for name in extra[1:])})" if extra[1:] else ""
        return Problem(
            f"{pointer}/{pointer_of([extra[0]])[1:]}",
            "unknown-field",
            f"is not a field of the document schema{others}",
        )
    if keyword == "required":
        missing = error.message.split("'")[1] if "'" in error.message else "?"
        return Problem(pointer + "/" + missing if missing != "?" else pointer, "missing-field", "is required")
    if keyword == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return Problem(pointer, "wrong-type", f"{_short(value)} is not of type {expected}")
    if keyword == "format" or (keyword == "pattern" and schema.get("format") == DATETIME_FORMAT):
        pattern = schema.get("pattern")
        if keyword == "pattern" or (isinstance(value, str) and pattern and not re.search(pattern, value)):
            return Problem(
                pointer,
                "invalid-date",
                f"{_short(value)} is not an ISO 8601 date-time (YYYY-MM-DDTHH:MM[:SS][±HH:MM])",
            )
        return Problem(pointer, "invalid-date", f"{_short(value)} is not a real date")
    if keyword in ("maxLength", "maxItems"):
        size = len(value) if isinstance(value, str | list) else "?"
        unit = "characters" if keyword == "maxLength" else "items"
        limit = error.validator_value
        return Problem(pointer, "too-long", f"has {size} {unit}, more than the limit of {limit}")
    if keyword in ("minLength", "minItems"):
        return Problem(pointer, "empty", "must not be empty")
    if keyword == "pattern" and isinstance(value, str):
        field = pointer.rsplit("/", 1)[-1]
        if pointer == "/id":
            return Problem(
                pointer,
                "invalid-id",
                f"{_short(value)} is not a safe id (letters, digits, '.', '_', '-'; no '..', no spaces)",
            )
        if pointer == "/language":
            return Problem(pointer, "invalid-language", f"{_short(value)} is not a BCP 47 language tag")
        if pointer == "/content_sha256":
            return Problem(pointer, "invalid-hash", f"{_short(value)} is not a lowercase hex SHA-256")
        if pointer.endswith("/url"):
            return Problem(pointer, "invalid-url", f"{_short(value)} is not an http(s) URL")
        single_line = field not in ("summary", "text")
        if value != value.strip():
            return Problem(pointer, "surrounding-whitespace", "has leading or trailing whitespace")
        found = _forbidden_character(value, single_line)
        if found:
            return Problem(pointer, "forbidden-character", found)
        return Problem(pointer, "invalid-value", f"{_short(value)} does not match {error.validator_value!r}")
    return Problem(pointer, "schema", error.message)


_BRANCHING = ("oneOf", "anyOf")


def document_hash_missing(document: Any) -> bool:
    return isinstance(document, dict) and document.get("content_sha256") is None


def _descend(error: Any) -> Any:
    """For `oneOf`/`anyOf`, the error of the branch the value was meant for.

    Every optional field is `oneOf: [null, X]`; a non-null value was meant for X, so the null
    branch's "is not of type 'null'" is dropped and the best match among the rest is taken.
    """
    from jsonschema.exceptions import best_match

    while error.validator in _BRANCHING and error.context:
        meant = [
            e
            for e in error.context
            if not (e.validator == "type" and e.validator_value == "null" and not e.relative_path)
        ]
        error = best_match(meant or error.context)
    return error


class SchemaChecker:
    """Compiled checker for one schema file; `check` returns the diagnostics of one document."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        import jsonschema_rs

        self.schema = dict(schema)
        self._fast: Callable[[Any], bool] = jsonschema_rs.validator_for(
            self.schema, formats={DATETIME_FORMAT: is_datetime}, validate_formats=True
        ).is_valid
        self._explainer: Any = None

    @property
    def _slow(self) -> Any:
        """The `jsonschema` validator, built on the first invalid document: importing jsonschema
        with its format extras compiles URI grammars (seconds), which a clean run never needs."""
        if self._explainer is None:
            import jsonschema

            format_checker = jsonschema.FormatChecker()
            format_checker.checks(DATETIME_FORMAT)(is_datetime)
            jsonschema.Draft202012Validator.check_schema(self.schema)
            self._explainer = jsonschema.Draft202012Validator(self.schema, format_checker=format_checker)
        return self._explainer

    def is_valid(self, document: Any) -> bool:
        return self._fast(document)

    def problems(self, document: Any) -> list[Problem]:
        """Every distinct problem, best match first (one per JSON pointer)."""
        from jsonschema.exceptions import best_match

        errors = list(self._slow.iter_errors(document))
        if not errors:
            return []
        found: dict[str, Problem] = {}
        best = explain(_descend(best_match(errors)))
        found[best.pointer] = best
        for error in sorted(errors, key=lambda e: pointer_of(e.absolute_path)):
            problem = explain(_descend(error))
            found.setdefault(problem.pointer, problem)
        if len(found) > 1 and document_hash_missing(document):
            # The reader leaves the hash out when the text it hashes is missing: that is reported.
            found.pop("/content_sha256", None)
        return list(found.values())

    def check(
        self,
        document: Any,
        *,
        file: str,
        line: int,
        field_lines: Mapping[str, int],
        document_id: str | None = None,
    ) -> list[Diagnostic]:
        if self._fast(document):
            return []
        problems = self.problems(document) or [
            # The two engines disagree (a regex or format corner case): still an error, never a pass.
            Problem("", "schema", "does not match the document schema")
        ]
        return [
            Diagnostic(
                file=file,
                line=line_for(problem.pointer, field_lines, line),
                column=None,
                pointer=problem.pointer,
                severity=Severity.ERROR,
                code=problem.code,
                message=problem.message,
                document_id=document_id,
            )
            for problem in problems
        ]


@lru_cache(maxsize=4)
def _load(path: str, mtime: float) -> SchemaChecker:
    try:
        schema = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise UsageError(f"{path}: cannot read the document schema: {exc}") from exc
    try:
        return SchemaChecker(schema)
    except Exception as exc:  # a schema that jsonschema itself rejects is a setting error
        raise UsageError(f"{path}: not a valid Draft 2020-12 schema: {exc}") from exc


def bundled_schema() -> Path:
    """The document schema corpuskit ships: inside the installed package, else in its source tree."""
    package = Path(__file__).resolve().parents[1]
    for candidate in (
        package / "schema" / "document.schema.json",
        package.parents[1] / "schema" / "document.schema.json",
    ):
        if candidate.is_file():
            return candidate
    raise UsageError("the corpuskit installation lacks schema/document.schema.json; reinstall it")


def schema_path(root: Path, setting: str) -> Path:
    """The schema a corpus uses: its own file when it has one, else the bundled contract."""
    own = (root / setting).resolve()
    if own.is_file() or setting != DEFAULT_SCHEMA:
        return own
    return bundled_schema()


def load_checker(path: Path) -> SchemaChecker:
    """The compiled checker for the schema file (cached while the file is unchanged)."""
    try:
        mtime = path.stat().st_mtime
    except OSError as exc:
        raise UsageError(f"{path}: the document schema does not exist") from exc
    return _load(str(path), mtime)
