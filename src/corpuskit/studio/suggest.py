"""`corpuskit suggest`: a model trained on the current gold pre-labels the documents that still need
annotators, and the project's queue can follow its uncertainty.

Fit and evaluation are `corpuskit.suggest`'s (on a snapshot, no server); this module is the Label
Studio side: which tasks still need annotations, which predictions they already have, importing
the new ones once, pruning old versions, and setting the queue order, the pre-label visibility and
the model version through `corpuskit.studio.loop`, which records every change with its time.
"""

from __future__ import annotations

import sys
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.errors import UsageError
from corpuskit.studio import loop
from corpuskit.taxonomy.annotation_schema import HIDDEN, SHOWN

if TYPE_CHECKING:
    from corpuskit.settings import Settings
    from corpuskit.studio.client import StudioClient
    from corpuskit.studio.gateway import Gateway
    from corpuskit.suggest import Suggester
    from corpuskit.taxonomy.model import Taxonomy

BATCH = 1000  # predictions per import request
REPORT_DIR = ".corpuskit/suggest"  # default home of the reports, one folder per model version


@dataclass(frozen=True)
class SuggestOptions:
    """What the caller asked of `suggest` (see there)."""

    project: int | None = None
    snapshot: Path | None = None
    force: bool = False
    order: str | None = None
    show: bool = False
    prune: bool = False
    dry_run: bool = False
    report: Path | None = None
    folds: int = 5
    seed: int = 0
    progress: bool = False


@dataclass(frozen=True)
class Pending:
    """A task that still needs annotations: fewer submitted than its overlap."""

    task_id: int
    document_id: str
    text: str  # the task's text (what a prediction's spans point into)
    model_text: str = ""  # what the model reads (`corpuskit.suggest.task_text`: headline and body)


@dataclass
class SuggestResult:
    """What `suggest` found and did."""

    project_id: int
    project_title: str
    server: str
    snapshot: str  # the folder the model was trained on ("a fresh pull" when it was temporary)
    suggester: Suggester
    forced: bool
    dry_run: bool
    before: loop.LoopState
    after: loop.LoopState
    report: Path | None = None
    pending: int = 0  # tasks that still need annotations
    have_version: int = 0  # of those, the ones that already have this model version's prediction
    to_push: int = 0
    pushed: int = 0
    to_label: int = 0  # predictions of this version that get their labels (--show)
    labelled: int = 0
    to_unlabel: int = 0  # predictions of this version whose labels are taken off (hidden)
    unlabelled: int = 0
    to_prune: int = 0
    pruned: int = 0
    recorded: dict[str, Any] | None = None  # the history entry of the change, if there was one
    skipped: list[str] = field(default_factory=list)  # pending documents the model gave no row for

    @property
    def refused(self) -> bool:
        return not self.suggester.ready and not self.forced

    def summary(self) -> dict[str, Any]:
        s = self.suggester
        return {
            "project": {"id": self.project_id, "title": self.project_title, "server": self.server},
            "snapshot": self.snapshot,
            "model_version": s.model_version,
            "ready": s.ready,
            "reasons": list(s.reasons),
            "forced": self.forced,
            "refused": self.refused,
            "dry_run": self.dry_run,
            "training_documents": s.training_documents,
            "evaluation": s.evaluation.to_json(),
            "report": str(self.report) if self.report is not None else None,
            "pending": self.pending,
            "have_version": self.have_version,
            "to_push": self.to_push,
            "pushed": self.pushed,
            "to_label": self.to_label,
            "labelled": self.labelled,
            "to_unlabel": self.to_unlabel,
            "unlabelled": self.unlabelled,
            "to_prune": self.to_prune,
            "pruned": self.pruned,
            "before": self.before.to_json(),
            "after": self.after.to_json(),
            "recorded": self.recorded,
            "skipped": self.skipped,
        }


def pending_tasks(studio: Gateway, project_id: int) -> list[Pending]:
    """The project's corpuskit tasks with fewer submitted annotations than their overlap (what
    Label Studio's queue still hands out), in task order."""
    from corpuskit.suggest.data import task_text

    pages = studio.tasks.pages(
        project_id, "id,data,overlap,total_annotations", what="read which tasks need annotations"
    )
    found = []
    for items in pages:
        for item in items:
            data = item.get("data") or {}
            doc_id = data.get("doc_id")
            if not isinstance(doc_id, str):
                continue  # not a task corpuskit pushed
            if int(item.get("total_annotations") or 0) < int(item.get("overlap") or 1):
                text = str(data.get("text") or "")
                found.append(Pending(int(item["id"]), doc_id, text, task_text(data)))
    return sorted(found, key=lambda p: p.task_id)


