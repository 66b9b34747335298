"""Read raw files (.txt, .json, .jsonl) into normalized documents with the lines they came from.

`read_file` never raises for bad bytes: every problem becomes a located `Diagnostic` and the
other records of the file still read. JSONL is streamed line by line with a per-record size
cap, so memory stays bounded whatever the input.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO

from corpuskit.diagnostics import Diagnostic, Severity
from corpuskit.documents import decoding, jsonrecords, rawtext
from corpuskit.documents import language as langid
from corpuskit.documents.problems import ReadError
from corpuskit.errors import UsageError

SUFFIXES: frozenset[str] = frozenset({".txt", ".json", ".jsonl"})

# One record (a .txt or .json file, or one JSONL line) may not exceed this many bytes;
# real articles are under 100 kB, a runaway file is stopped before it is held in memory.
MAX_RECORD_BYTES = 10 * 1024 * 1024

# After this many diagnostics in one file, reading stops (the file is not what it claims to be).
MAX_DIAGNOSTICS_PER_FILE = 100


@dataclass(frozen=True)
class SourceRecord:
    """One normalized document and where it came from.

    `document` has every schema field (in schema order; unknown fields of JSON input are kept
    for the schema to report; `title`/`paragraphs` are missing only when a JSON record lacks
    them). `field_lines` maps JSON pointers to 1-based lines, best effort: use `line_of`.
    `given_sha256` is the content_sha256 a JSON record claimed (None for .txt).
    `detected` is what language detection made of the text (None when the record's language was
    not looked at); `document["language"]` is the stated language, else the confidently detected
    one, else the settings' default."""

    document: dict[str, Any]
    file: str
    line: int
    field_lines: dict[str, int]
    given_sha256: str | None
    detected: langid.Detection | None = None
    language_stated: bool = False

    def line_of(self, pointer: str) -> int:
        """The line of `pointer`, else of its nearest ancestor, else where the record starts."""
        return jsonrecords.line_of(self.field_lines, pointer, self.line)


def iter_files(paths: Sequence[Path]) -> Iterator[Path]:
    """The files to read under `paths`, in a stable order: each path in the order given; folders
    walked in sorted order for .txt/.json/.jsonl, skipping hidden files and folders; a file named
    explicitly is kept whatever its suffix (reading it reports an unsupported type). Each file once.

    Raises UsageError at once when a path does not exist."""
    missing = [str(path) for path in paths if not path.exists()]
    if missing:
        raise UsageError(f"no such file or folder: {', '.join(missing)}")
    return _walk(paths)


def _walk(paths: Sequence[Path]) -> Iterator[Path]:
    seen: set[str] = set()
    for path in paths:
        if path.is_dir():
            walked: list[tuple[tuple[str, ...], Path]] = []
            for folder, dirnames, filenames in os.walk(path):
                dirnames[:] = [name for name in dirnames if not name.startswith(".")]
                parts = Path(folder).relative_to(path).parts
                walked += [
                    ((*parts, name), Path(folder, name))
                    for name in filenames
                    if not name.startswith(".") and os.path.splitext(name)[1].lower() in SUFFIXES
                ]
            walked.sort(key=lambda item: item[0])
            found = [file for _, file in walked]
        else:
            found = [path]
        for file in found:
            key = os.path.abspath(file)
            if key not in seen:
                seen.add(key)
                yield file


@lru_cache(maxsize=16)
def _root_prefix(root: Path) -> str:
    return os.path.join(os.path.abspath(root), "")


def raw_path_of(path: Path, root: Path) -> str:
    """`path` relative to `root` with POSIX separators, or as given when outside `root`."""
    base = _root_prefix(root)
    absolute = os.path.abspath(path)
    if absolute.startswith(base):
        return absolute[len(base) :].replace(os.sep, "/")
    return path.as_posix()


def _diagnostic(
    file: str, error: ReadError, document_id: str | None, severity: Severity = Severity.ERROR
) -> Diagnostic:
    return Diagnostic(
        file=file,
        line=error.line,
        column=error.column,
        pointer=error.pointer,
        severity=severity,
        code=error.code,
        message=error.message,
        document_id=document_id,
    )


def _too_large(size: int | None, what: str, line: int | None) -> ReadError:
    amount = f" ({size:,} bytes)" if size is not None else ""
    return ReadError(
        "record-too-large",
        f"{what}{amount} is larger than the {MAX_RECORD_BYTES // (1024 * 1024)} MiB a record may take",
        line=line,
    )


