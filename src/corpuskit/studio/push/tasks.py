"""What a push reads of a project's tasks, through the gateway, as `ServerTask`s."""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING

from corpuskit.studio.gateway import Gateway
from corpuskit.studio.push.plan import ServerTask, server_task
from corpuskit.studio.push.state import watermark

if TYPE_CHECKING:
    from corpuskit.studio.client import StudioClient

PAGE_SIZE = 5000
_TASK_FIELDS = "id,data,meta,updated_at,total_annotations,cancelled_annotations,drafts,total_predictions"


def _since(mark: str) -> str:
    """A data manager query: tasks whose `updated_at` is at or after `mark`."""
    item = {
        "filter": "filter:tasks:updated_at",
        "operator": "greater_or_equal",
        "type": "Datetime",
        "value": mark,
    }
    return json.dumps({"filters": {"conjunction": "and", "items": [item]}, "ordering": ["tasks:id"]})


def _gateway(studio: Gateway | StudioClient) -> Gateway:
    return studio if isinstance(studio, Gateway) else Gateway(studio)


def read_tasks(
    studio: Gateway | StudioClient, project_id: int, *, since: str | None = None
) -> list[ServerTask]:
    """Every task of the project (or those changed at or after `since`, a watermark from
    `corpuskit.studio.push.state.watermark`) with its data, marks and whether anyone worked on it.

    The data manager's task list with an explicit `include` is the fastest full read measured
    (about 3x the export endpoint, which serialises every annotation and prediction)."""
    query = _since(since) if since is not None else None
    pages = _gateway(studio).tasks.pages(project_id, _TASK_FIELDS, page_size=PAGE_SIZE, query=query)
    return [server_task(item) for items in pages for item in items]


def fetch(studio: Gateway, task_ids: Sequence[int]) -> list[ServerTask] | None:
    """The tasks by id (a few requests in flight), or None if one of them is gone."""
    if not task_ids:
        return []
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(studio.tasks.get, task_ids))
    tasks = [server_task(item) for item in found if item is not None]
    return tasks if len(tasks) == len(found) else None


def latest_update(studio: Gateway, project_id: int) -> tuple[int | None, str | None]:
    """The project's task count and its latest task `updated_at` as a watermark."""
    total, latest = studio.tasks.latest(project_id)
    return total, watermark(latest)
