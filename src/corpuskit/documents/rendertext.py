"""Document -> raw text: the inverse of `corpuskit.documents.rawtext.parse_raw_text`.

`render_raw_text` writes a document in the raw text format so that parsing the result gives the
document back, and raises `RenderError` naming the field when the format cannot express it.
"""

from __future__ import annotations

import re
from typing import Any

from corpuskit.documents.model import FIELDS, Document
from corpuskit.documents.rawtext import (
    BULLET,
    METADATA_LABELS,
    MONTH_NAMES,
    is_agency,
    metadata_key,
    parse_raw_text,
)

_ISO_MINUTE = re.compile(r"(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):00([+-]\d{2}:\d{2})?\Z")


class RenderError(ValueError):
    """The document holds something the raw text format cannot express (message names the field)."""


def _render_date(field: str, value: str) -> str:
    match = _ISO_MINUTE.match(value)
    if match is None:
        raise RenderError(
            f"{field}: {value!r} cannot be written; the raw format holds whole minutes"
            " (YYYY-MM-DDTHH:MM:00, optionally with a ±HH:MM offset)"
        )
    year, month, day, hour, minute = (int(part) for part in match.groups()[:5])
    return f"{hour:02d}:{minute:02d} | {day} {MONTH_NAMES[month - 1]} {year:04d}"


def _render_metadata(doc: Document) -> list[str]:
    section, source = doc.get("section"), doc.get("source")
    bullets: list[str] = []
    if section is not None and source is not None:
        if metadata_key(section) is None and metadata_key(source) is None:
            bullets += [f"- {section}", f"- {source}"]
        else:
            bullets += [f"- Section: {section}", f"- Source: {source}"]
    elif section is not None:
        plain = metadata_key(section) is None and not is_agency(section)
        bullets.append(f"- {section}" if plain else f"- Section: {section}")
    elif source is not None:
        plain = metadata_key(source) is None and is_agency(source)
        bullets.append(f"- {source}" if plain else f"- Source: {source}")
    for field in ("published_at", "modified_at"):
        if doc.get(field) is not None:
            bullets.append(f"- {METADATA_LABELS[field]}: {_render_date(field, doc[field])}")
    return bullets


def _single_line(field: str, value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise RenderError(f"{field}: must be a non-empty string")
    if "\n" in value or "\r" in value:
        raise RenderError(f"{field}: holds a line break; the raw format has one line per field")
    if value != value.strip():
        raise RenderError(f"{field}: has surrounding whitespace, which reading trims")
    return value


def render_raw_text(doc: Document) -> str:
    """Write a document in the raw text format, so that parsing the result gives `doc` back.

    Dates are written as wall-clock minutes; parse the result with the `raw_timezone` that
    yields the document's offsets (or none for offset-free dates). Raises RenderError naming
    the field when the format cannot express the document (see docs/raw-format.md)."""
    if doc.get("removed_lines"):
        raise RenderError("removed_lines: the raw format keeps no record of stripped lines")
    out = [_single_line("title", doc["title"])]
    if doc["summary"] is not None:
        summary = _single_line("summary", doc["summary"])
        if summary.startswith(BULLET):
            raise RenderError("summary: starts with '- ', which reads as a metadata bullet")
        out.append(summary)
    bullets = _render_metadata(doc)
    if doc["summary"] is None and not bullets:
        raise RenderError("summary: null can only be written when a metadata bullet follows the headline")
    out += bullets
    heading: str | None = None
    for index, paragraph in enumerate(doc["paragraphs"]):
        if paragraph["heading"] != heading:
            if paragraph["heading"] is None:
                raise RenderError(f"paragraphs.{index}.heading: null after a subheading cannot be written")
            heading = _single_line(f"paragraphs.{index}.heading", paragraph["heading"])
            out.append(heading)
        out.append(_single_line(f"paragraphs.{index}.text", paragraph["text"]))
    out += [f"({_single_line(f'credits.{i}', credit)})" for i, credit in enumerate(doc["credits"])]
    for index, link in enumerate(doc["related"]):
        line = f"{_single_line(f'related.{index}.label', link['label'])} | "
        line += _single_line(f"related.{index}.title", link["title"])
        if link.get("url") is not None:
            line += f" | {_single_line(f'related.{index}.url', link['url'])}"
        out.append(line)
    text = "\n".join(out) + "\n"
    _check_round_trip(doc, text)
    return text


def _check_round_trip(doc: Document, text: str) -> None:
    """Parse the rendering back and name the first field that would not survive."""
    parsed = parse_raw_text(text, doc_id=doc["id"], language=doc["language"], raw_path=doc["raw_path"])
    if parsed.problems:
        problem = parsed.problems[0]
        where = problem.pointer.lstrip("/").replace("/", ".") or "document"
        raise RenderError(f"{where}: would not read back: {problem.message}")
    assert parsed.document is not None
    for field in FIELDS:
        if field == "content_sha256":
            continue
        expected, actual = doc[field], parsed.document[field]
        if field in ("published_at", "modified_at") and expected is not None:
            expected = expected[:19]
        if field == "paragraphs" and len(expected) == len(actual):
            for index, (want, got) in enumerate(zip(expected, actual, strict=True)):
                if want != got:
                    raise RenderError(
                        f"paragraphs.{index}: would read back as {got!r}; the format cannot express"
                        " it (see the subheading, bullet and trailer rules in docs/raw-format.md)"
                    )
        if expected != actual:
            raise RenderError(
                f"{field}: would read back as {actual!r}; the format cannot express it"
                " (see docs/raw-format.md)"
            )
