"""The raw text format: a news article as plain lines, parsed into a document and rendered back.

    line 1          headline
    line 2          standfirst (summary or lead quote), unless it is a metadata bullet
    "- ..." lines   metadata right after the standfirst: section, source, published/modified date
    other lines     body paragraphs, one per line; short title-like lines are subheadings
    trailers        "(with AP inputs)" at the end -> credits; "ALSO READ | <title>" -> related

Blank lines are ignored everywhere; every line is trimmed. docs/raw-format.md is the reference,
including every guess this module makes (how a subheading is told from a paragraph, which
un-labelled bullet is the section and which the source).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from corpuskit.documents import boilerplate
from corpuskit.documents.characters import describe, first_forbidden, text_may_hold_forbidden
from corpuskit.documents.model import Document, content_sha256
from corpuskit.documents.problems import ReadError
from corpuskit.errors import UsageError

# Wire agencies: a lone un-labelled bullet naming one of these is the source, not the section.
KNOWN_AGENCIES: frozenset[str] = frozenset(
    {
        "afp",
        "agence france-presse",
        "ap",
        "associated press",
        "reuters",
        "pti",
        "press trust of india",
        "ani",
        "ians",
        "uni",
        "bloomberg",
        "dpa",
        "efe",
        "ansa",
        "xinhua",
        "kyodo",
        "yonhap",
        "tass",
        "ria novosti",
        "bernama",
        "agencies",
    }
)

# Labels of keyed bullets ("- Published Date: ...") -> document field.
METADATA_KEYS: dict[str, str] = {
    "section": "section",
    "source": "source",
    "agency": "source",
    "published date": "published_at",
    "published": "published_at",
    "modified date": "modified_at",
    "modified": "modified_at",
    "updated date": "modified_at",
    "updated": "modified_at",
}

METADATA_LABELS = {"section": "Section", "source": "Source", "published_at": "Published Date"}
METADATA_LABELS["modified_at"] = "Modified Date"

MONTH_NAMES: tuple[str, ...] = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_MONTHS: dict[str, int] = {name.lower(): number for number, name in enumerate(MONTH_NAMES, 1)}
_MONTHS |= {name[:3].lower(): number for number, name in enumerate(MONTH_NAMES, 1)}
_MONTHS["sept"] = 9

# A subheading is at most this many characters (see _heading_like).
MAX_HEADING_CHARS = 100
# A credit trailer "(...)" longer than this is a parenthesised paragraph, not a credit.
MAX_CREDIT_CHARS = 300

BULLET = "- "
_KEYED = re.compile(r"([A-Za-z][A-Za-z ]*?)\s*:\s*(.*)\Z")
_CLOCK_DATE = re.compile(r"(\d{1,2}):(\d{2})\s*\|\s*(\d{1,2})\s+([A-Za-z]+)\.?,?\s+(\d{4})\Z")
_RELATED = re.compile(r"([A-Z][A-Z0-9]+(?: [A-Z0-9]+)*)\s*\|\s*(\S.*)\Z")
_URL_TAIL = re.compile(r"(.*?\S)\s*\|\s*(https?://\S+)\Z")
_CREDIT = re.compile(r"\((.*)\)\Z")
_AGENCY_SEPARATORS = re.compile(r"\s*(?:,|/|&|\band\b)\s*")


@dataclass(frozen=True)
class ParsedText:
    """The outcome of parsing one raw text: a document when there were no problems."""

    document: Document | None
    field_lines: dict[str, int]
    problems: tuple[ReadError, ...]
    # Located findings that do not stop the document (boilerplate lines, a section word as headline).
    warnings: tuple[ReadError, ...] = ()


@lru_cache(maxsize=32)
def resolve_timezone(name: str) -> tzinfo:
    """The IANA time zone `name` (UsageError when unknown), e.g. for `raw_timezone` settings."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise UsageError(f"raw_timezone: {name!r} is not a known IANA time zone (e.g. 'Asia/Seoul')") from exc


def is_agency(value: str) -> bool:
    """True when every name in `value` ('AFP', 'AP/Reuters', 'PTI and ANI') is a known wire agency."""
    parts = [part for part in _AGENCY_SEPARATORS.split(value.lower()) if part]
    return bool(parts) and all(part in KNOWN_AGENCIES for part in parts)


