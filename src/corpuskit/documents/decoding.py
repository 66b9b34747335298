"""Bytes to text: the encoding rules every raw file (or JSONL line) passes before it is parsed.

Accepted: UTF-8, with or without a leading byte order mark (the mark is dropped).
Refused with a located ReadError: UTF-16/UTF-32 (named), NUL bytes (binary data), invalid UTF-8.
"""

from __future__ import annotations

from corpuskit.documents.problems import ReadError

UTF8_BOM = b"\xef\xbb\xbf"

# Longest marks first: the UTF-32 little-endian mark starts with the UTF-16 one.
_OTHER_BOMS: tuple[tuple[bytes, str], ...] = (
    (b"\x00\x00\xfe\xff", "UTF-32 (big-endian)"),
    (b"\xff\xfe\x00\x00", "UTF-32 (little-endian)"),
    (b"\xfe\xff", "UTF-16 (big-endian)"),
    (b"\xff\xfe", "UTF-16 (little-endian)"),
)


def foreign_encoding(data: bytes) -> str | None:
    """The name of a non-UTF-8 Unicode encoding announced by a byte order mark, if any."""
    for mark, name in _OTHER_BOMS:
        if data.startswith(mark):
            return name
    return None


def position(data: bytes, offset: int, first_line: int = 1) -> tuple[int, int]:
    """1-based (line, column) of byte `offset`; CRLF, CR and LF each end a line; the column
    counts characters (undecodable bytes count as one each)."""
    before = data[:offset]
    line = first_line + before.count(b"\n") + before.count(b"\r") - before.count(b"\r\n")
    start = max(before.rfind(b"\n"), before.rfind(b"\r")) + 1
    column = len(before[start:].decode("utf-8", "replace")) + 1
    return line, column


def _looks_like_utf16(data: bytes) -> bool:
    sample = data[:2000]
    even, odd = sample[0::2].count(0), sample[1::2].count(0)
    # ASCII text in UTF-16 has a NUL in every other byte.
    return len(sample) >= 4 and max(even, odd) >= len(sample) // 4


def decode(data: bytes, *, first_line: int = 1, at_file_start: bool = True, base_offset: int = 0) -> str:
    """Decode UTF-8 text, dropping a leading BOM when `at_file_start`; raise ReadError otherwise.

    `first_line` and `base_offset` place `data` within its file (a JSONL line) for the messages."""
    if at_file_start:
        if data.startswith(UTF8_BOM):
            data = data[3:]
            shift = base_offset + 3
        else:
            shift = base_offset
            encoding = foreign_encoding(data)
            if encoding is not None:
                raise ReadError(
                    "unsupported-encoding",
                    f"the file is {encoding} (it starts with that byte order mark); save it as UTF-8",
                    line=first_line,
                    column=1,
                )
    else:
        shift = base_offset
    nul = data.find(b"\x00")
    if nul >= 0:
        if at_file_start and _looks_like_utf16(data):
            raise ReadError(
                "unsupported-encoding",
                "the file looks like UTF-16 without a byte order mark (every other byte is NUL);"
                " save it as UTF-8",
                line=first_line,
                column=1,
            )
        line, column = position(data, nul, first_line)
        raise ReadError(
            "binary-data",
            f"NUL byte at byte offset {nul + shift}: this is binary data, not text",
            line=line,
            column=column,
        )
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line, column = position(data, exc.start, first_line)
        bad = data[exc.start : min(exc.end, exc.start + 4)].hex(" ")
        raise ReadError(
            "invalid-utf8",
            f"invalid UTF-8 (bytes {bad} at byte offset {exc.start + shift}: {exc.reason});"
            + (_legacy_hint(data, exc.start) or " save the file as UTF-8"),
            line=line,
            column=column,
        ) from None


# Non-ASCII characters a Windows-1252 or Latin-1 news text holds besides letters.
_LEGACY_PUNCTUATION = frozenset("\u00a0’‘“”–—…«»°€£§©®·´¿¡ºª")
_WORD_CONTEXT = 12


def _legacy_hint(data: bytes, offset: int) -> str | None:
    """A hint when the bytes read as Windows-1252 (or Latin-1) text: every non-ASCII byte is a letter
    or news punctuation there, and some accented letter sits inside a word (`caf\xe9`). The offending
    byte is shown as it reads, in its word, with the command that converts the file."""
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError:
        return None  # 0x81, 0x8d, 0x8f, 0x90, 0x9d: not Windows-1252
    in_word = False
    for index, char in enumerate(text):
        if char < "\x80":
            continue
        if not (char.isalpha() or char in _LEGACY_PUNCTUATION):
            return None
        if char.isalpha() and any(
            0 <= near < len(text) and text[near].isascii() and text[near].isalpha()
            for near in (index - 1, index + 1)
        ):
            in_word = True
    if not in_word:
        return None
    start = max(0, offset - _WORD_CONTEXT)
    words = text[start : offset + _WORD_CONTEXT].split()
    shown = next((word for word in words if text[offset] in word), text[offset])
    name = "Latin-1 or Windows-1252" if all(byte < 0x80 or byte >= 0xA0 for byte in data) else "Windows-1252"
    return (
        f" the file looks like {name} (byte {data[offset]:02x} reads as {text[offset]!r} in {shown!r});"
        " convert it to UTF-8, e.g. `iconv -f WINDOWS-1252 -t UTF-8 FILE > FILE.new`"
    )
