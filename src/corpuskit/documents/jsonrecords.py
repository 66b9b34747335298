"""JSON and JSONL records: strict parsing with exact locations, then normalization to a document.

Parsing is orjson (fast, refuses NaN/Infinity and lone surrogates); a failure is re-parsed with
the standard library to report the familiar message with line and column. orjson keeps the last
of duplicate keys silently, so duplicates are found by a cheap count (keys written in the text
vs keys parsed) and located by a small tokenizer only when that count disagrees.
"""

from __future__ import annotations

import json
import re
from typing import Any

import orjson

from corpuskit.documents.characters import describe, first_forbidden, json_may_hold_forbidden
from corpuskit.documents.model import FIELDS, Document, content_sha256
from corpuskit.documents.problems import ReadError

_FIELD_NAMES = frozenset(FIELDS)

# Fields a record may leave out, and what they become.
OPTIONAL_DEFAULTS: dict[str, Any] = {
    "summary": None,
    "section": None,
    "source": None,
    "published_at": None,
    "modified_at": None,
    "credits": [],
    "related": [],
}

_TOKEN = re.compile(
    r'"(?:[^"\\\n]|\\.)*"?'  # a string (an unterminated one ends at the line)
    r"|[{}\[\],:\n]"
    r"|-?(?:NaN|Infinity)\b"
    r"|-?[0-9][0-9.eE+-]*|true|false|null"
)
_WHITESPACE_BEFORE_COLON = re.compile(r'"[ \t\r\n]+:')
_ESCAPED_QUOTE_OR_COLON = re.compile(r"\\u00(?:22|3[aA])")


