"""Figures of the fault and attack tests, written to `tests/artifacts/reliability.json`.

A test module describes what it checks (`LOG.section`) and counts what it did (`LOG.count`) only
after its assertions passed, so every figure is one that a passing test verified: "kills survived"
is counted after the re-run was checked, not before. The module-scoped fixture `reliability`
merges the module's sections into the JSON file when the module ends; sections that this run did not
touch keep their figures from the run that last did. `scripts/reliability_report.py` renders the
file as `docs/reliability.md`.

    from support.reliability_log import LOG, reliability  # noqa: F401 (the fixture)

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

ARTIFACT = Path(__file__).resolve().parents[1] / "artifacts" / "reliability.json"


class ReliabilityLog:
    """Sections of figures, each with a title, the list of what it checks and counters."""

    def __init__(self) -> None:
        self._sections: dict[str, dict[str, Any]] = {}
        self._touched: dict[str, str] = {}
        self._lock = threading.Lock()

    def section(self, key: str, *, title: str, checks: list[str]) -> None:
        with self._lock:
            entry = self._sections.setdefault(key, {"counts": {}})
            entry["title"] = title
            entry["checks"] = list(checks)

    def _entry(self, key: str) -> dict[str, Any]:
        if key not in self._sections:
            raise KeyError(f"reliability section {key!r} is not described: call LOG.section first")
        self._touched[key] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        return self._sections[key]

    def count(self, key: str, name: str, amount: int = 1) -> None:
        with self._lock:
            counts = self._entry(key)["counts"]
            counts[name] = counts.get(name, 0) + amount

    def note(self, key: str, name: str, value: Any) -> None:
        """A non-additive figure (a seed, a size, where kills landed)."""
        with self._lock:
            self._entry(key).setdefault("notes", {})[name] = value

    def flush(self, path: Path = ARTIFACT) -> None:
        """Merge the sections this run recorded figures in into `path` (atomically).

        A section described but without figures in this run (its tests deselected or failed before
        counting) keeps the figures of the run that last recorded it."""
        with self._lock:
            touched = {key: json.loads(json.dumps(self._sections[key])) for key in self._touched}
            when = dict(self._touched)
        if not touched:
            return
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            data = {}
        if not isinstance(data, dict):
            data = {}
        stored = {k: v for k, v in data.get("sections", {}).items() if isinstance(v, dict) and v.get("title")}
        for key, entry in touched.items():
            entry["run_at"] = when[key]
            entry["python"] = platform.python_version()
            stored[key] = entry
        data["sections"] = stored
        data["updated_at"] = max(when.values())
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
