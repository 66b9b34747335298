"""What the last pull saw of its project, kept locally so that a pull of an unchanged project need
not export it.

Label Studio builds the whole export before it sends a byte (most of a pull's time). A few small
requests tell whether anything a snapshot holds can have changed since the last pull:

- the project's task count and its latest task `updated_at`: Label Studio moves a task's
  `updated_at` when its data or meta change and when an annotation or a prediction on it is
  created, updated or deleted (tests/integration/test_pull_studio.py checks them against the real
  server);
- the drafts: a draft moves nothing of its task, so the tasks holding drafts are found with the
  data manager's filter and their drafts' ids and `updated_at` read (at most `DRAFT_LOOKUPS`
  tasks; beyond that a pull exports);
- the project's annotation, prediction, skipped and ground-truth counts (what a deletion leaves
  behind when it does not move a task);
- the organisation's users (a snapshot names annotators by their email).

After a pull, `.corpuskit/pull-state/<host>-<port>-<project id>.json` keeps that summary, taken
*before* the export began (a change during the export makes the next summary differ), with the
snapshot folder and the hashes of the tables written, and a digest of what the conversion depends
on here (taxonomy file, overlap design, corpuskit's version). The next pull asks for the summary
again; when it, the inputs, and the snapshot on disk (its tables verified against their hashes)
all match, it says "unchanged since <exported_at>" without exporting. Anything else, or a record
that is missing or unreadable, means a full pull. Tokens never go into the record.
"""

from __future__ import annotations

import contextlib
import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from corpuskit.files import atomic_write

if TYPE_CHECKING:
    from corpuskit.studio.gateway import Gateway
    from corpuskit.taxonomy.model import Taxonomy

FORMAT = 1
STATE_DIR = ".corpuskit/pull-state"
# The project counts that change when annotations or predictions come and go.
COUNT_FIELDS = (
    "id,task_number,total_annotations_number,skipped_annotations_number,total_predictions_number,"
    "ground_truth_number,num_tasks_with_annotations"
)
# Beyond this many tasks with drafts, reading each one's drafts costs more than it may save.
DRAFT_LOOKUPS = 50


def state_path(root: Path, server: str, project_id: int) -> Path:
    parts = urlsplit(server)
    host = (parts.hostname or "server").replace(":", "_")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    return root / STATE_DIR / f"{host}-{port}-{project_id}.json"


def _digest(value: Any) -> str:
    return hashlib.sha256(repr(value).encode("utf-8")).hexdigest()


def project_summary(studio: Gateway, project_id: int) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """The project's counts, its latest task change, a digest of its users and of its drafts (a
    few small requests, in flight together), or None when too many tasks hold drafts to ask
    cheaply; and the user list read for it (a pull takes the annotators' emails from it)."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        counts = pool.submit(studio.projects.get, project_id, fields=COUNT_FIELDS)
        latest = pool.submit(studio.tasks.latest, project_id)
        users = pool.submit(studio.users.list)
        drafted = studio.tasks.with_drafts(project_id)
        if len(drafted) > DRAFT_LOOKUPS:
            return None, users.result()
        # A draft moves no task's `updated_at`: each task's drafts are read (drafts are few).
        drafts = sorted(
            (task_id, str(d.get("id")), str(d.get("updated_at")))
            for task_id, found in zip(drafted, pool.map(studio.tasks.drafts, drafted), strict=True)
            for d in found
        )
        total, updated_at = latest.result()
        user_list = users.result()
        people = sorted((str(u.get("id")), str(u.get("email"))) for u in user_list)
        summary = {key: value for key, value in counts.result().items() if key != "id"}
    return summary | {
        "tasks": total,
        "latest_update": updated_at,
        "users": _digest(people),
        "drafts": _digest(drafts),
    }, user_list


def inputs_digest(taxonomy: Taxonomy, design: dict[str, Any]) -> str:
    """What the conversion depends on here: the taxonomy, the design, corpuskit's version."""
    from corpuskit import __version__

    return _digest((repr(taxonomy), sorted(design.items()), __version__))


@dataclass(frozen=True)
class PullState:
    server: str
    project_id: int
    folder: str
    files: dict[str, str]
    inputs: str
    summary: dict[str, Any]
    # What the last pull reported that its tables alone would have to be read again for.
    annotators: int
    cancelled: int
    ground_truth: int

    def to_json(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "server": self.server,
            "project_id": self.project_id,
            "folder": self.folder,
            "files": self.files,
            "inputs": self.inputs,
            "summary": self.summary,
            "annotators": self.annotators,
            "cancelled": self.cancelled,
            "ground_truth": self.ground_truth,
        }


def load_state(path: Path) -> PullState | None:
    """The record, or None if it is missing or unreadable."""
    import orjson

    try:
        raw = orjson.loads(path.read_bytes())
        if raw.get("format") != FORMAT:
            return None
        return PullState(
            server=str(raw["server"]),
            project_id=int(raw["project_id"]),
            folder=str(raw["folder"]),
            files={str(k): str(v) for k, v in raw["files"].items()},
            inputs=str(raw["inputs"]),
            summary=dict(raw["summary"]),
            annotators=int(raw["annotators"]),
            cancelled=int(raw["cancelled"]),
            ground_truth=int(raw["ground_truth"]),
        )
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def save_state(path: Path, state: PullState) -> None:
    import orjson

    with contextlib.suppress(OSError):  # only spares an export: the next pull exports again
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, orjson.dumps(state.to_json(), option=orjson.OPT_SORT_KEYS))


def forget_state(path: Path) -> None:
    with contextlib.suppress(OSError):
        path.unlink(missing_ok=True)
