"""Which Label Studio project belongs to a corpus: its title, and finding it by that title."""

from __future__ import annotations

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