def _pointer_token(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


class _Scan:
    """Walks the tokens of a JSON text once: the line of every member and array element,
    the first duplicate key and the first NaN/Infinity literal."""

    def __init__(self, text: str, first_line: int) -> None:
        self.lines: dict[str, int] = {}
        self.duplicate: tuple[str, str, int, int] | None = None  # key, pointer, line, column
        self.non_finite: tuple[str, int, int | None] | None = None  # literal, line, column
        line, line_start = first_line, 0
        # Frames: [is_object, pointer, seen keys, expecting key / element, current child pointer, index]
        stack: list[list[Any]] = []
        for match in _TOKEN.finditer(text):
            token = match.group()
            char = token[0]
            if char == "\n":
                line, line_start = line + 1, match.end()
                continue
            column = match.start() - line_start + 1
            top = stack[-1] if stack else None
            if top is not None and not top[0] and top[3] and char not in ",]":
                top[5] += 1
                top[4] = f"{top[1]}/{top[5]}"
                top[3] = False
                self.lines[top[4]] = line
            if char == '"':
                if top is not None and top[0] and top[3]:
                    key = token[1:-1] if "\\" not in token else self._unescape(token)
                    pointer = f"{top[1]}/{_pointer_token(key)}"
                    if key in top[2]:
                        if self.duplicate is None:
                            self.duplicate = (key, pointer, line, column)
                    else:
                        top[2].add(key)
                        self.lines[pointer] = line
                    top[3], top[4] = False, pointer
            elif char in "{[":
                pointer = "" if top is None else top[4]
                if top is None:
                    self.lines.setdefault("", line)
                stack.append([char == "{", pointer, set(), True, pointer, -1])
            elif char in "}]":
                if stack:
                    stack.pop()
            elif char == ",":
                if top is not None:
                    top[3] = True
            elif token.lstrip("-") in ("NaN", "Infinity") and self.non_finite is None:
                self.non_finite = (token, line, column)

    @staticmethod
    def _unescape(token: str) -> str:
        try:
            value = json.loads(token)
        except ValueError:
            return token[1:-1]
        return value if isinstance(value, str) else token[1:-1]


def _may_have_duplicate_keys(text: str, value: Any) -> bool:
    """False only when no key can have been written twice (cheap; True means: scan to find out).

    Without whitespace before colons and without \\u escapes of '"' or ':', each '":' in the
    text is a key or a '":' inside a string, and so it is in orjson's serialization of the
    parsed value, which holds each distinct key once and each kept string once. The counts are
    equal exactly when nothing was dropped, i.e. when no key was repeated."""
    serialized = orjson.dumps(value)
    if serialized == text.encode():
        return False  # written by orjson or an equally compact writer: nothing was dropped
    if "\\u00" in text and _ESCAPED_QUOTE_OR_COLON.search(text) is not None:
        return True
    if ('" ' in text or '"\t' in text or '"\n' in text or '"\r' in text) and _WHITESPACE_BEFORE_COLON.search(
        text
    ) is not None:
        return True
    return text.count('":') != serialized.count(b'":')


def _reject_constant(name: str) -> Any:
    raise ValueError(name)


def _syntax_error(text: str, first_line: int, error: orjson.JSONDecodeError) -> ReadError:
    """The standard library's message and position (familiar to people), or orjson's when only
    orjson refuses the text (lone surrogates, numbers out of range)."""
    try:
        json.loads(text, parse_constant=_reject_constant)
    except json.JSONDecodeError as exc:
        return ReadError(
            "invalid-json",
            f"JSON syntax error: {exc.msg}",
            line=first_line + exc.lineno - 1,
            column=exc.colno,
        )
    except ValueError:
        scan = _Scan(text, first_line)
        literal, line, column = scan.non_finite or ("NaN", first_line, None)
        return ReadError(
            "non-finite-number",
            f"{literal} is not valid JSON (numbers must be finite); use null or a finite number",
            line=line,
            column=column,
        )
    except RecursionError:
        return ReadError("invalid-json", "JSON nested too deeply", line=first_line)
    if "infinity" in error.msg:
        return ReadError(
            "non-finite-number",
            f"a number is too large for a double ({error.msg}); numbers must be finite",
            line=first_line + error.lineno - 1,
            column=error.colno,
        )
    return ReadError(
        "invalid-json",
        f"JSON cannot be read: {error.msg}",
        line=first_line + error.lineno - 1,
        column=error.colno,
    )


def parse_object(
    text: str, *, first_line: int = 1, lines: bool = False
) -> tuple[dict[str, Any], dict[str, int]]:
    """Parse one JSON object; return it with the line of each member when `lines` (else {}).

    Raises ReadError (invalid-json, non-finite-number, duplicate-key, not-an-object)."""
    try:
        value = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise _syntax_error(text, first_line, exc) from None
    if not isinstance(value, dict):
        kind = "an array" if isinstance(value, list) else f"a {type(value).__name__}"
        raise ReadError("not-an-object", f"a record must be a JSON object, not {kind}", line=first_line)
    if lines or _may_have_duplicate_keys(text, value):
        scan = _Scan(text, first_line)
        if scan.duplicate is not None:
            key, pointer, line, column = scan.duplicate
            raise ReadError(
                "duplicate-key",
                f"duplicate key {key!r} (JSON readers disagree on which value wins)",
                line=line,
                column=column,
                pointer=pointer,
            )
        return value, scan.lines if lines else {}
    return value, {}


def character_problems(
    doc: Document, field_lines: dict[str, int], line: int, text: str | None = None
) -> list[ReadError]:
    """Forbidden characters in the string fields of a record (wrong types are the schema's to report).

    `text`, the JSON the record was parsed from, lets records without any suspicious character
    or escape skip the field-by-field look."""
    if text is not None and not json_may_hold_forbidden(text):
        return []
    fields: list[tuple[str, Any, bool]] = [
        ("/title", doc.get("title"), True),
        ("/summary", doc.get("summary"), False),
        ("/section", doc.get("section"), True),
        ("/source", doc.get("source"), True),
    ]
    paragraphs = doc.get("paragraphs")
    if isinstance(paragraphs, list):
        for index, paragraph in enumerate(paragraphs):
            if isinstance(paragraph, dict):
                fields.append((f"/paragraphs/{index}/heading", paragraph.get("heading"), True))
                fields.append((f"/paragraphs/{index}/text", paragraph.get("text"), False))
    credits = doc.get("credits")
    if isinstance(credits, list):
        fields += [(f"/credits/{index}", credit, True) for index, credit in enumerate(credits)]
    related = doc.get("related")
    if isinstance(related, list):
        for index, link in enumerate(related):
            if isinstance(link, dict):
                fields.append((f"/related/{index}/label", link.get("label"), True))
                fields.append((f"/related/{index}/title", link.get("title"), True))
    problems: list[ReadError] = []
    for pointer, value, single_line in fields:
        if not isinstance(value, str):
            continue
        at = first_forbidden(value, single_line=single_line)
        if at is not None:
            problems.append(
                ReadError(
                    "forbidden-character",
                    f"contains {describe(value[at])} at character {at + 1} of the value; remove it",
                    line=line_of(field_lines, pointer, line),
                    pointer=pointer,
                )
            )
    return problems


def line_of(field_lines: dict[str, int], pointer: str, default: int) -> int:
    """The line of `pointer`, else of its nearest ancestor present in `field_lines`, else `default`."""
    while True:
        found = field_lines.get(pointer)
        if found is not None:
            return found
        if not pointer:
            return default
        pointer = pointer[: pointer.rfind("/")]


def normalize_record(
    record: dict[str, Any], *, default_id: str | None, language: str, raw_path: str | None
) -> tuple[Document, str | None]:
    """Fill defaults and derived fields; return (document, content_sha256 the record claimed).

    Missing optional fields get their defaults, `language` the setting, `id` `default_id` (the
    file stem for .json), `raw_path` the reader's. `title` and `paragraphs` stay missing when the
    record lacks them (the schema reports a required field). Unknown fields are kept, after the
    schema's, for the schema to report. `content_sha256` is computed from the text; when the text
    fields have the wrong types it keeps the claimed value (the schema reports the types)."""
    doc: Document = {}
    for name in FIELDS:
        if name in record:
            doc[name] = record[name]
        elif name in OPTIONAL_DEFAULTS:
            doc[name] = [] if name in ("credits", "related") else None
        elif name == "language":
            doc[name] = language
        elif name == "id" and default_id is not None:
            doc[name] = default_id
        elif name in ("content_sha256", "raw_path"):
            doc[name] = None  # placeholders that keep the schema's field order
    doc["raw_path"] = raw_path
    given = record.get("content_sha256")
    if not _FIELD_NAMES.issuperset(record):
        doc |= {key: value for key, value in record.items() if key not in _FIELD_NAMES}
    try:
        doc["content_sha256"] = content_sha256(doc)
    except (KeyError, TypeError, AttributeError):
        # Text fields of the wrong type: the schema reports them; keep the claim meanwhile.
        doc["content_sha256"] = given
    return doc, given if isinstance(given, str) else None
