"""`corpuskit push`: put the valid documents into a Label Studio project, idempotently.

The server is the truth: a push finds the project (`config`), plans from the corpus and the
project's tasks (`plan`, or `incremental` from the local `record` when it still describes the
project), carries the plan out (`apply`), and writes down what it left (`record`).
"""

from __future__ import annotations

import dataclasses
import os
import sys
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.errors import UsageError
from corpuskit.quality.design import PILOT, OverlapDesign
from corpuskit.studio import loop
from corpuskit.studio.client import StudioClient, connection
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.project import project_title
from corpuskit.studio.push import config, incremental, record
from corpuskit.studio.push.apply import apply_overlaps, apply_plan, push_lock
from corpuskit.studio.push.plan import (
    REMOVED,
    STALE,
    Plan,
    ServerTask,
    TaskView,
    make_plan,
    mark_pilot,
    task_data,
    view_of,
)
from corpuskit.studio.push.predictions import attach_predictions, read_predictions
from corpuskit.studio.push.result import PLAN_LOCAL, PLAN_SERVER, PushResult
from corpuskit.studio.push.state import PushState, data_hash
from corpuskit.studio.push.streaming import StreamedImport, rollback_failed, take_back
from corpuskit.studio.push.tasks import fetch, latest_update, read_tasks
from corpuskit.studio.team import pilot_sample

if TYPE_CHECKING:
    from corpuskit.documents.model import Document
    from corpuskit.settings import Settings
    from corpuskit.taxonomy.model import Taxonomy


@dataclass(frozen=True)
class PushOptions:
    """What the caller asked of a push (see `push`)."""

    paths: Sequence[str | os.PathLike[str]] | None = None
    project: int | None = None
    dry_run: bool = False
    delete_removed: bool = False
    prediction_rows: list[dict[str, Any]] = field(default_factory=list)
    batch_size: int = 1000
    progress: bool = False
    on_batch: Callable[[int], None] | None = None
    pilot: int | None = None

    @property
    def whole_corpus(self) -> bool:
        """A push of every document (not of named files): a task without one is removed."""
        return not self.paths


def push(
    paths: Sequence[str | os.PathLike[str]] | None = None,
    *,
    settings: Settings | None = None,
    project: int | None = None,
    dry_run: bool = False,
    delete_removed: bool = False,
    predictions: str | os.PathLike[str] | None = None,
    batch_size: int = 1000,
    progress: bool | None = None,
    client: StudioClient | None = None,
    on_batch: Callable[[int], None] | None = None,
    pilot: int | None = None,
    strip: bool | None = None,
) -> PushResult:
    """Create or update the Label Studio project from the taxonomy and push the valid documents.

    `paths` limits the push to some files (then nothing counts as removed). With `dry_run` the
    plan is computed and nothing on the server changes. `pilot=N` pushes only a seeded sample of
    N documents, stratified by outlet and language, that every member of the team labels
    (docs/team.md); their tasks are marked `meta.corpuskit_pilot`. `strip` (None: the
    `strip_boilerplate` setting) drops boilerplate lines of raw text, as validation does."""
    from corpuskit.settings import load_settings
    from corpuskit.taxonomy import load_taxonomy

    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    if pilot is not None and pilot < 1:
        raise UsageError("--pilot needs at least 1 document")
    settings = settings or load_settings()
    if strip is not None:
        # Through the settings: the push record's digest of its inputs then tells the two apart.
        settings = dataclasses.replace(settings, strip_boilerplate=strip)
    taxonomy = load_taxonomy(settings.path(settings.taxonomy))
    options = PushOptions(
        paths=paths,
        project=project,
        dry_run=dry_run,
        delete_removed=delete_removed,
        prediction_rows=read_predictions(Path(predictions)) if predictions is not None else [],
        batch_size=batch_size,
        progress=sys.stderr.isatty() if progress is None else progress,
        on_batch=on_batch,
        pilot=pilot,
    )
    title = project_title(settings, taxonomy)
    own_client = client is None
    client = client or StudioClient(connection(settings))
    try:
        with push_lock(settings.root):
            return _push_locked(Gateway(client), settings, taxonomy, title, options)
    finally:
        if own_client:
            client.close()


