"""The annotation rows and lead times of one `corpuskit status` pass, kept on disk, not in memory.

Status sees the export one task at a time, in the server's task order, but agreement takes the
complete documents in the snapshot's order (document, then annotation id, task id and the row's
place in its task; `export_rows.Tables.sort`), and an exact median needs every lead time. Both go
to a temporary SQLite file (removed by `close`), which sorts on disk: what the pass holds in memory
does not grow with the number of annotations. Each row keeps only the fields agreement reads
(`quality.ratings.to_annotation` and `document_answers`), pickled, so they come back exactly.
"""

from __future__ import annotations

import pickle
import shutil
import sqlite3
import tempfile
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

# The fields of a row that agreement and gold read.
KEPT = (
    "document_id",
    "task_id",
    "annotation_id",
    "annotator",
    "stance",
    "topics",
    "lead_time",
    "ground_truth",
    "was_cancelled",
    "updated_at",
    "created_at",
    "pilot",
    "taxonomy_version",
)
_BATCH = 10_000


def int_key(value: Any) -> bytes:
    """Bytes that sort as the snapshot sorts an id column (`export_rows._opt`): numbers by value,
    then anything else by its text, then a missing value. The converter's ids are integers (of
    any size) or missing; a whole float sorts as its integer, any other float is refused."""
    if value is None:
        return b"\x02"
    if isinstance(value, bool) or not isinstance(value, int | float):
        return b"\x01" + text_key(str(value))
    if isinstance(value, float):
        if not value.is_integer():
            raise ValueError(f"an id {value!r} that is not a whole number")
        value = int(value)
    number: int = value
    magnitude = abs(number)
    body = magnitude.to_bytes((magnitude.bit_length() + 7) // 8 or 1, "big")
    if number >= 0:
        return b"\x00\x01" + len(body).to_bytes(4, "big") + body
    return b"\x00\x00" + (0xFFFFFFFF - len(body)).to_bytes(4, "big") + bytes(255 - b for b in body)


def text_key(value: str) -> bytes:
    """UTF-8 bytes compare as Python compares the strings (by code point); lone surrogates too."""
    return value.encode("utf-8", "surrogatepass")


class Spill:
    """Annotation rows and lead times written as they come, read back sorted."""

    def __init__(self) -> None:
        self.folder = Path(tempfile.mkdtemp(prefix="corpuskit-status-"))
        self.db = sqlite3.connect(self.folder / "spill.sqlite3")
        self.db.executescript(
            """
            PRAGMA journal_mode = OFF;
            PRAGMA synchronous = OFF;
            PRAGMA cache_size = -8000;
            PRAGMA temp_store = FILE;
            CREATE TABLE rows (
                seq INTEGER PRIMARY KEY, doc BLOB, docname BLOB, ann BLOB, task BLOB,
                taskref BLOB, position INTEGER, row BLOB
            );
            CREATE TABLE lead (who TEXT, t REAL);
            CREATE TABLE complete (task BLOB PRIMARY KEY);
            """
        )
        self.seq = 0
        self.sorted = False  # the complete documents' rows copied in document order
        self.indexed = False  # the lead times indexed by annotator and time
        self.rows: list[tuple[Any, ...]] = []
        self.leads: list[tuple[str, float]] = []

    def add_row(self, row: Mapping[str, Any]) -> None:
        """Keep one annotation row (its `position` in its task breaks ties, as in the snapshot)."""
        self.seq += 1
        doc = row.get("document_id")
        task_id = row.get("task_id")
        kept = {key: row[key] for key in KEPT if key in row}
        self.rows.append(
            (
                self.seq,
                text_key(doc) if isinstance(doc, str) else None,
                text_key(str(doc)),
                int_key(row.get("annotation_id")),
                int_key(task_id),
                # Which task's completeness counts for the row: status reads the id as an integer.
                None if task_id is None else int_key(int(task_id)),
                int(row.get("position") or 0),
                pickle.dumps(kept, protocol=pickle.HIGHEST_PROTOCOL),
            )
        )
        if len(self.rows) >= _BATCH:
            self._flush()

    def add_lead(self, who: str, seconds: float) -> None:
        self.leads.append((who, seconds))
        if len(self.leads) >= _BATCH:
            self._flush()

    def _flush(self) -> None:
        if self.rows:
            self.db.executemany("INSERT INTO rows VALUES (?, ?, ?, ?, ?, ?, ?, ?)", self.rows)
            self.rows.clear()
        if self.leads:
            self.db.executemany("INSERT INTO lead VALUES (?, ?)", self.leads)
            self.leads.clear()

    def mark_complete(self, task_ids: Iterable[int]) -> None:
        """The tasks whose documents agreement takes (every row of such a document, whatever its task)."""
        self._flush()
        self.db.executemany("INSERT OR IGNORE INTO complete VALUES (?)", ((int_key(t),) for t in task_ids))

    def median(self, who: str | None = None) -> float | None:
        """The exact median lead time of one annotator (None: of everyone), as `statistics.median`."""
        self._flush()
        if not self.indexed:
            self.db.execute("CREATE INDEX lead_order ON lead (who, t)")
            self.db.execute("CREATE INDEX lead_time_order ON lead (t)")
            self.indexed = True
        where, args = ("", ()) if who is None else (" WHERE who = ?", (who,))
        (n,) = self.db.execute(f"SELECT count(*) FROM lead{where}", args).fetchone()
        if not n:
            return None
        middle = [
            t
            for (t,) in self.db.execute(
                f"SELECT t FROM lead{where} ORDER BY t LIMIT ? OFFSET ?",
                (*args, 1 if n % 2 else 2, (n - 1) // 2),
            )
        ]
        return float(middle[0]) if n % 2 else float((middle[0] + middle[1]) / 2)

    def complete_groups(self) -> Iterator[tuple[str, Sequence[tuple[int, dict[str, Any]]]]]:
        """The rows of every document with a complete task, one document at a time in document
        order, numbered from 1 as in the sorted list of those rows (`quality.ratings.group_rows`)."""
        self._flush()
        if not self.sorted:
            # Sorted once (on disk), then read in that order as often as agreement asks.
            self.db.execute(
                """
                CREATE TABLE ordered AS SELECT doc, row FROM rows
                WHERE doc IN (
                    SELECT docname FROM rows WHERE taskref IN (SELECT task FROM complete)
                )
                ORDER BY doc, ann, task, position, seq
                """
            )
            self.sorted = True
        cursor = self.db.execute("SELECT doc, row FROM ordered ORDER BY rowid")
        current: bytes | None = None
        group: list[tuple[int, dict[str, Any]]] = []
        for number, (doc, blob) in enumerate(cursor, start=1):
            if doc != current:
                if group and current is not None:
                    yield current.decode("utf-8", "surrogatepass"), group
                current, group = doc, []
            group.append((number, pickle.loads(blob)))
        if group and current is not None:
            yield current.decode("utf-8", "surrogatepass"), group

    def close(self) -> None:
        self.db.close()
        shutil.rmtree(self.folder, ignore_errors=True)