def _fresh_snapshot(settings: Settings, taxonomy: Taxonomy, project_id: int, into: Path) -> Path:
    from corpuskit.studio.pull import pull

    folder = into / "annotations"
    pull(project=project_id, out=folder, settings=settings, taxonomy=taxonomy)
    return folder


def suggest(
    options: SuggestOptions,
    *,
    settings: Settings | None = None,
    client: StudioClient | None = None,
) -> SuggestResult:
    """Train on the project's gold, report, and pre-label the tasks that still need annotations.

    Refuses (nothing on the server changes) when the model is not ready, unless `options.force`.
    The same model pushes nothing twice; `prune` deletes predictions of other model versions;
    `dry_run` changes nothing. Pre-labels are hidden from annotators unless `show`."""
    from corpuskit.settings import load_settings
    from corpuskit.studio.client import StudioClient, connection
    from corpuskit.taxonomy import load_taxonomy

    if options.order is not None and options.order not in loop.ORDERS:
        raise UsageError(f"--order {options.order!r}: expected one of {', '.join(loop.ORDERS)}")
    if options.snapshot is not None and not options.snapshot.is_dir():
        raise UsageError(f"{options.snapshot}: no such snapshot folder")
    # The model library and its extra first: a missing scikit-learn fails before any server work.
    import corpuskit.suggest  # noqa: F401

    settings = settings or load_settings()
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    own = client is None
    client = client or StudioClient(connection(settings))
    try:
        return _suggest(options, settings, taxonomy, client)
    finally:
        if own:
            client.close()


def _suggest(
    options: SuggestOptions, settings: Settings, taxonomy: Taxonomy, client: StudioClient
) -> SuggestResult:
    from corpuskit.studio.gateway import Gateway
    from corpuskit.studio.project import project_title
    from corpuskit.suggest import fit, write_report

    studio = Gateway(client)
    studio.users.whoami()
    project = options.project
    if project is None:
        project = int(studio.projects.require(project_title(settings, taxonomy))["id"])
    info = studio.projects.get(project, fields=loop.FIELDS)
    project_id = int(info["id"])
    before = loop.LoopState.of_project(info)

    with tempfile.TemporaryDirectory(prefix="suggest-", dir=_scratch(settings)) as scratch:
        if options.snapshot is not None:
            folder, shown = options.snapshot, str(options.snapshot)
        else:
            _say(options, "pulling a fresh snapshot of the project")
            folder, shown = _fresh_snapshot(settings, taxonomy, project_id, Path(scratch)), "a fresh pull"
        suggester = fit(
            folder,
            settings=settings,
            taxonomy=taxonomy,
            folds=options.folds,
            seed=options.seed,
            progress=(lambda line: _say(options, line)) if options.progress else None,
        )
    order = options.order or before.order
    after = loop.LoopState(order, SHOWN if options.show else HIDDEN, suggester.model_version)
    result = SuggestResult(
        project_id=project_id,
        project_title=str(info.get("title") or ""),
        server=studio.url,
        snapshot=shown,
        suggester=suggester,
        forced=options.force,
        dry_run=options.dry_run,
        before=before,
        after=after,
    )
    if not options.dry_run:
        folder_of_report = options.report or settings.root / REPORT_DIR / suggester.model_version
        result.report = write_report(suggester, folder_of_report)
    if result.refused:
        result.after = before
        return result

    pending = pending_tasks(studio, project_id)
    plan = plan_predictions(studio.predictions.list(project_id), pending, after, prune=options.prune)
    result.pending, result.have_version = len(pending), len(pending) - len(plan.new)
    result.to_push, result.to_label, result.to_unlabel = len(plan.new), len(plan.label), len(plan.unlabel)
    result.to_prune = len(plan.prune)
    if options.dry_run:
        return result

    placed = place_predictions(
        studio, project_id, taxonomy, plan, suggester.predict, progress=options.progress
    )
    result.pushed, result.labelled, result.unlabelled, result.pruned, result.skipped = placed
    # The project follows the new version only once its predictions are in: uncertainty sampling
    # falls back to random order while no task has a prediction of the project's model_version.
    event = loop.change(studio, settings.root, info, after, by="suggest")
    result.recorded = event.to_json() if event is not None else None
    return result


