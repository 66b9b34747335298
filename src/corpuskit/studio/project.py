"""Which Label Studio project belongs to a corpus: its title, and finding it by that title."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from corpuskit.errors import UsageError

if TYPE_CHECKING:
    from corpuskit.settings import Settings
    from corpuskit.studio.client import StudioClient
    from corpuskit.taxonomy.model import Taxonomy

# Label Studio's limits on a project title.
MIN_TITLE = 3
MAX_TITLE = 50


def project_title(settings: Settings, taxonomy: Taxonomy) -> str:
    """`[tool.corpuskit] project_title`, else the taxonomy's title cut to Label Studio's 50 characters.

    push creates the project under this title and pull finds it by the same title."""
    if settings.project_title is not None:
        title = settings.project_title.strip()
        if not MIN_TITLE <= len(title) <= MAX_TITLE:
            raise UsageError(
                f"[tool.corpuskit] project_title {title!r}: Label Studio needs "
                f"{MIN_TITLE} to {MAX_TITLE} characters"
            )
        return title
    title = " ".join(taxonomy.title.split())
    if len(title) > MAX_TITLE:
        title = title[: MAX_TITLE - 1].rstrip() + "…"
    if len(title) < MIN_TITLE:
        title = f"corpuskit {title}".strip()
    return title


def find_projects(client: StudioClient, title: str) -> list[dict[str, Any]]:
    """Every project on the server with exactly this title (normally none or one)."""
    found: list[dict[str, Any]] = []
    page = 1
    while True:
        # Label Studio filters by a title substring and, asked for a few fields, skips counting
        # every project's tasks and annotations (most of the listing's cost).
        params = {"page": page, "page_size": 100, "title": title, "include": "id,title"}
        body = client.request("GET", "/api/projects", params=params, what="list projects").json()
        items = body.get("results", []) if isinstance(body, dict) else body
        found.extend(p for p in items if p.get("title") == title)
        if not (isinstance(body, dict) and body.get("next")):
            return found
        page += 1


def task_pages(
    client: StudioClient,
    project_id: int,
    include: str,
    *,
    page_size: int = 5000,
    query: str | None = None,
    what: str = "read the tasks",
) -> Iterator[list[dict[str, Any]]]:
    """The project's tasks (only the fields in `include`) page by page, from the data manager's task
    list, the fastest full read measured. It stops at the total the server announces: past the last
    page the server answers 404."""
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
        body = client.request(
            "GET", "/api/tasks", params=params, what=f"{what} of project {project_id}"
        ).json()
        items = body.get("tasks", []) if isinstance(body, dict) else []
        yield items
        seen += len(items)
        total = body.get("total") if isinstance(body, dict) else None
        if len(items) < page_size or (isinstance(total, int) and seen >= total):
            return
        page += 1