@dataclass
class _Corpus:
    """The documents a push plans with (none when the last plan is replayed) and their counts."""

    documents: list[Document]
    count: int
    invalid: int
    time_dependent: bool
    pilot: list[str] = field(default_factory=list)
    # Documents the dedupe record leaves out: valid, not pushed, their tasks left alone.
    left_out: list[str] = field(default_factory=list)


def _find_project(studio: Gateway, title: str, project: int | None) -> dict[str, Any] | None:
    if project is not None:
        return studio.projects.get(project, fields=config.PROJECT_FIELDS)
    # The listing filtered by title carries the same fields: one request instead of two.
    return studio.projects.resolve(title, fields=config.PROJECT_FIELDS)


def _read_corpus(
    settings: Settings, options: PushOptions, state: PushState | None, replay: Plan | None, seed: str
) -> _Corpus:
    from corpuskit.validation.api import iter_valid_documents, validate

    if replay is not None and state is not None:
        corpus = _Corpus([], state.documents, state.invalid, state.time_dependent, left_out=state.left_out)
    else:
        result = validate(options.paths, settings=settings, progress=options.progress, keep_documents=True)
        documents = list(iter_valid_documents(options.paths, settings=settings, result=result))
        time_dependent = any(d.code == "future-date" for d in result.diagnostics)
        left_out = sorted({str(item["id"]) for item in result.left_out})
        corpus = _Corpus(documents, len(documents), result.invalid, time_dependent, left_out=left_out)
    if options.pilot is not None:
        corpus.pilot = pilot_sample(corpus.documents, options.pilot, seed)
        chosen = set(corpus.pilot)
        corpus.documents = [doc for doc in corpus.documents if doc["id"] in chosen]
    return corpus


@dataclass
class _Place:
    """The project a push goes to, once its settings are as the corpus wants them."""

    project_id: int | None  # None: a dry run of a project not created yet
    title: str
    created: bool = False
    created_at: str | None = None  # the project's creation time, when this push created it
    config_updated: bool = False
    repaired: list[str] = field(default_factory=list)  # team-design settings set back


def _settle_project(
    studio: Gateway,
    root: Path,
    info: dict[str, Any] | None,
    wanted_settings: dict[str, Any],
    title: str,
    options: PushOptions,
) -> _Place:
    """Create the project, or update the settings that differ (neither in a dry run)."""
    if info is None:
        if options.dry_run:
            return _Place(None, title, created=True)
        made = config.create(studio, root, wanted_settings)
        created_at = made.get("created_at")
        return _Place(
            int(made["id"]), title, created=True, created_at=str(created_at) if created_at else None
        )
    project_id = int(info["id"])
    title = str(info.get("title") or title) if options.project is not None else title
    changes = config.differs(info, wanted_settings)
    if options.project is not None:
        changes.pop("title", None)
    if changes and not options.dry_run:
        config.update(studio, root, info, changes)
    return _Place(
        project_id,
        title,
        config_updated=any(key in changes for key in config.CONFIG_FIELDS),
        repaired=sorted(key for key in changes if key not in config.CONFIG_FIELDS),
    )


