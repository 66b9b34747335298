"""The local record of a push (`corpuskit.studio.push.state`): whether the last one still describes
the project, and what this one left in it.

Only a push that completed writes the record; one that cannot know what it left drops it, and
the next push reads the whole project. The server stays the truth."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from corpuskit.errors import StudioError, UsageError
from corpuskit.studio.push import state as push_state
from corpuskit.studio.push.incremental import state_after
from corpuskit.studio.push.plan import Plan, ServerTask, TaskView, clean
from corpuskit.studio.push.state import PushState, data_hash
from corpuskit.studio.push.tasks import latest_update, read_tasks

if TYPE_CHECKING:
    from concurrent.futures import Future
    from pathlib import Path

    from corpuskit.settings import Settings
    from corpuskit.studio.gateway import Gateway


# Settings no push plan depends on, left out of the inputs' digest: the server and how to reach it
# (the record is kept per server and project already; `LABEL_STUDIO_URL` set in one shell and not
# in another made the same corpus on the same server count as changed and validated again), and
# what only pull, agreement and release read. A setting not named here counts.
_NOT_PLANNED = frozenset(
    {
        "label_studio_url",
        "label_studio_api_key",
        "studio_dir",
        "annotations",
        "releases",
        "min_alpha",
        "split_ratios",
        "split_by",
        "held_out_targets",
        "license",
        "pretty_name",
        "authors",
        "homepage",
        "source_copyright",
    }
)


def inputs_digest(settings: Settings) -> str | None:
    """The digest of a whole-corpus push's inputs (None if the raw folder cannot be listed)."""
    from corpuskit.documents.reader import iter_files

    try:
        files = list(iter_files([settings.path(settings.raw)]))
    except (UsageError, OSError):
        return None
    schema_dir = settings.path(settings.schema).parent
    # The dedupe record decides which documents are pushed, as much as the raw files do.
    dedupe_record = settings.path(settings.dedupe_record)
    config = sorted(
        {
            settings.path(settings.taxonomy),
            dedupe_record,
            *(p for p in schema_dir.rglob("*") if p.is_file()),
        }
    )
    shown = {
        f.name: getattr(settings, f.name) for f in dataclasses.fields(settings) if f.name not in _NOT_PLANNED
    }
    settings_repr = repr(sorted(shown.items(), key=lambda kv: kv[0]))
    fingerprints = settings.root / push_state.FINGERPRINTS_FILE
    return push_state.inputs_digest(files, config, settings_repr, fingerprints)


def likely_record(settings: Settings, server: str, project: int | None) -> tuple[Path, int] | None:
    """Where the record a push will most likely use lies, and its project, from the file names
    alone (so that the project's latest change can be asked for before anything is read): the one
    for `project`, or the only record for this server. `usable_state` checks it against the
    project found."""
    if project is not None:
        path = push_state.state_path(settings.root, server, project)
        return (path, project) if path.is_file() else None
    prefix = push_state.state_path(settings.root, server, 0).name[: -len("0.json")]
    try:
        paths = list((settings.root / push_state.STATE_DIR).glob(f"{prefix}*.json"))
    except OSError:
        return None
    if len(paths) != 1:
        return None
    try:
        return paths[0], int(paths[0].name[len(prefix) : -len(".json")])
    except ValueError:
        return None


def likely_state(settings: Settings, server: str, likely: tuple[Path, int] | None) -> PushState | None:
    """The record `likely_record` found, if it can be read."""
    if likely is None:
        return None
    return push_state.load_state(likely[0], server, likely[1])


def unchanged_since(state: PushState, info: dict[str, Any], total: int | None, latest: str | None) -> bool:
    """Whether the project's tasks are exactly the ones the record left: as many as it counts and
    none updated after its watermark (`total` and `latest` from `latest_update`). A task edited
    or annotated moves the latest `updated_at`; a task deleted lowers the count; one deleted and
    another added moves the latest `updated_at` too."""
    if state.watermark is None or latest != state.watermark:
        return False
    return total == info.get("task_number") == state.task_count == len(state.task_ids())


