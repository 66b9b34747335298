"""Sorted, sharded, deterministic Parquet with bounded memory.

Rows arrive in any order. They are buffered a few thousand at a time, each buffer is sorted and
spilled to a temporary Arrow IPC "run"; at the end the runs are merged (a plain concatenation when
they do not overlap, which is the usual case for a corpus read in file order; a k-way merge
otherwise) and re-chunked into row groups of a fixed size, so the bytes depend only on the rows,
never on buffer sizes or arrival order. A shard is closed when it passes `shard_bytes`; shard names
carry the final count (`train-00000-of-00003.parquet`), so they are renamed once all are written.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.files import fsync_file

if TYPE_CHECKING:
    import pyarrow as pa

Row = dict[str, Any]
SortKey = Callable[[Row], Any]

# Fixed so that the bytes never depend on how rows were buffered.
ROW_GROUP_ROWS = 2_000
SPILL_ROWS = 2_000
DEFAULT_SHARD_BYTES = 256 * 1024 * 1024
PARQUET_OPTIONS: dict[str, Any] = {
    "compression": "zstd",
    "write_statistics": True,
    "use_dictionary": True,
    "version": "2.6",
    "data_page_version": "1.0",
}


@dataclass
class ShardedWriteResult:
    files: list[Path]
    num_rows: int


@dataclass
class SortedShardWriter:
    """Collects rows of one (config, split) and writes them sorted into `directory`."""

    directory: Path
    split: str
    schema: pa.Schema
    key: SortKey
    work: Path
    shard_bytes: int = DEFAULT_SHARD_BYTES
    row_group_rows: int = ROW_GROUP_ROWS
    _buffer: list[Row] = field(default_factory=list)
    _runs: list[tuple[Path, Any, Any]] = field(default_factory=list)
    num_rows: int = 0

    def add(self, row: Row) -> None:
        self._buffer.append(row)
        self.num_rows += 1
        if len(self._buffer) >= SPILL_ROWS:
            self._spill()

    def absorb(self, other: SortedShardWriter) -> None:
        """Take over every row `other` collected (it must not be closed or used afterwards)."""
        other._spill()
        self._spill()
        self._runs += other._runs
        self.num_rows += other.num_rows
        other._runs, other.num_rows = [], 0

    def _spill(self) -> None:
        import pyarrow as pa
        import pyarrow.ipc as ipc

        if not self._buffer:
            return
        self._buffer.sort(key=self.key)
        first, last = self.key(self._buffer[0]), self.key(self._buffer[-1])
        table = pa.Table.from_pylist(self._buffer, schema=self.schema)
        self._buffer = []
        self.work.mkdir(parents=True, exist_ok=True)
        path = self.work / f"{self.split}-run-{len(self._runs):06d}.arrow"
        with pa.OSFile(str(path), "wb") as sink, ipc.new_file(sink, self.schema) as writer:  # type: ignore[no-untyped-call]
            writer.write_table(table)
        self._runs.append((path, first, last))

    def _sorted_batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        # Runs are small and already sorted: the common case needs only the run order.
        self._runs.sort(key=lambda run: (run[1], run[2]))
        disjoint = all(self._runs[i][2] < self._runs[i + 1][1] for i in range(len(self._runs) - 1))
        if disjoint:
            for path, _, _ in self._runs:
                with pa.memory_map(str(path)) as source:
                    reader = pa.ipc.open_file(source)  # type: ignore[no-untyped-call]
                    for i in range(reader.num_record_batches):
                        yield reader.get_batch(i)
                path.unlink()
            return
        yield from self._merged_batches()

    def _merged_batches(self) -> Iterator[pa.RecordBatch]:
        import pyarrow as pa

        def rows_of(path: Path) -> Iterator[Row]:
            with pa.memory_map(str(path)) as source:
                reader = pa.ipc.open_file(source)  # type: ignore[no-untyped-call]
                for i in range(reader.num_record_batches):
                    batch = reader.get_batch(i)
                    for start in range(0, batch.num_rows, 256):
                        yield from batch.slice(start, 256).to_pylist()
            path.unlink()

        merged = heapq.merge(*(rows_of(path) for path, _, _ in self._runs), key=self.key)
        chunk: list[Row] = []
        for row in merged:
            chunk.append(row)
            if len(chunk) >= ROW_GROUP_ROWS:
                yield pa.RecordBatch.from_pylist(chunk, schema=self.schema)
                chunk = []
        if chunk:
            yield pa.RecordBatch.from_pylist(chunk, schema=self.schema)

    def close(
        self, transform: Callable[[Iterator[pa.RecordBatch]], Iterator[pa.RecordBatch]] | None = None
    ) -> ShardedWriteResult:
        """Write the shards; returns their final paths in order.

        `transform` may rewrite or drop rows of the sorted stream (keeping the order), e.g. to join."""
        import pyarrow as pa
        import pyarrow.parquet as pq

        self._spill()
        self.directory.mkdir(parents=True, exist_ok=True)
        partial: list[Path] = []
        writer: pq.ParquetWriter | None = None
        sink: pa.OSFile | None = None

        def open_shard() -> tuple[pq.ParquetWriter, pa.OSFile]:
            path = self.directory / f".{self.split}-{len(partial):05d}.partial"
            partial.append(path)
            out = pa.OSFile(str(path), "wb")
            return pq.ParquetWriter(out, self.schema, **PARQUET_OPTIONS), out  # type: ignore[no-untyped-call]

        def finish() -> None:
            if writer is not None and sink is not None:
                writer.close()  # type: ignore[no-untyped-call]
                sink.close()

        batches = self._sorted_batches()
        if transform is not None:
            batches = transform(batches)
        for group in _rechunk(batches, self.row_group_rows):
            if writer is None:
                writer, sink = open_shard()
            writer.write_table(  # type: ignore[no-untyped-call]
                pa.Table.from_batches([group], schema=self.schema), row_group_size=len(group)
            )
            assert sink is not None
            if sink.tell() >= self.shard_bytes:
                finish()
                writer, sink = None, None
        # An empty split gets no file: `datasets` refuses a split without rows ("corresponds to no data").
        finish()
        total = len(partial)
        files = []
        for index, path in enumerate(partial):
            final = self.directory / f"{self.split}-{index:05d}-of-{total:05d}.parquet"
            path.rename(final)
            fsync_file(final)
            files.append(final)
        return ShardedWriteResult(files=files, num_rows=self.num_rows)


def _rechunk(batches: Iterator[pa.RecordBatch], size: int) -> Iterator[pa.RecordBatch]:
    """Batches of exactly `size` rows (the last may be shorter), whatever sizes came in."""
    import pyarrow as pa

    pending: list[pa.RecordBatch] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - count, batch.num_rows)
            pending.append(batch.slice(0, take))
            batch = batch.slice(take)
            count += take
            if count == size:
                yield pa.concat_batches(pending) if len(pending) > 1 else pending[0]
                pending, count = [], 0
    if pending:
        yield pa.concat_batches(pending) if len(pending) > 1 else pending[0]
