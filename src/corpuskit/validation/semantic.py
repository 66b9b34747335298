"""Per-document checks the schema cannot express: dates against the clock and each other, and the
content hash a record claims against the hash of its text.

A date-time without an offset (the raw text format gives none) may be in any time zone from
UTC-12 to UTC+14, so it is compared as the whole span of instants it can name: it is only
"in the future" when even its earliest reading is beyond the tolerance (the tolerance grows
by 14 hours), and a modification only comes "before" publication when it does so in every
reading.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from corpuskit.diagnostics import Diagnostic, Severity
from corpuskit.validation.schema_check import line_for, parse_datetime

# Offsets in use world-wide span UTC-12:00 to UTC+14:00.
_EARLIEST = timedelta(hours=14)
_LATEST = timedelta(hours=12)


def _span(moment: datetime) -> tuple[datetime, datetime]:
    """Earliest and latest UTC instant a date-time may name."""
    if moment.tzinfo is not None:
        instant = moment.astimezone(UTC)
        return instant, instant
    as_utc = moment.replace(tzinfo=UTC)
    return as_utc - _EARLIEST, as_utc + _LATEST


def check_document(
    document: Mapping[str, Any],
    *,
    file: str,
    line: int,
    field_lines: Mapping[str, int],
    given_sha256: str | None,
    future_tolerance_hours: float,
    now: datetime | None = None,
) -> list[Diagnostic]:
    """Diagnostics for a schema-valid document (dates already known to exist)."""
    found: list[Diagnostic] = []
    doc_id = document.get("id")

    def report(pointer: str, code: str, message: str) -> None:
        found.append(
            Diagnostic(
                file=file,
                line=line_for(pointer, field_lines, line),
                column=None,
                pointer=pointer,
                severity=Severity.ERROR,
                code=code,
                message=message,
                document_id=doc_id if isinstance(doc_id, str) else None,
            )
        )

    clock = now or datetime.now(UTC)
    limit = clock + timedelta(hours=future_tolerance_hours)
    spans: dict[str, tuple[datetime, datetime]] = {}
    moments: dict[str, datetime] = {}
    for name in ("published_at", "modified_at"):
        value = document.get(name)
        moment = parse_datetime(value) if isinstance(value, str) else None
        if moment is None:
            continue
        moments[name] = moment
        spans[name] = _span(moment)
        earliest = spans[name][0]
        if earliest > limit:
            zone = "" if moment.tzinfo is not None else " in any time zone"
            report(
                f"/{name}",
                "future-date",
                f"{value!r} lies in the future{zone} (more than {future_tolerance_hours:g} h from now)",
            )
    if "published_at" in moments and "modified_at" in moments:
        published, modified = moments["published_at"], moments["modified_at"]
        if (published.tzinfo is None) == (modified.tzinfo is None):
            # Both without an offset: read in the same (unknown) zone, so they compare as they are.
            before = modified < published
        else:
            before = spans["modified_at"][1] < spans["published_at"][0]
        if before:
            report(
                "/modified_at",
                "modified-before-published",
                f"{document['modified_at']!r} is before published_at {document['published_at']!r}",
            )
    actual = document.get("content_sha256")
    if given_sha256 is not None and isinstance(actual, str) and given_sha256 != actual:
        report(
            "/content_sha256",
            "content-hash-mismatch",
            f"the record gives {given_sha256[:12]}... but its normalized text hashes to {actual[:12]}...",
        )
    return found