def _stream_corpus(
    studio: Gateway,
    settings: Settings,
    options: PushOptions,
    taxonomy_version: str,
    settle: Callable[[], _Place],
) -> tuple[_Corpus, dict[str, dict[str, Any]], dict[str, str], tuple[int, dict[str, int] | None], _Place]:
    """Validate the corpus and import each valid document meanwhile (`streaming`), the project
    settled by `settle` on the import's thread while validation starts; the corpus, each document's
    task data and its hash, what the import made and the project. On a failure on this side the
    imported tasks are taken back; a failure of the server is raised as it is (a rerun finishes the
    push)."""
    from corpuskit.validation.api import validate

    settled: list[_Place] = []

    def project() -> int:
        place = settle()
        settled.append(place)
        assert place.project_id is not None  # not a dry run: the project exists now
        return place.project_id

    importer = StreamedImport(
        studio,
        project,
        batch_size=options.batch_size,
        progress=options.progress,
        on_batch=options.on_batch,
    )
    wanted: dict[str, dict[str, Any]] = {}
    hashes: dict[str, str] = {}
    documents: list[Document] = []

    def hand_over(document: dict[str, Any]) -> None:
        data = task_data(document, taxonomy_version)
        wanted[document["id"]] = data
        # Hashed here, while the server imports, rather than after the last batch.
        hashes[document["id"]] = data_hash(data)
        documents.append(document)
        importer.add({"data": data, "meta": {STALE: False, REMOVED: False}})

    try:
        result = validate(options.paths, settings=settings, progress=options.progress, on_valid=hand_over)
        imported = importer.finish()
    except BaseException as exc:
        importer.stop()
        if importer.failure is None and settled:
            place = settled[0]
            assert place.project_id is not None
            try:
                take_back(studio, place.project_id, importer.sent, project_created=place.created)
            except Exception as error:
                raise rollback_failed(exc, error) from exc
        raise
    time_dependent = any(d.code == "future-date" for d in result.diagnostics)
    left_out = sorted({str(item["id"]) for item in result.left_out})
    corpus = _Corpus(documents, len(documents), result.invalid, time_dependent, left_out=left_out)
    return corpus, wanted, hashes, imported, settled[0]


