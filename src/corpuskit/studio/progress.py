"""How far the team is: per annotator, per document, what is left and how agreement looks so far.

Read-only: one JSON export of the project (the GET export, which creates nothing on the server)
and one light read of every task's overlap, whatever the project's size; the export goes through
pull's converter, so annotators, skips and stale marks are read exactly as pull reads them.
"""

from __future__ import annotations

import os
import statistics
import tempfile
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.quality.design import PILOT, OverlapDesign

if TYPE_CHECKING:
    from corpuskit.settings import Settings
    from corpuskit.studio.client import StudioClient

FORMAT = "corpuskit.status/1"
STALE = "corpuskit_stale"


@dataclass(frozen=True)
class AnnotatorProgress:
    annotator: str
    submitted: int
    skipped: int
    median_lead_time: float | None  # seconds

    def to_json(self) -> dict[str, Any]:
        lead = self.median_lead_time
        return {
            "annotator": self.annotator,
            "submitted": self.submitted,
            "skipped": self.skipped,
            "median_lead_time": None if lead is None else round(lead, 3),
        }


@dataclass
class Progress:
    """The project's progress under its overlap design (`to_json()` is `status --format json`)."""

    project_id: int
    project_title: str
    server: str
    design: OverlapDesign
    documents: int
    pilot_documents: int
    annotators: list[AnnotatorProgress]
    by_annotators: dict[int, int]  # documents (outside the pilot) by number of annotators
    complete: int
    remaining: int
    median_lead_time: float | None
    agreement: dict[str, dict[str, Any]] = field(default_factory=dict)
    agreement_documents: int = 0
    stale: list[str] = field(default_factory=list)

    @property
    def hours(self) -> float | None:
        """Annotator-hours left at the median time per annotation (None before any timed answer)."""
        if self.median_lead_time is None:
            return None
        return self.remaining * self.median_lead_time / 3600

    def to_json(self) -> dict[str, Any]:
        hours = self.hours
        return {
            "format": FORMAT,
            "project": {"id": self.project_id, "title": self.project_title, "server": self.server},
            "design": self.design.to_json(),
            "documents": self.documents,
            "pilot_documents": self.pilot_documents,
            "documents_by_annotators": {str(n): c for n, c in sorted(self.by_annotators.items())},
            "complete": self.complete,
            "remaining_annotations": self.remaining,
            "median_lead_time": None if self.median_lead_time is None else round(self.median_lead_time, 3),
            "estimated_annotator_hours": None if hours is None else round(hours, 2),
            "annotators": [a.to_json() for a in self.annotators],
            "agreement": {"documents": self.agreement_documents, "questions": self.agreement},
            "stale": self.stale,
        }


def _who(annotator: Any) -> str:
    if isinstance(annotator, dict):
        if annotator.get("email"):
            return str(annotator["email"])
        if annotator.get("id") is not None:
            return f"user {annotator['id']}"
    return "anonymous"


def measure(
    tasks: list[dict[str, Any]],
    annotations: list[dict[str, Any]],
    overlaps: dict[int, int],
    design: OverlapDesign,
    taxonomy: Any,
) -> dict[str, Any]:
    """The progress figures from snapshot-shaped task and annotation rows (pure: no server)."""
    from corpuskit.quality.agreement import compute_agreement
    from corpuskit.quality.ratings import build_ratings

    pilot = {t["document_id"] for t in tasks if isinstance(t.get("meta"), dict) and t["meta"].get(PILOT)}
    stale = sorted(
        {t["document_id"] for t in tasks if isinstance(t.get("meta"), dict) and t["meta"].get(STALE)}
    )
    wanted: dict[str, int] = {}
    for task in tasks:
        doc = task["document_id"]
        overlap = overlaps.get(task["task_id"]) if task.get("task_id") is not None else None
        wanted[doc] = max(wanted.get(doc, 0), overlap or design.overlap_of(doc, pilot=doc in pilot))
    people: dict[str, set[str]] = defaultdict(set)
    submitted: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    lead: dict[str, list[float]] = defaultdict(list)
    for row in annotations:
        who = _who(row.get("annotator"))
        if row.get("was_cancelled"):
            skipped[who] += 1
            continue
        submitted[who] += 1
        people[row["document_id"]].add(who)
        if isinstance(row.get("lead_time"), int | float):
            lead[who].append(float(row["lead_time"]))
    members = len(submitted)
    by_annotators: Counter[int] = Counter()
    complete_docs: set[str] = set()
    remaining = 0
    for doc, overlap in wanted.items():
        n = len(people.get(doc, ()))
        need = max(members, 1) if doc in pilot else overlap
        if doc not in pilot:
            by_annotators[n] += 1
        if n >= need:
            complete_docs.add(doc)
        remaining += max(0, need - n)
    every = [t for times in lead.values() for t in times]
    complete_rows = [r for r in annotations if r["document_id"] in complete_docs]
    ratings = build_ratings(complete_rows, taxonomy)
    agreement: dict[str, dict[str, Any]] = {}
    overlapped = 0
    if ratings.annotations:
        result = compute_agreement(ratings, draws=200)
        overlapped = int(result.counts["overlapped_documents"])
        for c in [*result.stance, result.topic_set]:
            name = c.name if c is result.topic_set else f"stance.{c.name}"
            agreement[name] = {"alpha": c.alpha.value, "items": c.pairable_items}
    return {
        "documents": len(wanted),
        "pilot_documents": len(pilot),
        "annotators": [
            AnnotatorProgress(
                who,
                submitted[who],
                skipped[who],
                float(statistics.median(lead[who])) if lead[who] else None,
            )
            for who in sorted(set(submitted) | set(skipped))
        ],
        "by_annotators": dict(by_annotators),
        "complete": len(complete_docs),
        "remaining": remaining,
        "median_lead_time": float(statistics.median(every)) if every else None,
        "agreement": agreement,
        "agreement_documents": overlapped,
        "stale": stale,
    }


def status(
    *,
    settings: Settings | None = None,
    project: int | None = None,
    client: StudioClient | None = None,
) -> Progress:
    """The progress of the corpus's project (or project `project`) on its Label Studio."""
    from corpuskit.settings import load_settings
    from corpuskit.studio.client import StudioClient, connection
    from corpuskit.studio.project import project_title
    from corpuskit.studio.pull import (
        add_emails,
        convert_export_file,
        download_export,
        find_project,
        taxonomy_mapper,
    )
    from corpuskit.studio.team import read_overlaps
    from corpuskit.taxonomy import load_taxonomy

    settings = settings or load_settings()
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    own = client is None
    client = client or StudioClient(connection(settings))
    try:
        info = (
            client.project(project, fields="id,title")
            if project is not None
            else find_project(client, project_title(settings, taxonomy))
        )
        project_id = int(info["id"])
        fd, name = tempfile.mkstemp(prefix=".status-", suffix=".json")
        os.close(fd)
        body = Path(name)
        try:
            download_export(client, project_id, body, method="export")
            tables = convert_export_file(body, taxonomy_mapper(taxonomy))
        finally:
            body.unlink(missing_ok=True)
        add_emails(client, tables)
        overlaps = {task_id: overlap for task_id, (overlap, _) in read_overlaps(client, project_id).items()}
        design = OverlapDesign.from_settings(settings)
        figures = measure(tables.tasks, tables.annotations, overlaps, design, taxonomy)
        return Progress(
            project_id=project_id,
            project_title=str(info.get("title") or ""),
            server=client.url,
            design=design,
            **figures,
        )
    finally:
        if own:
            client.close()