def _heading_like(line: str) -> bool:
    """Short, starts with a capital letter or digit, ends with a letter or digit: no sentence
    punctuation, no closing quote or bracket (quotes and sentences are paragraphs)."""
    if len(line) > MAX_HEADING_CHARS or line.startswith(BULLET):
        return False
    first, last = line[0], line[-1]
    return first.isalnum() and not first.islower() and last.isalnum()


def metadata_key(value: str) -> tuple[str, str, str] | None:
    """(field, label as written, value) when a bullet is keyed with a known label."""
    if ":" not in value:
        return None
    match = _KEYED.match(value)
    if match is None:
        return None
    field = METADATA_KEYS.get(" ".join(match.group(1).lower().split()))
    return None if field is None else (field, match.group(1), match.group(2).strip())


def parse_clock_date(value: str, zone: tzinfo | None) -> str:
    """'07:38 | 29 October 2024' -> '2024-10-29T07:38:00' (with the zone's offset when given).

    Raises ValueError with a message for people when the text is not such a date."""
    match = _CLOCK_DATE.match(value)
    if match is None:
        raise ValueError(
            f"{value!r} is not in the form 'HH:MM | D Month YYYY' (e.g. '07:38 | 29 October 2024')"
        )
    hour, minute, day = int(match.group(1)), int(match.group(2)), int(match.group(3))
    month_name, year = match.group(4), int(match.group(5))
    month = _MONTHS.get(month_name.lower())
    if month is None:
        raise ValueError(f"{month_name!r} is not an English month name")
    if hour > 23 or minute > 59:
        raise ValueError(f"{match.group(1)}:{match.group(2)} is not a time of day")
    try:
        naive = datetime(year, month, day, hour, minute)
    except ValueError:
        raise ValueError(f"{day} {month_name} {year} is not a date") from None
    if zone is None:
        return naive.isoformat()
    aware = naive.replace(tzinfo=zone)
    if aware.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != naive:
        raise ValueError(f"{value} does not exist in {zone} (the clocks were put forward)")
    return aware.isoformat()


_POINTERS: list[tuple[str, str, str]] = []


def _paragraph_pointers(count: int) -> list[tuple[str, str, str]]:
    """('/paragraphs/i', '/paragraphs/i/text', '/paragraphs/i/heading') for i < count, built once."""
    for index in range(len(_POINTERS), count):
        at = f"/paragraphs/{index}"
        _POINTERS.append((at, at + "/text", at + "/heading"))
    return _POINTERS


def _column(raw_lines: list[str], line: int, value: str, index: int) -> int:
    raw = raw_lines[line - 1]
    start = raw.find(value)
    return (start if start >= 0 else 0) + index + 1


def _character_problems(doc: Document, lines: dict[str, int], raw_lines: list[str]) -> list[ReadError]:
    """Located errors for forbidden characters, one per field (a subheading once, not per paragraph)."""
    problems: list[ReadError] = []
    fields: list[tuple[str, str, bool]] = [("/title", doc["title"], True)]
    fields += [(f"/{name}", doc[name], True) for name in ("section", "source") if doc[name] is not None]
    if doc["summary"] is not None:
        fields.append(("/summary", doc["summary"], False))
    heading_lines: set[int] = set()
    for index, paragraph in enumerate(doc["paragraphs"]):
        at = f"/paragraphs/{index}"
        if paragraph["heading"] is not None and lines[f"{at}/heading"] not in heading_lines:
            heading_lines.add(lines[f"{at}/heading"])
            fields.append((f"{at}/heading", paragraph["heading"], True))
        fields.append((f"{at}/text", paragraph["text"], False))
    fields += [(f"/credits/{index}", credit, True) for index, credit in enumerate(doc["credits"])]
    for index, link in enumerate(doc["related"]):
        fields += [
            (f"/related/{index}/label", link["label"], True),
            (f"/related/{index}/title", link["title"], True),
        ]
    for pointer, value, is_line in fields:
        found = first_forbidden(value, single_line=is_line)
        if found is None:
            continue
        line = lines[pointer]
        problems.append(
            ReadError(
                "forbidden-character",
                f"contains {describe(value[found])}; remove it",
                line=line,
                column=_column(raw_lines, line, value, found),
                pointer=pointer,
            )
        )
    return problems


