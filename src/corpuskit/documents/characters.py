"""Characters a document field may not hold, with names people can act on.

Mirrors the `line` and `text` definitions of schema/document.schema.json: single-line fields
(title, section, source, headings, credits, related links) refuse control, zero-width and
bidirectional-control characters and the byte order mark; text fields (summary, paragraph text)
refuse control characters other than the newline.
"""

from __future__ import annotations

import re
import unicodedata

# Every refused character is in Unicode category Cc or Cf, so str.isprintable() is a quick
# "none here" (it is also False for harmless ones such as the no-break space).
LINE_FORBIDDEN = re.compile("[\x00-\x1f\x7f\u200b-\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
TEXT_FORBIDDEN = re.compile("[\x00-\x09\x0b-\x1f\x7f]")
# Control characters other than the line breaks a text file may hold.
_CONTROLS: tuple[str, ...] = tuple(chr(code) for code in (*range(0, 10), 11, 12, *range(14, 32), 127))
# JSON escapes that can spell a refused character (the newline included: single-line fields refuse it).
_JSON_ESCAPE = re.compile(
    r"\\(?:[btnfr]|u00[01][0-9a-fA-F]|u007[fF]|u20(?:0[b-fB-F]|2[a-eA-E]|6[6-9])|u[fF][eE][fF][fF])"
)


def text_may_hold_forbidden(text: str) -> bool:
    """Cheap pre-check over a whole text with LF line ends (False: no field can hold a refused
    character). True also for harmless characters such as a no-break space or an indenting tab;
    the field-by-field look decides."""
    if text.isascii():
        return any(char in text for char in _CONTROLS)
    return not text.replace("\n", "").isprintable()


def json_may_hold_forbidden(text: str) -> bool:
    """The same pre-check for one JSON text (raw control characters cannot occur inside JSON
    strings, so only escapes and non-ASCII characters matter)."""
    if "\\" in text and _JSON_ESCAPE.search(text) is not None:
        return True
    if text.isascii():
        return "\x7f" in text
    return not "".join(text.split()).isprintable()


_CONTROL_NAMES = {"\t": "CHARACTER TABULATION", "\n": "LINE FEED", "\r": "CARRIAGE RETURN", "\x7f": "DELETE"}


def _kind(char: str) -> str:
    code = ord(char)
    if code < 0x20 or code == 0x7F:
        return "a control character"
    if 0x200B <= code <= 0x200D or code == 0x2060:
        return "a zero-width character"
    if code == 0xFEFF:
        return "a byte order mark / zero-width no-break space"
    return "a bidirectional control character"


def describe(char: str) -> str:
    """'U+202E RIGHT-TO-LEFT OVERRIDE (a bidirectional control character)'."""
    name = _CONTROL_NAMES.get(char) or unicodedata.name(char, "")
    label = f"U+{ord(char):04X}" + (f" {name}" if name else "")
    return f"{label} ({_kind(char)})"


def first_forbidden(value: str, *, single_line: bool) -> int | None:
    """Index of the first character the field may not hold, or None."""
    if value.isprintable():
        return None
    match = (LINE_FORBIDDEN if single_line else TEXT_FORBIDDEN).search(value)
    return None if match is None else match.start()
