"""Reading JSONL tables (snapshots, gold, adjudications, predictions): one object per line, located errors."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

from corpuskit.errors import CorpuskitError, DataError


def iter_jsonl(path: Path, *, error: type[CorpuskitError] = DataError) -> Iterator[dict[str, Any]]:
    """The JSON objects of a JSONL file, one at a time (blank lines skipped)."""
    for _, row in iter_numbered(path, error=error):
        yield row


def iter_numbered(
    path: Path, *, error: type[CorpuskitError] = DataError
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) for each non-blank line of a JSONL file. A line that is not JSON, or
    not an object, raises `error` naming the file and the line; opening the file may raise
    OSError, which each caller words for its own file."""
    with Path(path).open("rb") as handle:
        for number, line in enumerate(handle, 1):
            if not line.strip():
                continue
            try:
                row = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                raise error(f"{path}:{number}: not valid JSON: {exc}") from None
            if not isinstance(row, dict):
                raise error(f"{path}:{number}: expected a JSON object")
            yield number, row
