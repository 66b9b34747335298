"""How far the team is: per annotator, per document, what is left and how agreement looks so far.

Read-only, whatever the project's size: one paged read of every task's overlap, marks and data (for
its language), and one JSON export of the tasks someone worked on (the GET export, which creates
nothing on the server), converted by pull's converter so that annotators and skips are read
exactly as pull reads them.
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corpuskit.quality.design import PILOT, OverlapDesign
from corpuskit.studio import loop

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
    server_kind: str  # "embedded server", "team server" or "remote server"
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
    # Per language of the task data: documents, those someone submitted for, and those complete.
    languages: dict[str, dict[str, int]] = field(default_factory=dict)
    # The queue order, pre-label visibility and model version in force, and when corpuskit last set them.
    loop: dict[str, Any] = field(default_factory=dict)

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
            "project": {
                "id": self.project_id,
                "title": self.project_title,
                "server": self.server,
                "server_kind": self.server_kind,
            },
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
            "languages": self.languages,
            "loop": self.loop,
        }


def _who(annotator: Any) -> str:
    if isinstance(annotator, dict):
        if annotator.get("email"):
            return str(annotator["email"])
        if annotator.get("id") is not None:
            return f"user {annotator['id']}"
    return "anonymous"


def measure(
    tasks: dict[int, tuple[int, dict[str, Any]]],
    annotations: list[dict[str, Any]],
    taxonomy: Any,
    settings: Settings,
    languages: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The progress figures from every task's (overlap, meta) and the snapshot-shaped annotation
    rows (pure: no server). `languages`: task id -> the language in its data (the export carries
    every task's data); a task without one counts as "unknown"."""
    from corpuskit.quality.check import assess
    from corpuskit.quality.ratings import build_ratings

    pilot = {task_id for task_id, (_, meta) in tasks.items() if meta.get(PILOT)}
    stale_tasks = {task_id for task_id, (_, meta) in tasks.items() if meta.get(STALE)}
    people: dict[int, set[str]] = defaultdict(set)
    submitted: Counter[str] = Counter()
    skipped: Counter[str] = Counter()
    lead: dict[str, list[float]] = defaultdict(list)
    document_of: dict[int, str] = {}
    for row in annotations:
        who = _who(row.get("annotator"))
        if row.get("task_id") is not None:
            document_of[int(row["task_id"])] = str(row["document_id"])
        if row.get("was_cancelled"):
            skipped[who] += 1
            continue
        submitted[who] += 1
        if row.get("task_id") is not None:
            people[int(row["task_id"])].add(who)
        if isinstance(row.get("lead_time"), int | float):
            lead[who].append(float(row["lead_time"]))
    members = len(submitted)
    by_annotators: Counter[int] = Counter()
    complete: set[int] = set()
    remaining = 0
    for task_id, (overlap, _) in tasks.items():
        n = len(people.get(task_id, ()))
        need = max(members, 1) if task_id in pilot else overlap
        if task_id not in pilot:
            by_annotators[n] += 1
        if n >= need:
            complete.add(task_id)
        remaining += max(0, need - n)
    every = [t for times in lead.values() for t in times]
    complete_docs = {document_of[task_id] for task_id in complete if task_id in document_of}
    ratings = build_ratings([r for r in annotations if r["document_id"] in complete_docs], taxonomy)
    agreement: dict[str, dict[str, Any]] = {}
    overlapped = 0
    if ratings.annotations:
        # The same assessment as `gold --check` and the release gate (only alpha is shown here).
        result = assess(
            ratings,
            min_annotators=settings.min_annotators,
            min_alpha=settings.min_alpha,
            design=OverlapDesign.from_settings(settings),
        ).agreement
        overlapped = int(result.counts["overlapped_documents"])
        for c in [*result.stance, result.topic_set]:
            name = c.name if c is result.topic_set else f"stance.{c.name}"
            agreement[name] = {"alpha": c.alpha.value, "items": c.pairable_items}
    stale = sorted(document_of.get(task_id, f"task {task_id}") for task_id in stale_tasks)
    by_language: dict[str, dict[str, int]] = {}
    for task_id in tasks:
        entry = by_language.setdefault(
            (languages or {}).get(task_id, "unknown"), {"documents": 0, "annotated": 0, "complete": 0}
        )
        entry["documents"] += 1
        entry["annotated"] += task_id in people
        entry["complete"] += task_id in complete
    return {
        "documents": len(tasks),
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
        "complete": len(complete),
        "remaining": remaining,
        "median_lead_time": float(statistics.median(every)) if every else None,
        "agreement": agreement,
        "agreement_documents": overlapped,
        "stale": stale,
        "languages": dict(sorted(by_language.items(), key=lambda item: (-item[1]["documents"], item[0]))),
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
    from corpuskit.studio.gateway import Gateway
    from corpuskit.studio.project import project_title
    from corpuskit.studio.pull import add_emails, convert_stream, taxonomy_mapper
    from corpuskit.studio.team import read_overlaps
    from corpuskit.taxonomy import load_taxonomy

    settings = settings or load_settings()
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    own = client is None
    client = client or StudioClient(connection(settings))
    try:
        studio = Gateway(client)
        if project is None:
            project = int(studio.projects.require(project_title(settings, taxonomy))["id"])
        info = studio.projects.get(project, fields=loop.FIELDS)
        project_id = int(info["id"])
        mapper = taxonomy_mapper(taxonomy)
        # Only the tasks someone worked on (an untouched task is all in the task list read),
        # converted while they download: the export is never written or held whole.
        tables = studio.exports.read(
            project_id, lambda chunks: convert_stream(chunks, mapper), method="export", all_tasks=False
        )
        add_emails(client, tables)
        languages: dict[int, str] = {}
        overlaps = read_overlaps(client, project_id, languages=languages)
        figures = measure(overlaps, tables.annotations, taxonomy, settings, languages)
        design = OverlapDesign.from_settings(settings)
        events = loop.history(settings.root, studio.url, info)
        in_force = {
            **loop.LoopState.of_project(info).to_json(),
            "last_change": events[-1].to_json() if events else None,
        }
        return Progress(
            project_id=project_id,
            project_title=str(info.get("title") or ""),
            server=client.url,
            design=design,
            server_kind=client.conn.where,
            loop=in_force,
            **figures,
        )
    finally:
        if own:
            client.close()
