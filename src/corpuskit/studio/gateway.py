"""What corpuskit asks of Label Studio, each written once: one class per REST resource.

`Gateway(client)` groups them: `projects` (find by title, read, create once, update), `tasks`
(the task-list pager, one task, import, update, delete), `predictions`, `exports` (the full JSON
export, streamed to a file) and `users` (who am I, the user list, the invite link). Everything
goes through the transport (`corpuskit.studio.client`): typed errors carrying the HTTP status and
one retry policy. Nothing outside this module names a Label Studio URL path.
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from corpuskit.errors import StudioError, UsageError
from corpuskit.studio.client import NotFound

if TYPE_CHECKING:
    from corpuskit.studio.client import StudioClient

T = TypeVar("T")
EXPORT_METHODS = ("export", "snapshot")


def _json(body: Any) -> dict[str, Any]:
    return body if isinstance(body, dict) else {}


class ProjectsAPI:
    """`/api/projects`: the corpus's project is found by its title, created once, updated in place."""

    def __init__(self, client: StudioClient) -> None:
        self.client = client

    def get(self, project_id: int, *, fields: str | None = None) -> dict[str, Any]:
        """A project's settings; a wrong id is one clear `NotFound`. `fields` (comma-separated)
        limits the answer to those fields: Label Studio then computes only the counts named."""
        params = {"include": fields} if fields else None
        try:
            body = self.client.request_json(
                "GET", f"/api/projects/{project_id}", params=params, what=f"project {project_id}"
            )
        except NotFound:
            raise NotFound(f"Label Studio at {self.client.url} has no project {project_id}", 404) from None
        return _json(body)

    def find(self, title: str, *, fields: str = "id,title") -> list[dict[str, Any]]:
        """Every project on the server with exactly this title (normally none or one), with the
        `fields` named (comma-separated; `id` and `title` are always needed)."""
        found: list[dict[str, Any]] = []
        page = 1
        while True:
            # Label Studio filters by a title substring and, asked for a few fields, skips counting
            # every project's tasks and annotations (most of the listing's cost).
            params = {"page": page, "page_size": 100, "title": title, "include": fields}
            body = self.client.request_json("GET", "/api/projects", params=params, what="list projects")
            items = body.get("results", []) if isinstance(body, dict) else body
            found.extend(p for p in items if p.get("title") == title)
            if not (isinstance(body, dict) and body.get("next")):
                return found
            page += 1

    def resolve(self, title: str, *, fields: str = "id,title") -> dict[str, Any] | None:
        """The one project with this title, or None; several are an error naming their ids."""
        found = self.find(title, fields=fields)
        if len(found) > 1:
            ids = ", ".join(str(p["id"]) for p in found)
            raise StudioError(
                f"several Label Studio projects are titled {title!r} (ids {ids}): pass --project"
            )
        return found[0] if found else None

    def require(self, title: str) -> dict[str, Any]:
        """The one project with this title (push names it with `project_title`)."""
        found = self.resolve(title)
        if found is None:
            raise StudioError(
                f"no Label Studio project titled {title!r}: run `corpuskit push` or pass --project"
            )
        return found

    def create(self, fields: dict[str, Any]) -> int:
        """Create a project (`fields` holds its title) once (see `make`); its id."""
        return int(self.make(fields)["id"])

    def make(self, fields: dict[str, Any]) -> dict[str, Any]:
        """Create a project (`fields` holds its title), once: an answer lost on the way may hide a
        project the server made, so before each new try it is looked up by its title. Returns
        the project as the server made it (at least its `id` and `created_at`)."""
        title = str(fields["title"])
        made: list[dict[str, Any]] = []

        def look() -> None:
            found = self.find(title, fields="id,title,created_at")
            if found:
                made.append(found[0])

        def attempt() -> dict[str, Any]:
            if made:
                return made[0]
            body = self.client.request_json(
                "POST", "/api/projects/", json=fields, what=f"create project {title!r}", retry=False
            )
            return _json(body)

        return self.client.retry(attempt, before_retry=look)

    def update(self, project_id: int, changes: dict[str, Any]) -> str | None:
        """Change some of the project's fields; returns the server's clock at the change (the
        response's Date header), which is the clock that stamps annotations."""
        response = self.client.request(
            "PATCH", f"/api/projects/{project_id}", json=changes, what=f"update project {project_id}"
        )
        date = response.headers.get("date")
        return str(date) if date else None

    def delete(self, project_id: int) -> None:
        """Delete a project with its tasks (push takes back a project it created, nothing else)."""
        self.client.request("DELETE", f"/api/projects/{project_id}/", what=f"delete project {project_id}")


