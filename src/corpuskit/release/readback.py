"""Reading a release's Parquet back in id order, a batch at a time (for gates, diffs and changelogs)."""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from corpuskit.release.splits import SPLITS

Row = dict[str, Any]
_SHARD = re.compile(r"^(?P<split>[a-z]+)-(?P<index>\d{5})-of-(?P<total>\d{5})\.parquet$")


def shard_files(folder: Path, config: str, split: str) -> list[Path]:
    """The shards of one split, in order."""
    directory = folder / "data" / config
    if not directory.is_dir():
        return []
    found = [p for p in directory.iterdir() if (m := _SHARD.match(p.name)) and m["split"] == split]
    return sorted(found)


def iter_batches(files: Sequence[Path], columns: Sequence[str] | None = None) -> Iterator[Any]:
    """Record batches of the shards of one split, in file order (which is id order)."""
    import pyarrow.parquet as pq

    for path in files:
        parquet = pq.ParquetFile(path)  # type: ignore[no-untyped-call]
        wanted = list(columns) if columns else None
        yield from parquet.iter_batches(batch_size=1024, columns=wanted)  # type: ignore[no-untyped-call]


def iter_split(files: Sequence[Path], columns: Sequence[str] | None = None) -> Iterator[Row]:
    """Rows of the shards of one split, in file order (which is id order)."""
    for batch in iter_batches(files, columns):
        yield from batch.to_pylist()


def iter_sorted(folder: Path, config: str, key: str, columns: Sequence[str]) -> Iterator[Row]:
    """Rows of every split of a config, merged into one stream sorted by `key`."""
    streams = [iter_split(shard_files(folder, config, split), columns) for split in SPLITS]
    return heapq.merge(*streams, key=lambda row: row[key])
