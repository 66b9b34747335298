"""Joining sorted rows with the sorted documents of their split, column-wise (no Python rows)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from corpuskit.release.readback import iter_batches

Match = tuple[Any, int]  # (a record batch of documents, a row in it)


class DocumentCursor:
    """Walks the sorted documents of one split alongside sorted keys; only the id column becomes Python."""

    def __init__(self, files: list[Path], columns: list[str]) -> None:
        self._batches = iter_batches(files, columns)
        self._batch: Any = None
        self._ids: list[str] = []
        self._pos = 0
        self._next_batch()

    def _next_batch(self) -> None:
        self._batch = next(self._batches, None)
        self._ids = self._batch.column("id").to_pylist() if self._batch is not None else []
        self._pos = 0

    def find(self, key: str) -> Match | None:
        while self._batch is not None:
            while self._pos < len(self._ids) and self._ids[self._pos] < key:
                self._pos += 1
            if self._pos < len(self._ids):
                return (self._batch, self._pos) if self._ids[self._pos] == key else None
            self._next_batch()
        return None


def gather(matches: list[Match], column: str, type_: Any) -> Any:
    """One column of the matched documents, taken batch by batch (no Python values)."""
    import pyarrow as pa

    parts = []
    start = 0
    while start < len(matches):
        batch = matches[start][0]
        end = start
        while end < len(matches) and matches[end][0] is batch:
            end += 1
        rows = pa.array([row for _, row in matches[start:end]], type=pa.int64())
        parts.append(batch.column(column).take(rows))
        start = end
    return pa.concat_arrays(parts) if parts else pa.array([], type=type_)


def keep(batch: Any, matches: list[Match | None]) -> tuple[Any, list[Match]]:
    """The rows of `batch` that matched a document, and their matches."""
    import pyarrow as pa

    found = [m for m in matches if m is not None]
    if len(found) == len(matches):
        return batch, found
    return batch.filter(pa.array([m is not None for m in matches])), found