class TasksAPI:
    """`/api/tasks` and the project import: reading, importing, updating and deleting tasks."""

    def __init__(self, client: StudioClient) -> None:
        self.client = client

    def pages(
        self,
        project_id: int,
        include: str,
        *,
        page_size: int = 5000,
        query: str | None = None,
        what: str = "read the tasks",
    ) -> Iterator[list[dict[str, Any]]]:
        """The project's tasks (only the fields in `include`) page by page, from the data manager's
        task list, the fastest full read measured. It stops at the total the server announces: past
        the last page the server answers 404."""
        page, seen = 1, 0
        while True:
            params: dict[str, Any] = {
                "project": project_id,
                "page": page,
                "page_size": page_size,
                "fields": "task_only",
                "include": include,
            }
            if query is not None:
                params["query"] = query
            body = self.client.request_json(
                "GET", "/api/tasks", params=params, what=f"{what} of project {project_id}"
            )
            items = body.get("tasks", []) if isinstance(body, dict) else []
            total = body.get("total") if isinstance(body, dict) else None
            count = len(items)
            del body
            yield items
            # A caller that folds each page and drops it holds one page at a time, not two.
            del items
            seen += count
            if count < page_size or (isinstance(total, int) and seen >= total):
                return
            page += 1

    def get(self, task_id: int) -> dict[str, Any] | None:
        """One task by id, or None if the server no longer has it."""
        try:
            body = self.client.request_json("GET", f"/api/tasks/{task_id}", what=f"read task {task_id}")
        except NotFound:
            return None
        return body if isinstance(body, dict) else None

    def latest(self, project_id: int) -> tuple[int | None, str | None]:
        """The project's task count and its latest task `updated_at`, from one one-task page."""
        body = self.client.request_json(
            "GET",
            "/api/tasks",
            params={
                "project": project_id,
                "page": 1,
                "page_size": 1,
                "fields": "task_only",
                "include": "id,updated_at",
                "query": json.dumps({"ordering": ["-tasks:updated_at"]}),
            },
            what=f"read the latest change in project {project_id}",
        )
        if not isinstance(body, dict):
            return None, None
        total = body.get("total")
        items = body.get("tasks") or []
        latest = items[0].get("updated_at") if items and isinstance(items[0], dict) else None
        return (total if isinstance(total, int) else None), latest if isinstance(latest, str) else None

    def with_drafts(self, project_id: int) -> list[int]:
        """The ids of the project's tasks that hold at least one draft (the data manager's filter)."""
        item = {"filter": "filter:tasks:draft_exists", "operator": "equal", "type": "Boolean", "value": True}
        query = json.dumps({"filters": {"conjunction": "and", "items": [item]}})
        pages = self.pages(project_id, "id", query=query, what="find the tasks with drafts")
        return [int(task["id"]) for items in pages for task in items]

    def drafts(self, task_id: int) -> list[dict[str, Any]]:
        """Every draft of a task, whoever wrote it (the data manager shows only the caller's own)."""
        items = self.client.request_json(
            "GET", f"/api/tasks/{task_id}/drafts", what=f"read the drafts of task {task_id}"
        )
        return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []

    def import_once(
        self, project_id: int, payloads: Sequence[dict[str, Any]], *, what: str | None = None
    ) -> list[int] | None:
        """One import request, never retried here (the server may have taken it before the answer
        was lost: the caller looks before trying again); the new task ids in the payloads' order,
        or None if the server did not say.

        The body is encoded with orjson: the SDK's own encoder walks every value in Python and cost
        more than the rest of the client side of a push."""
        import orjson

        what = what or f"import tasks into project {project_id}"
        body = self.client.request_json(
            "POST",
            f"/api/projects/{project_id}/import",
            params={"return_task_ids": "true"},
            content=orjson.dumps(list(payloads)),
            headers={"Content-Type": "application/json"},
            what=what,
            retry=False,
        )
        ids = _json(body).get("task_ids")
        if not isinstance(ids, list) or len(ids) != len(payloads) or not all(isinstance(i, int) for i in ids):
            return None
        return ids

    def update(self, task_id: int, body: dict[str, Any]) -> None:
        self.client.request("PATCH", f"/api/tasks/{task_id}", json=body, what=f"update task {task_id}")

    def delete(self, task_id: int, *, what: str | None = None) -> None:
        self.client.request("DELETE", f"/api/tasks/{task_id}", what=what or f"delete task {task_id}")

    def delete_many(self, project_id: int, task_ids: Sequence[int]) -> None:
        """Delete these tasks of the project in one request (the data manager's delete action)."""
        if not task_ids:
            return
        self.client.request(
            "POST",
            "/api/dm/actions",
            params={"id": "delete_tasks", "project": project_id},
            json={"selectedItems": {"all": False, "included": list(task_ids)}},
            what=f"delete {len(task_ids)} tasks of project {project_id}",
        )


