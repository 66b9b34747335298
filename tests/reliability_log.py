"""Figures of the fault and attack tests, written to `tests/artifacts/reliability.json`.

A test module describes what it checks (`LOG.section`) and counts what it did (`LOG.count`) only
after its assertions passed, so every figure is one that a passing test verified: "kills survived"
is counted after the re-run was checked, not before. The module-scoped fixture `reliability`
merges the module's sections into the JSON file when the module ends; sections that this run did not
touch keep their figures from the run that last did. `scripts/reliability_report.py` renders the
file as `docs/reliability.md`.

    from reliability_log import LOG, reliability  # noqa: F401 (the fixture)

    pytestmark = pytest.mark.usefixtures("reliability")
    LOG.section("proxy", title="...", checks=["..."])
    LOG.count("proxy", "faults injected: http 503", 3)
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

ARTIFACT = Path(__file__).resolve().parent / "artifacts" / "reliability.json"


class ReliabilityLog:
    """Sections of figures, each with a title, the list of what it checks and counters."""

    def __init__(self) -> None:
        self._sections: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def section(self, key: str, *, title: str, checks: list[str]) -> None:
        with self._lock:
            entry = self._sections.setdefault(key, {"counts": {}})
            entry["title"] = title
            entry["checks"] = list(checks)

    def count(self, key: str, name: str, amount: int = 1) -> None:
        with self._lock:
            counts = self._sections.setdefault(key, {"counts": {}})["counts"]
            counts[name] = counts.get(name, 0) + amount

    def note(self, key: str, name: str, value: Any) -> None:
        """A non-additive figure (a seed, a size, a list of where kills landed)."""
        with self._lock:
            self._sections.setdefault(key, {"counts": {}}).setdefault("notes", {})[name] = value

    def flush(self, path: Path = ARTIFACT) -> None:
        """Merge the sections collected so far into `path` (atomically) and forget them."""
        with self._lock:
            sections, self._sections = self._sections, {}
        if not sections:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        stored = data.setdefault("sections", {})
        for key, entry in sections.items():
            entry["run_at"] = now
            entry["python"] = platform.python_version()
            stored[key] = entry
        data["updated_at"] = now
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(prefix=".reliability-", suffix=".json", dir=path.parent)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as handle:
                json.dump(data, handle, indent=2, sort_keys=True)
                handle.write("\n")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(name, path)
        except BaseException:
            Path(name).unlink(missing_ok=True)
            raise


LOG = ReliabilityLog()


@pytest.fixture(scope="module")
def reliability() -> Iterator[ReliabilityLog]:
    """The shared log; the module's figures are written when the module's tests are done."""
    try:
        yield LOG
    finally:
        LOG.flush()