def _read_whole(path: Path) -> bytes:
    """The file's bytes, refusing (without reading it all) a file over the record cap."""
    with open(path, "rb") as handle:
        size = os.fstat(handle.fileno()).st_size
        if size > MAX_RECORD_BYTES:
            raise _too_large(size, "the file", None)
        # Ask for what stat announced (asking for the cap would allocate the cap for every file);
        # files that report no size (pipes, /proc) are read up to the cap.
        data = handle.read(size + 1 if size else MAX_RECORD_BYTES + 1)
        if size and len(data) > size:  # the file grew while being read
            data += handle.read(MAX_RECORD_BYTES + 1 - len(data))
    if len(data) > MAX_RECORD_BYTES:
        raise _too_large(None, "the file", None)
    return data


def read_file(
    path: Path,
    *,
    root: Path,
    language: str = "en",
    raw_timezone: str | None = None,
    boilerplate: Sequence[str] = (),
    detect_with: langid.DetectFn = langid.detect_document,
    strip: bool = False,
) -> Iterator[SourceRecord | Diagnostic]:
    """Records and diagnostics of one raw file, in file order. `boilerplate`: patterns of page
    furniture beyond the defaults (corpuskit.documents.boilerplate); with `strip`, such lines of a
    .txt file are dropped and recorded in the document's `removed_lines` instead of reported.
    `detect_with` tells a document's language when the cheap check of a stated one cannot
    (validation passes a cached one).

    Raises UsageError (only) when `raw_timezone` is not a known IANA time zone."""
    if raw_timezone:
        rawtext.resolve_timezone(raw_timezone)
    suffix = path.suffix.lower()
    file = str(path)
    if suffix == ".jsonl":
        yield from _read_jsonl(path, file, raw_path_of(path, root), language, detect_with)
        return
    document_id = path.stem
    if suffix not in SUFFIXES:
        error = ReadError(
            "unsupported-file-type",
            f"{path.suffix or 'no suffix'}: corpuskit reads .txt, .json and .jsonl files",
        )
        yield _diagnostic(file, error, None)
        return
    try:
        data = _read_whole(path)
        text = decoding.decode(data)
        if not text.strip():
            raise ReadError("empty-file", "the file is empty or holds only whitespace", line=1)
    except ReadError as error:
        yield _diagnostic(file, error, document_id)
        return
    except OSError as exc:
        yield _diagnostic(file, ReadError("unreadable-file", f"cannot read: {exc.strerror or exc}"), None)
        return
    raw_path = raw_path_of(path, root)
    if suffix == ".txt":
        parsed = rawtext.parse_raw_text(
            text,
            doc_id=document_id,
            language=language,
            raw_path=raw_path,
            raw_timezone=raw_timezone,
            boilerplate_patterns={"settings": boilerplate} if boilerplate else None,
            strip=strip,
        )
        for warning in parsed.warnings:
            yield _diagnostic(file, warning, document_id, Severity.WARNING)
        if parsed.document is None:
            for problem in parsed.problems:
                yield _diagnostic(file, problem, document_id)
            return
        detected = _settle_language(parsed.document, stated=None, detect_with=detect_with)
        yield SourceRecord(parsed.document, file, 1, parsed.field_lines, None, detected)
        return
    try:
        record, field_lines = jsonrecords.parse_object(text, lines=True)
    except ReadError as error:
        yield _diagnostic(file, error, document_id)
        return
    yield from _record(record, text, file, 1, field_lines, document_id, language, raw_path, detect_with)


def _record(
    record: dict[str, Any],
    text: str,
    file: str,
    line: int,
    field_lines: dict[str, int],
    default_id: str | None,
    language: str,
    raw_path: str,
    detect_with: langid.DetectFn,
) -> Iterator[SourceRecord | Diagnostic]:
    document, given_sha256 = jsonrecords.normalize_record(
        record, default_id=default_id, language=language, raw_path=raw_path
    )
    document_id = document["id"] if isinstance(document.get("id"), str) else None
    problems = jsonrecords.character_problems(document, field_lines, line, text)
    if problems:
        for problem in problems:
            yield _diagnostic(file, problem, document_id)
        return
    stated = record.get("language")
    # A language of the wrong type is left for the schema to report.
    typed = stated is None or isinstance(stated, str)
    detected = _settle_language(document, stated=stated, detect_with=detect_with) if typed else None
    found = detected.language if detected is not None else None
    if (
        detected is not None
        and isinstance(stated, str)
        and found is not None
        and langid.primary(stated) != found
    ):
        yield Diagnostic(
            file=file,
            line=jsonrecords.line_of(field_lines, "/language", line),
            column=None,
            pointer="/language",
            severity=Severity.WARNING,
            code="language-mismatch",
            message=f"stated as {langid.name_of(stated)} but the text reads as "
            f"{langid.name_of(found)} (confidence {detected.confidence:.2f})",
            document_id=document_id,
        )
    yield SourceRecord(document, file, line, field_lines, given_sha256, detected, isinstance(stated, str))