class PredictionsAPI:
    """`/api/predictions` and the project's predictions import."""

    def __init__(self, client: StudioClient) -> None:
        self.client = client

    def list(self, project_id: int) -> list[tuple[int, int, str, bool]]:
        """(prediction id, task id, model version, whether it carries labels) of every prediction
        in the project (one request)."""
        body = self.client.request_json(
            "GET",
            "/api/predictions",
            params={"project": project_id},
            what=f"read the predictions of project {project_id}",
        )
        items = body if isinstance(body, list) else body.get("results", [])
        return [
            (int(i["id"]), int(i["task"]), str(i.get("model_version") or ""), bool(i.get("result")))
            for i in items
        ]

    def model_versions(self, project_id: int) -> dict[int, set[str]]:
        """Task id -> model versions of the predictions it already has (one request for the project)."""
        versions: dict[int, set[str]] = {}
        for _, task_id, version, _ in self.list(project_id):
            versions.setdefault(task_id, set()).add(version)
        return versions

    def update(self, prediction_id: int, body: dict[str, Any]) -> None:
        self.client.request(
            "PATCH", f"/api/predictions/{prediction_id}", json=body, what=f"update prediction {prediction_id}"
        )

    def delete(self, prediction_id: int) -> None:
        self.client.request(
            "DELETE", f"/api/predictions/{prediction_id}", what=f"delete prediction {prediction_id}"
        )

    def import_(self, project_id: int, predictions: Sequence[dict[str, Any]]) -> None:
        """Add predictions to existing tasks; not retried (the server may have taken them)."""
        self.client.request(
            "POST",
            f"/api/projects/{project_id}/import/predictions",
            json=list(predictions),
            what=f"import predictions into project {project_id}",
            retry=False,
        )


