"""The reliability-log section of the escaping-id tests (unit and integration halves share it)."""

from __future__ import annotations

from support.reliability_log import LOG

SECTION = "escaping-ids"


def count(name: str, amount: int = 1) -> None:
    """Record a figure for docs/reliability.md once the assertions it stands for have passed (the
    section is described on first use, so a run that deselects these tests keeps the last figures)."""
    LOG.section(
        SECTION,
        title="Attackers: ids and names that try to leave their folder",
        checks=[
            "../, absolute paths, NUL, separators, drive letters, '..', over-long ids in JSONL, JSON and file"
            " names: refused at /id on the record's line, before anything is written",
            "a release over such a corpus writes nothing; snapshot rows and foreign Label Studio tasks with"
            " '../../evil' stay data (fixed file names only, nothing outside the folder)",
        ],
    )
    LOG.count(SECTION, name, amount)