def _settle_language(
    document: dict[str, Any], *, stated: str | None, detect_with: langid.DetectFn
) -> langid.Detection | None:
    """Detect the document's language; without a stated one, a confident detection becomes its
    language (the default stays when it names the same language, e.g. 'pt-BR' for 'pt')."""
    if stated == "":
        return None
    detected = langid.settle(document, stated, detect_with)
    if stated is None and detected.language is not None:
        default = document.get("language")
        if not isinstance(default, str) or langid.primary(default) != detected.language:
            document["language"] = detected.language
    return detected


def _capped_lines(handle: BinaryIO) -> Iterator[tuple[int, int, bytes | None]]:
    """(line number, byte offset, bytes or None when over the cap), holding at most one capped line."""
    number = offset = 0
    while raw := handle.readline(MAX_RECORD_BYTES + 1):
        number += 1
        start = offset
        offset += len(raw)
        if len(raw) > MAX_RECORD_BYTES and not raw.endswith(b"\n"):
            while chunk := handle.readline(1 << 20):
                offset += len(chunk)
                if chunk.endswith(b"\n"):
                    break
            yield number, start, None
        else:
            yield number, start, raw


def _jsonl_record(raw: bytes, number: int, start: int) -> tuple[dict[str, Any], str] | None:
    """The record on one JSONL line and its text, None for a blank line; ReadError when it
    cannot be read."""
    text = decoding.decode(
        raw.rstrip(b"\r\n"), first_line=number, at_file_start=number == 1, base_offset=start
    )
    if not text.strip():
        return None
    record, _ = jsonrecords.parse_object(text, first_line=number)
    if record.get("id") is None:
        raise ReadError(
            "missing-id",
            "missing; a JSONL record needs an 'id' (only .txt and .json files take it from their name)",
            line=number,
            pointer="/id",
        )
    return record, text


def _read_jsonl(
    path: Path, file: str, raw_path: str, language: str, detect_with: langid.DetectFn
) -> Iterator[SourceRecord | Diagnostic]:
    reported = records = 0
    try:
        handle = open(path, "rb")  # noqa: SIM115 - `with handle` below; open() errors are reported
    except OSError as exc:
        yield _diagnostic(file, ReadError("unreadable-file", f"cannot read: {exc.strerror or exc}"), None)
        return
    with handle:
        try:
            # A NUL or a foreign byte order mark near the start: the whole file is binary or not
            # UTF-8, and one message says so better than one per "line".
            head = handle.read(8192)
            handle.seek(0)
            if b"\x00" in head or decoding.foreign_encoding(head) is not None:
                try:
                    decoding.decode(head)
                except ReadError as error:
                    yield _diagnostic(file, error, None)
                    return
            for number, start, raw in _capped_lines(handle):
                try:
                    if raw is None:
                        raise _too_large(None, "this line", number)
                    parsed = _jsonl_record(raw, number, start)
                except ReadError as error:
                    reported += 1
                    yield _diagnostic(file, error, None)
                    if reported >= MAX_DIAGNOSTICS_PER_FILE:
                        message = f"stopped reading after {reported} problems in this file"
                        yield _diagnostic(file, ReadError("too-many-errors", message, line=number), None)
                        return
                    continue
                if parsed is not None:
                    records += 1
                    record, text = parsed
                    lines = dict.fromkeys([f"/{key}" for key in record], number)
                    lines[""] = number
                    yield from _record(
                        record, text, file, number, lines, None, language, raw_path, detect_with
                    )
        except OSError as exc:
            yield _diagnostic(file, ReadError("unreadable-file", f"cannot read: {exc.strerror or exc}"), None)
            return
    if records == 0 and reported == 0:
        yield _diagnostic(file, ReadError("empty-file", "the file holds no records", line=1), None)


def read_documents(
    paths: Sequence[Path],
    *,
    root: Path,
    language: str = "en",
    raw_timezone: str | None = None,
    boilerplate: Sequence[str] = (),
    strip: bool = False,
) -> Iterator[SourceRecord | Diagnostic]:
    """Records and read problems of every file under `paths`, in `iter_files` order (no schema
    check: `corpuskit.validate` adds that)."""
    for path in iter_files(paths):
        yield from read_file(
            path,
            root=root,
            language=language,
            raw_timezone=raw_timezone,
            boilerplate=boilerplate,
            strip=strip,
        )
