"""How far the team is: per annotator, per document, what is left and how agreement looks so far.

Read-only, whatever the project's size: one paged read of every task's overlap, marks and data (for
its language), and one JSON export of the tasks someone worked on (the GET export, which creates
nothing on the server), converted by pull's converter so that annotators and skips are read
exactly as pull reads them.
"""

from __future__ import annotations

from array import array
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from corpuskit.quality.design import OverlapDesign
from corpuskit.studio import loop
from corpuskit.studio.progress_tasks import PILOT_MARK, STALE_MARK, TaskList, add_at

if TYPE_CHECKING:
    from corpuskit.settings import Settings
    from corpuskit.studio.client import StudioClient

FORMAT = "corpuskit.status/1"
_BATCH = 10_000


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


class Tally:
    """The progress figures folded one task at a time (what `measure` computes, in flat memory).

    Held in memory: the task list (`progress_tasks.TaskList`: 7 bytes a task), how many
    annotators submitted for each listed task (1 byte a task), the document id of each stale task
    that someone worked on, and one counter pair per annotator. Every annotation row (the fields
    agreement reads) and every lead time go to a temporary file (`progress_spill.Spill`, removed by
    `close`), from which the complete documents' agreement and the exact medians are taken
    afterwards.

    `emails`: fills an annotator's email (`pull.UserEmails.fill`), as `pull.add_emails` does for
    a whole export, so annotators are named as they were when status held the export."""

    def __init__(
        self,
        tasks: TaskList,
        emails: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    ) -> None:
        from corpuskit.studio.progress_spill import Spill

        tasks.seal()
        self.tasks = tasks
        self.emails = emails
        self.stale_documents: dict[int, str] = {}
        # Annotators who submitted, by the task's place in `tasks` (a task not listed is not counted).
        self.people: array[int] = array("B", bytes(len(tasks)))
        self.submitted: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.spill = Spill()

    def add_task(self, annotations: Iterable[dict[str, Any]]) -> None:
        """The annotation rows of one task (every row of a task in one call; rows without a task
        id may come together)."""
        people: dict[int, set[str]] = defaultdict(set)
        place: dict[int, int | None] = {}
        for row in annotations:
            if self.emails is not None and isinstance(row.get("annotator"), dict):
                row["annotator"] = self.emails(row["annotator"])
            who = _who(row.get("annotator"))
            at = None
            if row.get("task_id") is not None:
                task_id = int(row["task_id"])
                if task_id not in place:
                    place[task_id] = self.tasks.position(task_id)
                at = place[task_id]
                if at is not None and self.tasks.marks[at] & STALE_MARK:
                    self.stale_documents[task_id] = str(row["document_id"])
            self.spill.add_row(row)
            if row.get("was_cancelled"):
                self.skipped[who] += 1
                continue
            self.submitted[who] += 1
            if at is not None:
                people[at].add(who)
            if isinstance(row.get("lead_time"), int | float):
                self.spill.add_lead(who, float(row["lead_time"]))
        for at, who_set in people.items():
            self.people = add_at(self.people, at, len(who_set))

    def figures(self, taxonomy: Any, settings: Settings) -> dict[str, Any]:
        """The figures of `measure`, once every task was added."""
        from corpuskit.quality.check import assess_streaming
        from corpuskit.quality.ratings import document_answers

        members = len(self.submitted)
        by_annotators: Counter[int] = Counter()
        complete = remaining = pilot = 0
        stale: list[str] = []
        # documents, annotated, complete per language code
        by_code = [[0, 0, 0] for _ in self.tasks.codes]
        batch: list[int] = []  # complete task ids, handed to the spill a batch at a time
        tasks = self.tasks
        for task_id, overlap, marks, code, n in zip(
            tasks.ids, tasks.overlaps, tasks.marks, tasks.languages, self.people, strict=True
        ):
            if marks & PILOT_MARK:
                pilot += 1
                need = max(members, 1)
            else:
                need = overlap
                by_annotators[n] += 1
            if marks & STALE_MARK:
                stale.append(self.stale_documents.get(task_id, f"task {task_id}"))
            entry = by_code[code]
            entry[0] += 1
            entry[1] += n > 0
            if n >= need:
                entry[2] += 1
                complete += 1
                batch.append(task_id)
                if len(batch) >= _BATCH:
                    self.spill.mark_complete(batch)
                    batch.clear()
            remaining += max(0, need - n)
        self.spill.mark_complete(batch)
        by_language: dict[str, dict[str, int]] = {}
        for code, (documents, annotated, done) in enumerate(by_code):
            if documents:
                entry_of = by_language.setdefault(
                    tasks.codes[code], {"documents": 0, "annotated": 0, "complete": 0}
                )
                entry_of["documents"] += documents
                entry_of["annotated"] += annotated
                entry_of["complete"] += done
        groups = self.spill.complete_groups
        agreement: dict[str, dict[str, Any]] = {}
        overlapped = 0
        if any(document_answers(doc, numbered).kept for doc, numbered in groups()):
            # The same assessment as `gold --check` and the release gate (only alpha is shown here).
            result = assess_streaming(
                groups,
                taxonomy=taxonomy,
                adjudications={},
                min_annotators=settings.min_annotators,
                min_alpha=settings.min_alpha,
                design=OverlapDesign.from_settings(settings),
                keep_items=0,  # status shows agreement only: no failing gold label is kept
            ).agreement
            overlapped = int(result.counts["overlapped_documents"])
            for c in [*result.stance, result.topic_set]:
                name = c.name if c is result.topic_set else f"stance.{c.name}"
                agreement[name] = {"alpha": c.alpha.value, "items": c.pairable_items}
        return {
            "documents": len(tasks),
            "pilot_documents": pilot,
            "annotators": [
                AnnotatorProgress(who, self.submitted[who], self.skipped[who], self.spill.median(who))
                for who in sorted(set(self.submitted) | set(self.skipped))
            ],
            "by_annotators": dict(by_annotators),
            "complete": complete,
            "remaining": remaining,
            "median_lead_time": self.spill.median(),
            "agreement": agreement,
            "agreement_documents": overlapped,
            "stale": sorted(stale),
            "languages": dict(sorted(by_language.items(), key=lambda item: (-item[1]["documents"], item[0]))),
        }

    def close(self) -> None:
        self.spill.close()