class ExportsAPI:
    """A project's full JSON export: the export endpoint, or an export snapshot made and fetched."""

    def __init__(self, client: StudioClient) -> None:
        self.client = client

    def download(
        self, project_id: int, target: Path, method: str = "snapshot", *, all_tasks: bool = True
    ) -> None:
        """Fetch the project's full JSON export (all tasks, annotated or not) into `target`.

        `all_tasks=False` (the GET export only) leaves out the tasks nobody has worked on."""

        def write(chunks: Iterator[bytes]) -> None:
            with open(target, "wb") as fh:
                for chunk in chunks:
                    fh.write(chunk)

        self.read(project_id, write, method, all_tasks=all_tasks)

    def read(
        self,
        project_id: int,
        consume: Callable[[Iterator[bytes]], T],
        method: str = "snapshot",
        *,
        all_tasks: bool = True,
    ) -> T:
        """The project's full JSON export handed to `consume` chunk by chunk as it downloads (a
        retry starts `consume` afresh); returns what `consume` returns."""
        if method == "export":
            params = {"exportType": "JSON", "download_all_tasks": "true" if all_tasks else "false"}
            return self.client.stream(
                f"/api/projects/{project_id}/export", params, consume, what=f"project {project_id} export"
            )
        if method != "snapshot":
            raise UsageError(f"unknown export method {method!r}; use one of {', '.join(EXPORT_METHODS)}")
        created = self.client.request_json(
            "POST",
            f"/api/projects/{project_id}/exports/",
            json={
                "title": "corpuskit pull",
                "task_filter_options": {"only_with_annotations": False},
                # Without these the snapshot holds drafts and predictions as bare ids. Annotators
                # stay ids, as the export endpoint gives them: full user objects cost the server
                # about a fifth more per annotation, and pull reads their emails from the user
                # list in one request (`pull.add_emails`).
                "serialization_options": {
                    "drafts": {"only_id": False},
                    "predictions": {"only_id": False},
                },
            },
            what=f"project {project_id} export snapshot",
            # Label Studio builds the snapshot inside this request: about 640 s for 100,000 tasks
            # with 300,000 annotations on PostgreSQL (docs/performance.md), longer than the usual
            # request timeout. A timed-out attempt goes on building on the server, and its retry
            # would start another build of the whole project, and time out again: so this request
            # waits as long as a build of a large project takes.
            timeout=max(self.client.timeout, EXPORT_BUILD_TIMEOUT),
        )
        export_id = created["id"]
        try:
            if created.get("status") not in (None, "completed"):
                self._wait(project_id, export_id)
            return self.client.stream(
                f"/api/projects/{project_id}/exports/{export_id}/download",
                # No `exportType`: with one, Label Studio 1.23 copies the file through its format
                # converter before it sends a byte (the same bytes, later; docs/snapshots.md).
                {},
                consume,
                what=f"project {project_id} export snapshot {export_id}",
            )
        finally:
            # The server keeps every export file until deleted; a pull leaves nothing behind.
            with contextlib.suppress(Exception):
                self.client.request(
                    "DELETE", f"/api/projects/{project_id}/exports/{export_id}", what="delete export"
                )

    def _wait(self, project_id: int, export_id: int, timeout: float = 600.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            info = self.client.request_json(
                "GET", f"/api/projects/{project_id}/exports/{export_id}", what="export snapshot status"
            )
            status = info.get("status")
            if status == "completed":
                return
            if status == "failed":
                raise StudioError(
                    f"project {project_id}: Label Studio failed to build export snapshot {export_id}"
                )
            time.sleep(0.5)
        raise StudioError(
            f"project {project_id}: export snapshot {export_id} not ready after {timeout:.0f} s"
        )


# Seconds to wait for the request that builds an export snapshot (at least the client's timeout).
EXPORT_BUILD_TIMEOUT = 3600.0


class UsersAPI:
    """The authenticated user, the organisation's users and its invite link."""

    def __init__(self, client: StudioClient) -> None:
        self.client = client

    def whoami(self) -> dict[str, Any]:
        """The authenticated user (checks that the server answers and accepts the token)."""
        return _json(self.client.request_json("GET", "/api/current-user/whoami", what="check the API token"))

    def list(self) -> list[dict[str, Any]]:
        """Every user of the organisation."""
        users = self.client.request_json("GET", "/api/users", what="list users")
        return [u for u in users if isinstance(u, dict)] if isinstance(users, list) else []

    def update(self, user_id: int, fields: dict[str, Any], *, what: str) -> None:
        self.client.request("PATCH", f"/api/users/{user_id}", json=fields, what=what)

    def invite_link(self) -> str:
        """The sign-up link of the server's organisation (Label Studio's own invite)."""
        body = self.client.request_json("GET", "/api/invite", what="read the organisation's invite link")
        path = body.get("invite_url") if isinstance(body, dict) else None
        if not isinstance(path, str) or not path:
            raise UsageError(f"Label Studio at {self.client.url} gave no invite link")
        return self.client.url.rstrip("/") + path if path.startswith("/") else path


class Gateway:
    """Label Studio as corpuskit uses it, one attribute per REST resource."""

    def __init__(self, client: StudioClient) -> None:
        self.client = client
        self.projects = ProjectsAPI(client)
        self.tasks = TasksAPI(client)
        self.predictions = PredictionsAPI(client)
        self.exports = ExportsAPI(client)
        self.users = UsersAPI(client)

    @property
    def url(self) -> str:
        return self.client.url