def usable_state(
    studio: Gateway,
    settings: Settings,
    info: dict[str, Any] | None,
    early: tuple[PushState, Future[tuple[int | None, str | None]]] | None = None,
) -> tuple[PushState | None, list[ServerTask]]:
    """The record of the last push to this project and the tasks changed since, if the record
    still describes the project (same project, and a task count that adds up). `early` is a
    record from `likely_state` and the pending `latest_update` of its project: when it is this
    project's and nothing changed since the record, no task is read."""
    if info is None:
        return None, []
    project_id = int(info["id"])
    if early is not None and early[0].project_id == project_id:
        state: PushState | None = early[0]
    else:
        early = None
        path = push_state.state_path(settings.root, studio.url, project_id)
        state = push_state.load_state(path, studio.url, project_id)
    if state is None or state.project_created_at != info.get("created_at"):
        return None, []
    if early is not None and unchanged_since(state, info, *early[1].result()):
        return state, []
    changed = read_tasks(studio, project_id, since=state.watermark)
    # Deleted tasks leave nothing to query: the count shows them (tasks added since are in `changed`).
    if info.get("task_number") != len(state.task_ids() | {task.id for task in changed}):
        return None, []
    return state, changed


@dataclass(frozen=True)
class Done:
    """What a push did, as its record needs it: the plan carried out, the tasks as the plan saw
    them (None: the last plan replayed, nothing written), each new document's task id (None if
    the server did not say), each document's task data hash, the tasks deleted, the tasks changed
    since the last record and that record's watermark."""

    plan: Plan
    view: dict[int, TaskView] | None
    new_ids: dict[str, int] | None
    hashes: dict[str, str]
    deleted: Sequence[int]
    changed: Sequence[ServerTask]
    previous_watermark: str | None


def remember(studio: Gateway, settings: Settings, record: PushState, done: Done) -> None:
    """Write the record of what this push left in the project; drop it if that cannot be known.

    Only a push that got this far writes it: an interrupted one leaves the previous record, whose
    watermark makes the next push read every task changed since, its own imports included."""
    path = push_state.state_path(settings.root, studio.url, record.project_id)
    with ThreadPoolExecutor(max_workers=1) as pool:
        # A project whose creation time is not known yet: asked for while the rest is worked out.
        created = (
            pool.submit(studio.projects.get, record.project_id, fields="id,created_at")
            if record.project_created_at is None
            else None
        )
        try:
            _remember(studio, path, record, created, done)
        except (StudioError, OSError, KeyError):
            # The push itself is complete; without a record the next one reads the whole project.
            push_state.forget_state(path)


def _remember(
    studio: Gateway, path: Path, record: PushState, created: Future[dict[str, Any]] | None, done: Done
) -> None:
    def dated(state: PushState) -> PushState:
        if created is None:
            return state
        return dataclasses.replace(state, project_created_at=created.result().get("created_at"))

    plan, hashes = done.plan, done.hashes
    if done.view is None:
        # The plan was the last one's and nothing was written; the watermark moves past the
        # tasks changed since (annotators at work) so that the next push reads fewer.
        latest = max(
            (mark for task in done.changed if (mark := push_state.watermark(task.updated_at))),
            default=record.watermark,
        )
        if latest != done.previous_watermark:
            push_state.save_state(path, dated(dataclasses.replace(record, watermark=latest)))
        return
    if done.new_ids is None:
        push_state.forget_state(path)
        return
    view = dict(done.view)
    for payload in plan.new:
        doc_id = payload["data"]["doc_id"]
        view[done.new_ids[doc_id]] = (doc_id, hashes[doc_id], True)
    for task_id, data in plan.changed:
        view[task_id] = (view[task_id][0], data_hash(data), view[task_id][2])
    for task_id, meta in plan.marks.items():
        view[task_id] = (view[task_id][0], view[task_id][1], clean(meta))
    for task_id in done.deleted:
        view.pop(task_id, None)
    state = state_after(record, plan, view, hashes)
    total, latest = latest_update(studio, record.project_id)
    if total != len(view):
        push_state.forget_state(path)  # someone else changed the project meanwhile
        return
    push_state.save_state(path, dated(dataclasses.replace(state, watermark=latest, task_count=total)))