def measure(
    tasks: dict[int, tuple[int, dict[str, Any]]],
    annotations: list[dict[str, Any]],
    taxonomy: Any,
    settings: Settings,
    languages: Mapping[int, str] | None = None,
) -> dict[str, Any]:
    """The progress figures from every task's (overlap, meta) and the snapshot-shaped annotation
    rows (pure: no server). `languages`: task id -> the language in its data (the export carries
    every task's data); a task without one counts as "unknown". The rows are given in the
    snapshot's order; `status` folds the export task by task instead (`Tally`)."""
    by_task: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for row in annotations:
        by_task[row.get("task_id")].append(row)
    tally = Tally(TaskList.from_mapping(tasks, languages))
    try:
        for rows in by_task.values():
            tally.add_task(rows)
        return tally.figures(taxonomy, settings)
    finally:
        tally.close()


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
    from corpuskit.studio.progress_tasks import read_task_list
    from corpuskit.studio.project import project_title
    from corpuskit.studio.pull import UserEmails, convert_stream_by_task, taxonomy_mapper
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
        tasks = read_task_list(client, project_id)
        emails = UserEmails(client)
        tallies: list[Tally] = []

        def fold(chunks: Iterator[bytes]) -> Tally:
            while tallies:  # a retried download starts afresh: the failed attempt's tally goes
                tallies.pop().close()
            tally = Tally(tasks, emails.fill)
            tallies.append(tally)
            for tables in convert_stream_by_task(chunks, mapper):
                tally.add_task(tables.annotations)
            return tally

        try:
            # Only the tasks someone worked on (an untouched task is all in the task list read),
            # converted and counted one task at a time while they download: neither the export
            # nor its rows are held whole.
            tally = studio.exports.read(project_id, fold, method="export", all_tasks=False)
            figures = tally.figures(taxonomy, settings)
        finally:
            for tally in tallies:
                tally.close()
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