def _push_locked(
    studio: Gateway, settings: Settings, taxonomy: Taxonomy, title: str, options: PushOptions
) -> PushResult:
    plain = not options.prediction_rows and options.pilot is None
    # The project lookup is the first request (an unreachable server or a refused token fails
    # there, before anything changes); the count and latest change of the tasks are asked for at
    # the same time when the record of the last push is plain to see (its file name gives the
    # project), and the local work, reading that record first, runs meanwhile.
    with ThreadPoolExecutor(max_workers=2) as pool:
        found = pool.submit(_find_project, studio, title, options.project)
        likely = record.likely_record(settings, studio.url, options.project) if plain else None
        probe = pool.submit(latest_update, studio, likely[1]) if likely is not None else None
        guess = record.likely_state(settings, studio.url, likely)
        early = (guess, probe) if guess is not None and probe is not None else None
        design = OverlapDesign.from_settings(settings)
        # Hashed before validation reads the files: a file edited during the push then differs
        # from the record, never the other way round.
        inputs = record.inputs_digest(settings) if options.paths is None and plain else None
        info = found.result()
        # The queue order, pre-label visibility and model version `corpuskit suggest` last set.
        recorded = (
            loop.suggested_state(loop.history(settings.root, studio.url, info)) if info is not None else None
        )
        wanted_settings = config.wanted_settings(settings, taxonomy, title, design, recorded)
        state, changed = record.usable_state(studio, settings, info, early) if plain else (None, [])
    replay = None
    if state is not None and inputs is not None and state.inputs == inputs and not state.time_dependent:
        replay = incremental.replay(state, changed)
        if replay is not None and options.delete_removed and replay.removed:
            replay = None  # deleting needs each removed task's annotations: plan from the tasks
    # Into a project without tasks every valid document is new: it is imported while validation
    # still reads the rest of the corpus (`streaming`), the project settled first on the import's
    # thread while validation reads the first documents.
    streamed = (
        plain and replay is None and not options.dry_run and (info is None or info.get("task_number") == 0)
    )
    imported: tuple[int, dict[str, int] | None] | None = None
    if streamed:
        corpus, wanted, hashes, imported, place = _stream_corpus(
            studio,
            settings,
            options,
            taxonomy.version,
            lambda: _settle_project(studio, settings.root, info, wanted_settings, title, options),
        )
    else:
        corpus = _read_corpus(settings, options, state, replay, design.seed)
        place = _settle_project(studio, settings.root, info, wanted_settings, title, options)
        wanted = {doc["id"]: task_data(doc, taxonomy.version) for doc in corpus.documents}
        hashes = {doc_id: data_hash(data) for doc_id, data in wanted.items()}
    project_id, title = place.project_id, place.title
    created_project, config_updated, design_repaired = place.created, place.config_updated, place.repaired
    plan_source = PLAN_SERVER
    view: dict[int, TaskView] | None = None
    tasks: list[ServerTask] = []
    local = None
    if imported is not None:
        # The project had no task: every valid document was new and is imported already.
        plan, view = make_plan(corpus.documents, [], taxonomy.version, wanted=wanted), {}
    elif replay is not None:
        plan, plan_source = replay, PLAN_LOCAL
    elif state is not None:
        local = incremental.plan_locally(
            lambda ids: fetch(studio, ids),
            corpus.documents,
            wanted,
            hashes,
            state,
            changed,
            taxonomy.version,
            options.whole_corpus,
            frozenset(corpus.left_out),
        )
    if local is not None:
        (plan, view), plan_source = local, PLAN_LOCAL
    elif replay is None and imported is None:
        tasks = read_tasks(studio, project_id) if project_id is not None else []
        consider_removed = options.whole_corpus and options.pilot is None
        plan = make_plan(
            corpus.documents,
            tasks,
            taxonomy.version,
            consider_removed=consider_removed,
            wanted=wanted,
            left_out=frozenset(corpus.left_out),
        )
        view = {task.id: view_of(task) for task in tasks}
    if corpus.pilot:
        mark_pilot(plan, tasks)
    skipped: list[str] = []
    if options.prediction_rows:
        versions = (
            studio.predictions.model_versions(project_id)
            if project_id is not None and any(t.has_predictions for t in tasks)
            else {}
        )
        attach_predictions(plan, options.prediction_rows, tasks, taxonomy, skipped, versions)
    outcome = PushResult(
        project_id=project_id,
        project_title=title,
        server=studio.url,
        project_created=created_project,
        config_updated=config_updated,
        dry_run=options.dry_run,
        documents=corpus.count,
        invalid=corpus.invalid,
        plan=plan,
        predictions_skipped=skipped,
        removed_considered=options.whole_corpus,
        plan_source=plan_source,
        corpus_unchanged=replay is not None,
        design=design,
        design_repaired=design_repaired,
        # A main round names the pilot documents already in the project (when it read the tasks).
        pilot=corpus.pilot or sorted({str(t.doc_id) for t in tasks if t.meta.get(PILOT)}),
        left_out=corpus.left_out,
    )
    if options.dry_run or project_id is None:
        return outcome
    done = apply_plan(
        studio,
        project_id,
        plan,
        delete_removed=options.delete_removed,
        batch_size=options.batch_size,
        progress=options.progress,
        on_batch=options.on_batch,
        imported=imported,
    )
    outcome.created, outcome.updated, outcome.marked = done.created, done.updated, done.marked
    outcome.deleted, outcome.deduplicated, outcome.predictions = (
        done.deleted,
        done.deduplicated,
        done.predictions,
    )
    if replay is None or design_repaired:
        # A project without tasks before this push holds only what it imported (the push lock
        # keeps another push out), each task with the k the settings above gave the project.
        fresh = created_project or (info is not None and info.get("task_number") == 0)
        outcome.overlap_set, pilot_docs = apply_overlaps(
            studio,
            project_id,
            design,
            state,
            view,
            done.new_ids,
            options.progress,
            imported=plan.new if fresh and not done.doomed else None,
        )
        outcome.pilot = outcome.pilot or pilot_docs
    elif state is not None:
        outcome.pilot = outcome.pilot or list(state.pilot)  # a replay reads no task: the record knows
    before = state or PushState(
        server=studio.url,
        project_id=project_id,
        project_created_at=None,
        watermark=None,
        task_count=0,
        foreign=[],
        inputs=None,
        time_dependent=False,
        documents=0,
        invalid=0,
    )
    after = dataclasses.replace(
        before,
        project_created_at=info.get("created_at") if info is not None else place.created_at,
        inputs=inputs,
        time_dependent=corpus.time_dependent,
        documents=corpus.count,
        invalid=corpus.invalid,
        pilot=sorted(outcome.pilot),
        left_out=corpus.left_out,
    )
    record.remember(
        studio,
        settings,
        after,
        record.Done(
            plan=plan,
            view=view,
            new_ids=done.new_ids,
            hashes=hashes,
            deleted=done.doomed,
            changed=changed,
            previous_watermark=state.watermark if state is not None else None,
        ),
    )
    return outcome
