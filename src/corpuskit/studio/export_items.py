"""The tasks of a Label Studio JSON export, parsed one at a time while the export downloads.

Label Studio writes an export as one line, `[{"id": 1, "annotations": [...], ...}, {"id": 2, ...}]`
(Python's `json.JSONEncoder` with its default separators, each task's keys in the serializer's
order). The fast path cuts that array into one byte piece per task at the places where the next
task can begin, `}, {"id": <integer>, "annotations": `, and parses each piece with orjson (several
times faster than an incremental parser). A quote inside a JSON string is always escaped, so such a
place can only be where one object ends and another begins: at worst an object nested in a task
(in its data) that looks like a task. A piece cut there is not balanced and fails to parse, so it is
joined with the next piece and parsed again: a piece that parses is exactly one element of the
array. Anything else (another layout, a piece that keeps failing, one that grows very large, a
number orjson cannot hold) hands the rest of the body, from the start of the current task, to
ijson's incremental parser, which also words the error of a body that is truncated or not JSON.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import orjson

from corpuskit.errors import DataError

# Where a task of Label Studio's one-line export can begin; the match starts at the `}` that closes
# the task before.
_NEXT_TASK = re.compile(rb'\}, \{"id": -?[0-9]+, "annotations": ')
# An integer of 19 digits or more, where orjson and ijson may disagree (beyond 64 bits orjson
# gives a float, ijson an error): a run of 19 digits after `[`, `:` or `,` (a space and a minus
# sign between). In a string it only sends the task the slower way. Every digit is made `0` by
# one C-speed `translate`, then substring searches find the runs and only their context is
# checked: a pattern (`[0-9]{19,}`) tries every digit of the piece, and a task whose strings hold
# long runs of digits (a hash of mostly zeros) cost 36 µs that way, a third of pull's own work.
_DIGITS_AS_ZERO = bytes.maketrans(b"0123456789", b"0" * 10)
_NINETEEN_DIGITS = b"0" * 19
_ZERO, _MINUS, _SPACE = ord("0"), ord("-"), ord(" ")
# The longest match: a boundary split by the end of a chunk is looked for again with the next one.
_OVERLAP = 64
# A task piece that failed to parse this many times (false boundaries), or grew this large without
# a boundary, means the body is not in the layout the fast path knows.
_MAX_RETRIES = 16
_MAX_PIECE = 64 << 20


class ExportBody:
    """The export's chunks as the file-like object that ijson reads."""

    def __init__(self, chunks: Iterator[bytes]) -> None:
        self.chunks = chunks
        self.left = b""
        self.at = 0

    def read(self, size: int = -1) -> bytes:
        """At most `size` bytes (ijson's C reader copies no more than it asked for)."""
        if self.at >= len(self.left):
            self.left, self.at = b"", 0
            for chunk in self.chunks:
                if chunk:
                    self.left = chunk
                    break
            else:
                return b""
        end = len(self.left) if size < 0 else self.at + size
        piece = self.left[self.at : end]
        self.at += len(piece)
        return piece


def iter_tasks(head: bytes, chunks: Iterator[bytes]) -> Iterator[Any]:
    """The elements of the JSON array whose bytes are `head` (starting with `[`) then `chunks`.

    Raises DataError when the body is truncated or not valid JSON."""
    for _, task in iter_task_pieces(head, chunks):
        yield task


def iter_task_pieces(head: bytes, chunks: Iterator[bytes]) -> Iterator[tuple[bytes | None, Any]]:
    """`iter_tasks` with each element's bytes: (its JSON, the value) when orjson read it from
    exactly those bytes (so `orjson.loads` gives the value again, in another process too),
    (None, the value) when the incremental parser read it."""
    body = head.lstrip()
    start_of_task = b'[{"id": '
    while len(body) < len(start_of_task) and (chunk := next(chunks, None)) is not None:
        body += chunk
    if not body.startswith(start_of_task):
        yield from _incremental(body, chunks)
        return
    buffer = bytearray(body[1:])
    start = 0  # where the current element begins in `buffer`
    search = 0  # where to look for the next boundary (every match before it was tried)
    retries = 0
    while True:
        for match in _NEXT_TASK.finditer(buffer, search):
            end = match.start() + 1
            search = end
            piece = _one_task(bytes(memoryview(buffer)[start:end]))
            if piece is None:
                retries += 1  # a false boundary: join the next piece
                if retries > _MAX_RETRIES:
                    yield from _incremental(b"[" + buffer[start:], chunks)
                    return
                continue
            yield piece
            start, retries = match.start() + 3, 0
        if len(buffer) - start > _MAX_PIECE:
            yield from _incremental(b"[" + buffer[start:], chunks)
            return
        chunk = next(chunks, None)
        if chunk is None:
            break
        del buffer[:start]
        search = max(search - start, len(buffer) - _OVERLAP, 0)
        start = 0
        buffer += chunk
    last = bytes(buffer[start:]).rstrip()
    if last.endswith(b"]"):
        piece = _one_task(last[:-1])
        if piece is not None:
            yield piece
            return
    yield from _incremental(b"[" + last, iter(()))


def _one_task(piece: bytes) -> tuple[bytes | None, Any] | None:
    """(`piece`, the value) when orjson reads `piece` as one whole JSON value, (None, the value)
    when only the incremental parser's reading is the right one; None when `piece` is not one
    value (cut at a false boundary, or damaged)."""
    if not _long_integer(piece):
        try:
            return piece, orjson.loads(piece)
        except orjson.JSONDecodeError:
            pass
    # What orjson refuses or reads otherwise (a lone surrogate, an integer beyond 64 bits, which
    # orjson turns into a float) is read as ijson reads it, so that both paths give one answer.
    import ijson

    try:
        values = list(ijson.items(b"[" + piece + b"]", "item", use_float=True))
    except ijson.JSONError:
        return None
    return (None, values[0]) if len(values) == 1 else None


def _long_integer(piece: bytes) -> bool:
    """Whether `piece` has a run of 19 digits after `[`, `:` or `,` (`[\\[:,] ?-?[0-9]{19}`)."""
    digits = piece.translate(_DIGITS_AS_ZERO)
    at = digits.find(_NINETEEN_DIGITS)  # the first digit of a run: the search starts after a run
    while at != -1:
        start = at
        if start and piece[start - 1] == _MINUS:
            start -= 1
        if start and piece[start - 1] == _SPACE:
            start -= 1
        if start and piece[start - 1] in b"[:,":
            return True
        end = at + len(_NINETEEN_DIGITS)
        while end < len(digits) and digits[end] == _ZERO:
            end += 1
        at = digits.find(_NINETEEN_DIGITS, end)
    return False


def _incremental(head: bytes, chunks: Iterator[bytes]) -> Iterator[tuple[None, Any]]:
    """The array's elements parsed incrementally (ijson, its C yajl2 backend)."""
    import ijson

    pending = [head]

    def replay() -> Iterator[bytes]:
        yield pending.pop()
        yield from chunks

    try:
        for value in ijson.items(ExportBody(replay()), "item", use_float=True):
            yield None, value
    except ijson.JSONError as exc:
        raise DataError(f"not a valid JSON export (truncated?): {exc}") from None
