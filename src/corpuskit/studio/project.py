"""Which Label Studio project belongs to a corpus: its title (the gateway finds it by that title)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from corpuskit.errors import UsageError

if TYPE_CHECKING:
    from corpuskit.settings import Settings
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