def parse_raw_text(
    text: str,
    *,
    doc_id: str,
    language: str = "en",
    raw_path: str | None = None,
    raw_timezone: str | None = None,
    boilerplate_patterns: Mapping[str, Sequence[str]] | None = None,
    strip: bool = False,
) -> ParsedText:
    """Parse one article in the raw text format (already decoded; see corpuskit.documents.decoding).

    Body lines that are page furniture are `boilerplate` warnings; with `strip` they are dropped
    instead and recorded in the document's `removed_lines` (line, text, the pattern that matched),
    so the text annotators see, hash and span offsets are those of the stripped body.
    Never raises for bad text: problems come back located in `ParsedText.problems`. An unknown
    `raw_timezone` raises UsageError (a setting, not the data, is wrong)."""
    zone = resolve_timezone(raw_timezone) if raw_timezone else None
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    raw_lines = text.split("\n")
    entries = [(number, stripped) for number, line in enumerate(raw_lines, 1) if (stripped := line.strip())]
    lines: dict[str, int] = {"/id": 1, "/language": 1, "/content_sha256": 1, "/raw_path": 1}
    if not entries:
        problem = ReadError("empty-file", "the file is empty or holds only whitespace", line=1)
        return ParsedText(None, lines, (problem,))
    problems: list[ReadError] = []
    warnings: list[ReadError] = []
    furniture = boilerplate.matcher(boilerplate_patterns)

    title_line, title = entries[0]
    lines["/title"] = title_line
    not_headline = _not_a_headline(title, furniture)
    if not_headline is not None:
        problem = ReadError("missing-title", not_headline, line=title_line, column=1, pointer="/title")
        return ParsedText(None, lines, (problem,))
    if _section_word(title):
        warnings.append(
            ReadError(
                "section-title",
                f"the headline {title!r} looks like a section name; is the real headline missing?",
                line=title_line,
                pointer="/title",
            )
        )
    position = 1
    summary: str | None = None
    if position < len(entries) and not entries[position][1].startswith(BULLET):
        lines["/summary"], summary = entries[position]
        position += 1

    metadata: dict[str, tuple[int, str]] = {}
    unlabelled: list[tuple[int, str]] = []
    while position < len(entries) and entries[position][1].startswith(BULLET):
        number, line = entries[position]
        position += 1
        value = line[len(BULLET) :].strip()
        keyed = metadata_key(value)
        if keyed is None:
            unlabelled.append((number, value))
            continue
        field, label, keyed_value = keyed
        if field in metadata:
            problems.append(
                ReadError(
                    "duplicate-metadata",
                    f"a second '{label}' bullet (the first is on line {metadata[field][0]})",
                    line=number,
                    pointer=f"/{field}",
                )
            )
        elif not keyed_value:
            problems.append(
                ReadError("invalid-metadata", f"'{label}:' has no value", line=number, pointer=f"/{field}")
            )
        else:
            metadata[field] = (number, keyed_value)
    free = [field for field in ("section", "source") if field not in metadata]
    if len(unlabelled) == 1 and len(free) == 2:
        free = ["source" if is_agency(unlabelled[0][1]) else "section"]
    for index, (number, value) in enumerate(unlabelled):
        if index < len(free):
            metadata[free[index]] = (number, value)
        else:
            problems.append(
                ReadError(
                    "unexpected-metadata",
                    f"un-labelled bullet '- {value}' after the section and source;"
                    " label it (e.g. '- Section: ...') or move it into the body",
                    line=number,
                )
            )
    values: dict[str, str | None] = {}
    for field in ("section", "source", "published_at", "modified_at"):
        if field not in metadata:
            values[field] = None
            continue
        number, value = metadata[field]
        lines[f"/{field}"] = number
        if field in ("section", "source"):
            values[field] = value
            continue
        try:
            values[field] = parse_clock_date(value, zone)
        except ValueError as exc:
            values[field] = None
            problems.append(ReadError("invalid-date", str(exc), line=number, pointer=f"/{field}"))

    body: list[tuple[int, str]] = []
    related: list[dict[str, str]] = []
    for number, line in entries[position:]:
        match = _RELATED.match(line) if "|" in line else None
        if match is None:
            body.append((number, line))
            continue
        index = len(related)
        link = {"label": match.group(1), "title": match.group(2)}
        with_url = _URL_TAIL.match(link["title"])
        if with_url is not None:
            link["title"], link["url"] = with_url.group(1), with_url.group(2)
        related.append(link)
        lines[f"/related/{index}"] = lines[f"/related/{index}/label"] = number
        lines[f"/related/{index}/title"] = number
        if "url" in link:
            lines[f"/related/{index}/url"] = number

    trailing_credits: list[tuple[int, str]] = []
    while body and len(body[-1][1]) <= MAX_CREDIT_CHARS:
        match = _CREDIT.match(body[-1][1])
        if match is None or not match.group(1).strip():
            break
        trailing_credits.append((body.pop()[0], match.group(1).strip()))
    credits: list[str] = []
    for index, (number, credit) in enumerate(reversed(trailing_credits)):
        credits.append(credit)
        lines[f"/credits/{index}"] = number

    paragraphs: list[dict[str, str | None]] = []
    heading: str | None = None
    heading_line = 0
    furniture_lines = {number for number, line in body if boilerplate.is_boilerplate(line, furniture)}
    removed: list[dict[str, int | str]] = []
    if strip and furniture_lines:
        for number, line in body:
            if number in furniture_lines:
                at = f"/removed_lines/{len(removed)}"
                lines[at] = lines[f"{at}/text"] = number
                rule = boilerplate.rule_of(line, boilerplate_patterns)
                removed.append({"line": number, "text": line, "rule": rule})
        lines["/removed_lines"] = lines["/removed_lines/0"]
        body = [(number, line) for number, line in body if number not in furniture_lines]
        furniture_lines = set()
    warnings += [
        ReadError(
            "boilerplate",
            f"{line!r} looks like page furniture, not article text; remove the line "
            "(patterns: the `boilerplate` setting, docs/raw-format.md)",
            line=number,
        )
        for number, line in body
        if number in furniture_lines
    ]
    candidates = [
        len(line) <= MAX_HEADING_CHARS and _heading_like(line) and number not in furniture_lines
        for number, line in body
    ]
    pointers = _paragraph_pointers(len(body))
    for index, (number, line) in enumerate(body):
        if candidates[index] and index + 1 < len(body) and not candidates[index + 1]:
            heading, heading_line = line, number
            continue
        at, at_text, at_heading = pointers[len(paragraphs)]
        paragraphs.append({"heading": heading, "text": line})
        lines[at] = lines[at_text] = number
        if heading is not None:
            lines[at_heading] = heading_line
    lines["/paragraphs"] = lines.get("/paragraphs/0", entries[-1][0])
    if credits:
        lines["/credits"] = lines["/credits/0"]
    if related:
        lines["/related"] = lines["/related/0"]

    doc: Document = {
        "id": doc_id,
        "title": title,
        "summary": summary,
        **values,
        "language": language,
        "paragraphs": paragraphs,
        "credits": credits,
        "related": related,
        # Present only when lines were stripped: documents of a corpus that strips nothing are unchanged.
        **({"removed_lines": removed} if removed else {}),
        "content_sha256": "",
        "raw_path": raw_path,
    }
    if text_may_hold_forbidden(text):
        problems += _character_problems(doc, lines, raw_lines)
    if problems:
        problems.sort(key=lambda problem: (problem.line or 0, problem.column or 0))
        return ParsedText(None, lines, tuple(problems))
    doc["content_sha256"] = content_sha256(doc)
    return ParsedText(doc, lines, (), tuple(warnings))


def _not_a_headline(title: str, furniture: re.Pattern[str]) -> str | None:
    """Why the first line cannot be the headline, or None."""
    if title.startswith(BULLET):
        return (
            f"the first line {title!r} is a metadata bullet, not a headline; "
            "the headline must come first (docs/raw-format.md)"
        )
    if _CLOCK_DATE.match(title):
        return f"the first line {title!r} is a date, not a headline; the headline must come first"
    if boilerplate.is_boilerplate(title, furniture):
        return f"the first line {title!r} is page furniture, not a headline; the headline must come first"
    return None


def _section_word(title: str) -> bool:
    """One short word in an alphabet that separates words ('World', 'Features')."""
    return len(title) <= 15 and title.isalpha() and all(char < "\u3000" for char in title)
