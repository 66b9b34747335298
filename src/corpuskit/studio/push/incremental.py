"""Planning from the local record (`corpuskit.studio.push.state`): pure, the reads injected.

To spare a re-push the read of every task (about 1 ms per task on Label Studio's side), a push
that completed leaves a record of what it left in the project; the next push reads only the tasks
changed on the server since (one filtered query), checks the task count, and asks for a task by id
only when its document changed. When the corpus's inputs are byte for byte those of the last push
and nothing on the server changed that the plan depends on, even validation is skipped: the plan is
the last one's outcome (`replay`). A missing, unreadable or disagreeing record means a full read.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

from corpuskit.documents.model import Document
from corpuskit.studio.push import state as push_state
from corpuskit.studio.push.plan import Plan, ServerTask, TaskView, clean, make_plan, view_of
from corpuskit.studio.push.state import PushState, data_hash

# Asking for tasks one by one beats reading them all only while they are few.
LOOKUPS_MIN = 50
LOOKUPS_SHARE = 10  # at most one task in this many


def record_view(state: PushState, changed: Sequence[ServerTask]) -> dict[int, TaskView]:
    """Every task of the project as the record knows it, overridden by the tasks changed since."""
    view: dict[int, TaskView] = {task_id: (None, "", True) for task_id in state.foreign}
    for doc_id, doc in state.docs.items():
        for position, task_id in enumerate(doc.tasks):
            # Only the first task's hash is recorded; the others are duplicates, always looked at.
            view[task_id] = (doc_id, doc.hash if position == 0 else "", doc.clean)
    for task in changed:
        view[task.id] = view_of(task)
    return view


def by_doc(view: dict[int, TaskView]) -> dict[str, list[int]]:
    by_doc: dict[str, list[int]] = {}
    for task_id in sorted(view):
        doc_id = view[task_id][0]
        if doc_id is not None:
            by_doc.setdefault(doc_id, []).append(task_id)
    return by_doc


def replay(state: PushState, changed: Sequence[ServerTask]) -> Plan | None:
    """The last plan's outcome again, when the corpus is the one last pushed and no task changed
    since in a way the plan depends on (None otherwise). Annotations on a task whose document was
    settled change nothing: its data is already what the corpus asks for."""
    owner = {task_id: doc_id for doc_id, doc in state.docs.items() for task_id in doc.tasks}
    for task in changed:
        doc_id = owner.get(task.id)
        if doc_id is None:
            if task.doc_id is None and task.id in state.foreign:
                continue
            return None
        doc = state.docs[doc_id]
        if task.doc_id != doc_id or task.id != doc.tasks[0] or data_hash(task.data) != doc.hash:
            return None
        if clean(task.meta) != doc.clean:
            return None
        # Whether a task with a pending outcome (stale, removed, data kept for its annotations)
        # is still annotated matters; the task the watermark was taken from is as last seen.
        if doc.outcome != push_state.SETTLED and push_state.watermark(task.updated_at) != state.watermark:
            return None
    plan = Plan()
    for doc_id, doc in sorted(state.docs.items()):
        if doc.outcome == push_state.UNKNOWN:
            return None
        if doc.outcome == push_state.LEFT_OUT:
            plan.left_out.extend((task_id, doc_id) for task_id in doc.tasks)
            continue
        if doc.outcome == push_state.REMOVED:
            # Whether it is annotated is not known here; True keeps anything from deleting it.
            plan.removed.extend((task_id, doc_id, True) for task_id in doc.tasks)
            continue
        if len(doc.tasks) > 1:
            return None  # whether the extra tasks hold work is only known from the server
        if doc.outcome == push_state.STALE:
            plan.stale.append((doc.tasks[0], doc_id))
        else:
            plan.unchanged.append(doc_id)
    return plan


def plan_locally(
    fetch: Callable[[Sequence[int]], list[ServerTask] | None],
    documents: Sequence[Document],
    wanted: dict[str, dict[str, Any]],
    hashes: dict[str, str],
    state: PushState,
    changed: Sequence[ServerTask],
    taxonomy_version: str,
    consider_removed: bool,
    left_out: frozenset[str] = frozenset(),
) -> tuple[Plan, dict[int, TaskView]] | None:
    """The plan from the record, the tasks changed since, and the tasks of changed documents read
    one by one by `fetch` (None if one is gone); None when that would take more requests than
    reading the project."""
    view = record_view(state, changed)
    fresh = {task.id: task for task in changed}
    tasks_of = by_doc(view)
    settled: list[str] = []
    looked: list[Document] = []
    needed: list[int] = []
    for doc in documents:
        doc_id = doc["id"]
        ids = tasks_of.get(doc_id, [])
        if len(ids) == 1 and ids[0] not in fresh:
            _, digest, is_clean = view[ids[0]]
            if is_clean and digest == hashes[doc_id]:
                settled.append(doc_id)
                continue
        looked.append(doc)
        needed.extend(task_id for task_id in ids if task_id not in fresh)
    if consider_removed:
        for doc_id, ids in tasks_of.items():
            if doc_id not in wanted and doc_id not in left_out:
                needed.extend(task_id for task_id in ids if task_id not in fresh)
    if len(needed) > max(LOOKUPS_MIN, len(view) // LOOKUPS_SHARE):
        return None
    fetched = fetch(needed)
    if fetched is None:
        return None
    for task in fetched:
        view[task.id] = view_of(task)
    plan = make_plan(
        looked,
        [*changed, *fetched],
        taxonomy_version,
        consider_removed=consider_removed,
        wanted=wanted,
        left_out=left_out,
    )
    plan.unchanged.extend(settled)
    # The left-out documents' tasks the plan did not see are known from the record.
    seen = {task_id for task_id, _ in plan.left_out}
    plan.left_out += [
        (task_id, doc_id)
        for doc_id in sorted(left_out)
        for task_id in tasks_of.get(doc_id, [])
        if task_id not in seen
    ]
    return plan, view


def state_after(
    previous: PushState,
    plan: Plan,
    view: dict[int, TaskView],
    hashes: dict[str, str],
) -> PushState:
    """The record of the project once `plan` has been applied to the tasks in `view`."""
    stale = {doc_id for _, doc_id in plan.stale}
    removed = {doc_id for _, doc_id, _ in plan.removed}
    left_out = {doc_id for _, doc_id in plan.left_out}
    state = dataclasses.replace(previous, docs={}, foreign=[])
    for task_id in sorted(view):
        if view[task_id][0] is None:
            state.foreign.append(task_id)
    for doc_id, ids in by_doc(view).items():
        _, digest, is_clean = view[ids[0]]
        if doc_id in left_out:
            outcome = push_state.LEFT_OUT
        elif doc_id in removed:
            outcome = push_state.REMOVED
        elif doc_id in stale:
            outcome = push_state.STALE
        elif doc_id in hashes:
            settled = len(ids) == 1 and is_clean and digest == hashes[doc_id]
            outcome = push_state.SETTLED if settled else push_state.UNCHANGED
        else:
            outcome = push_state.UNKNOWN
        state.docs[doc_id] = push_state.DocState(outcome, digest, is_clean, ids)
    state.task_count = len(view)
    return state
