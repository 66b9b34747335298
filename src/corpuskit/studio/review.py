"""Adjudication on Label Studio: disagreements go to a review project, the adjudicator's answers come back.

One run does, in order:
1. pull the review project (through `corpuskit.studio.pull`, into a temporary folder) and merge the
   adjudicator's submitted answers into `annotations/adjudications.jsonl` (latest answer per document);
2. decide gold with those adjudications and pick the documents that still need one
   (`corpuskit.quality.adjudicate`: a label left unresolved because annotators disagree, `tie`,
   `no_majority`, or ground truths conflict; with `any_disagreement`, also labels decided by a
   majority that was not unanimous);
3. push those documents that are not in the review project yet (tasks are identified by `doc_id`),
   with the task data of the main project and each annotator's answer as a prediction whose
   `model_version` names the annotator.
Re-running therefore adds only new disagreements and never duplicates a task.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from corpuskit.errors import UsageError
from corpuskit.quality.adjudicate import adjudication_rows, merge_adjudications, review_tasks, select
from corpuskit.quality.context import default_snapshot
from corpuskit.settings import Settings, load_settings
from corpuskit.snapshot import ADJUDICATIONS_FILE, ANNOTATIONS_FILE, read_snapshot
from corpuskit.studio.gateway import Gateway
from corpuskit.studio.project import MAX_TITLE, project_title

if TYPE_CHECKING:
    from corpuskit.taxonomy.model import Taxonomy

TITLE_SUFFIX = " (adjudication)"


@dataclass
class AdjudicationResult:
    project_id: int
    project_title: str
    adjudications_file: Path
    adjudications: int  # documents with an adjudicated answer in the file after this run
    pulled: int  # adjudicator answers that were new or changed in this run
    disagreements: list[str] = field(default_factory=list)  # documents that need adjudication
    pushed: list[str] = field(default_factory=list)  # of those, sent to the review project now
    already_in_review: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, Any]:
        return {
            "project_id": self.project_id,
            "project_title": self.project_title,
            "adjudications_file": str(self.adjudications_file),
            "adjudications": self.adjudications,
            "pulled": self.pulled,
            "disagreements": len(self.disagreements),
            "pushed": self.pushed,
            "already_in_review": len(self.already_in_review),
        }


def review_title(settings: Settings, taxonomy: Taxonomy) -> str:
    """`<main project title> (adjudication)`, shortened to Label Studio's 50 characters."""
    base = project_title(settings, taxonomy)
    return base[: MAX_TITLE - len(TITLE_SUFFIX)].rstrip() + TITLE_SUFFIX


def review_project(studio: Gateway, title: str, config: str, project: int | None) -> tuple[int, str]:
    """The review project: `project` if given, else the one titled `title`, created if missing."""
    if project is not None:
        info = studio.projects.get(project)
        return int(info["id"]), str(info.get("title"))
    found = studio.projects.resolve(title)
    if found is not None:
        return int(found["id"]), title
    made = studio.projects.create(
        {
            "title": title,
            "label_config": config,
            "description": "Documents on which annotators disagree; each annotator's answer is a prediction.",
            "show_collab_predictions": True,
        }
    )
    return made, title


def adjudicate(
    snapshot: str | Path | None = None,
    *,
    project: int | None = None,
    any_disagreement: bool = False,
    settings: Settings | None = None,
    taxonomy: Taxonomy | None = None,
    url: str | None = None,
    token: str | None = None,
) -> AdjudicationResult:
    """Pull adjudications back, then push the documents that still need one (see the module docstring)."""
    from corpuskit.studio.client import Connection, StudioClient, connection
    from corpuskit.taxonomy import load_taxonomy

    settings = settings or load_settings()
    folder = Path(snapshot) if snapshot is not None else default_snapshot(settings)
    if not (folder / ANNOTATIONS_FILE).is_file():
        raise UsageError(f"{folder / ANNOTATIONS_FILE}: no annotation snapshot (run `corpuskit pull` first)")
    taxonomy = taxonomy or load_taxonomy(settings.path(settings.taxonomy))
    conn = Connection(url.rstrip("/"), token) if url and token else connection(settings)
    with StudioClient(conn) as client:
        return _adjudicate(Gateway(client), folder, project, any_disagreement, settings, taxonomy)


def _adjudicate(
    studio: Gateway,
    folder: Path,
    project: int | None,
    any_disagreement: bool,
    settings: Settings,
    taxonomy: Taxonomy,
) -> AdjudicationResult:
    from corpuskit.studio.pull import pull
    from corpuskit.taxonomy import label_config

    title = review_title(settings, taxonomy)
    project_id, title = review_project(studio, title, label_config(taxonomy), project)

    with tempfile.TemporaryDirectory(prefix=".adjudication-", dir=folder.parent) as tmp:
        review = Path(tmp) / "review"
        pull(
            project=project_id,
            out=review,
            settings=settings,
            taxonomy=taxonomy,
            url=studio.client.conn.url,
            token=studio.client.conn.token,
        )
        pulled = read_snapshot(review, tables=("annotations", "tasks"))
    in_review = {str(t["document_id"]) for t in pulled.tasks}
    path = folder / ADJUDICATIONS_FILE
    changed, total = merge_adjudications(path, adjudication_rows(pulled.annotations, project_id))

    selection = select(folder, path, taxonomy, settings.min_annotators, any_disagreement)
    disagreements = selection.disagreements
    new = [doc for doc in disagreements if doc not in in_review]
    result = AdjudicationResult(
        project_id=project_id,
        project_title=title,
        adjudications_file=path,
        adjudications=total,
        pulled=changed,
        disagreements=disagreements,
        already_in_review=[doc for doc in disagreements if doc not in new],
    )
    if not new:
        return result
    payload = review_tasks(selection, new, folder)
    # Not retried: a broken connection may hide an import that happened; the next run sees those
    # tasks in the review project and does not push them twice.
    studio.tasks.import_once(
        project_id, payload, what=f"import {len(payload)} tasks into review project {project_id}"
    )
    result.pushed = new
    return result