@dataclass
class PredictionPlan:
    """What `suggest` does to the project's predictions.

    Hidden pre-labels are predictions without labels: the score alone orders the queue. Label
    Studio's labelling page pre-fills from a prediction whenever a task is opened from the Data
    Manager, whatever `show_collab_predictions` says (read in its frontend, seen in a browser), so
    hiding needs the labels to be absent, not only the switch off. `--show` adds them."""

    version: str
    show: bool
    new: list[Pending] = field(default_factory=list)  # tasks without a prediction of this version
    label: list[tuple[int, Pending]] = field(default_factory=list)  # (prediction id, task) to label
    unlabel: list[int] = field(default_factory=list)  # predictions of this version to strip
    prune: list[int] = field(default_factory=list)  # predictions of other versions to delete


def plan_predictions(
    existing: Sequence[tuple[int, int, str, bool]],
    pending: Sequence[Pending],
    state: loop.LoopState,
    *,
    prune: bool,
) -> PredictionPlan:
    """The plan from the project's predictions `(id, task, version, labelled)` and the pending tasks."""
    show = state.prelabels == SHOWN
    plan = PredictionPlan(state.model_version, show)
    ours = {task: (pid, labelled) for pid, task, version, labelled in existing if version == plan.version}
    for task in pending:
        if task.task_id not in ours:
            plan.new.append(task)
        elif show and not ours[task.task_id][1]:
            plan.label.append((ours[task.task_id][0], task))
    if not show:
        plan.unlabel = sorted(pid for pid, labelled in ours.values() if labelled)
    if prune:
        plan.prune = sorted(pid for pid, _, version, _ in existing if version != plan.version)
    return plan


def place_predictions(
    studio: Gateway,
    project_id: int,
    taxonomy: Taxonomy,
    plan: PredictionPlan,
    predict: Callable[[Iterable[tuple[str, str]]], Iterator[dict[str, Any]]],
    *,
    progress: bool = False,
) -> tuple[int, int, int, int, list[str]]:
    """Carry the plan out: import the new predictions in batches (labelled only when shown), add or
    strip labels, delete pruned ones. Returns (imported, labelled, unlabelled, pruned, documents
    the model gave no row for). A re-run after a failure does only what is still missing."""
    from tqdm import tqdm

    from corpuskit.studio.push.predictions import prediction_payload

    wanted: dict[str, tuple[int | None, Pending]] = {task.document_id: (None, task) for task in plan.new}
    wanted.update((task.document_id, (pid, task)) for pid, task in plan.label)
    seen: set[str] = set()
    imported = labelled = 0
    batch: list[dict[str, Any]] = []
    bar = tqdm(total=len(wanted), desc="predictions", unit="task", file=sys.stderr, disable=not progress)

    def flush() -> None:
        nonlocal imported
        if batch:
            studio.predictions.import_(project_id, batch)
            imported += len(batch)
            bar.update(len(batch))
            batch.clear()

    try:
        for row in predict((task.document_id, task.model_text) for _, task in wanted.values()):
            doc_id = str(row.get("document_id"))
            if doc_id not in wanted or doc_id in seen:
                continue
            seen.add(doc_id)
            prediction_id, task = wanted[doc_id]
            payload = prediction_payload(taxonomy, row, task.text)
            if not plan.show:
                payload["result"] = []  # the score orders the queue; no label to anchor on
            if prediction_id is None:
                batch.append({"task": task.task_id, **payload})
                if len(batch) >= BATCH:
                    flush()
            else:
                studio.predictions.update(prediction_id, {"result": payload["result"]})
                labelled += 1
                bar.update(1)
        flush()
    finally:
        bar.close()
    for prediction_id in plan.unlabel:
        studio.predictions.update(prediction_id, {"result": []})
    for prediction_id in plan.prune:
        studio.predictions.delete(prediction_id)
    return imported, labelled, len(plan.unlabel), len(plan.prune), sorted(set(wanted) - seen)


def _scratch(settings: Settings) -> Path:
    folder = settings.root / ".corpuskit"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _say(options: SuggestOptions, line: str) -> None:
    if options.progress:
        print(f"suggest: {line}", file=sys.stderr, flush=True)
