"""A team on Label Studio: the overlap design, the settings that keep annotators blind, the pilot
sample.

How many annotators see a document is decided here, by corpuskit, not by Label Studio's overlap
cohort: Label Studio re-draws its cohort at random on every import (read in its source,
`Project._rearrange_overlap_cohort`), so the documents with k annotators would change from push
to push. corpuskit keeps the project's cohort at 100 % and sets the overlap of each task that
should differ (1 outside the overlap share, `PILOT_OVERLAP` in a pilot round); which documents
those are depends only on their ids and `overlap_seed`, so it is stable across pushes and corpora.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from corpuskit.errors import UsageError
from corpuskit.quality.design import PILOT, OverlapDesign, unit

if TYPE_CHECKING:
    from corpuskit.studio.client import StudioClient

# Queue orders by corpuskit's names. Uncertainty serves first the tasks whose prediction of the
# project's model_version has the lowest score (`corpuskit suggest --order uncertainty`).
SAMPLING = {
    "sequential": "Sequential sampling",
    "uniform": "Uniform sampling",
    "uncertainty": "Uncertainty sampling",
}

# Every project switch Label Studio Community offers that keeps other members' answers and model
# predictions out of an annotator's page. What it cannot hide (the Data Manager, /api/tasks/<id>)
# is in docs/team.md.
BLIND = {
    "show_annotation_history": False,
    "show_collab_predictions": False,
    "show_ground_truth_first": False,
    "evaluate_predictions_automatically": False,
    "reveal_preannotations_interactively": False,
}


def project_settings(design: OverlapDesign) -> dict[str, Any]:
    """The project fields push sets (and repairs when they were changed on the server)."""
    return {
        "maximum_annotations": design.k,
        # The cohort is corpuskit's (module docstring): Label Studio's own would be re-drawn.
        "overlap_cohort_percentage": 100,
        "show_overlap_first": True,
        "sampling": SAMPLING[design.sampling],
        **BLIND,
    }


def pilot_sample(documents: Sequence[Mapping[str, Any]], n: int, seed: str) -> list[str]:
    """The ids of a seeded sample of `n` documents, stratified by source outlet and language.

    Each stratum gets its share of `n` in proportion to its size (largest remainder, so a small
    stratum may get none when `n` is small), and within a stratum the documents come in a seeded
    order, so the same corpus and seed always give the same pilot."""
    if n < 1:
        raise UsageError("--pilot needs at least 1 document")
    strata: dict[tuple[str, str], list[str]] = {}
    for doc in documents:
        source = doc.get("source")
        outlet = str(source.get("name") or "") if isinstance(source, Mapping) else str(source or "")
        strata.setdefault((outlet, str(doc.get("language") or "")), []).append(str(doc["id"]))
    total = sum(len(ids) for ids in strata.values())
    if n >= total:
        return sorted(i for ids in strata.values() for i in ids)
    for ids in strata.values():
        ids.sort(key=lambda i: (unit(seed, "pilot", i), i))
    keys = sorted(strata, key=lambda key: (-len(strata[key]), key))
    quotas = {key: n * len(strata[key]) // total for key in keys}
    remainders = sorted(keys, key=lambda key: (-(n * len(strata[key]) % total), key))
    for key in remainders[: n - sum(quotas.values())]:
        quotas[key] += 1
    return sorted(i for key in keys for i in strata[key][: quotas[key]])


def read_overlaps(
    client: StudioClient, project_id: int, *, page_size: int = 5000
) -> dict[int, tuple[int, dict[str, Any]]]:
    """Task id -> (overlap, meta) for every task of the project, in light pages (no task data): what
    push compares with the design. `corpuskit status` reads its own compact list
    (`progress_tasks.read_task_list`)."""
    from corpuskit.studio.gateway import Gateway

    pages = Gateway(client).tasks.pages(
        project_id, "id,overlap,meta", page_size=page_size, what="read the overlap of the tasks"
    )
    found: dict[int, tuple[int, dict[str, Any]]] = {}
    for items in pages:
        for item in items:
            found[int(item["id"])] = (int(item.get("overlap") or 1), item.get("meta") or {})
    return found


def overlap_updates(
    design: OverlapDesign,
    current: Mapping[int, tuple[int, Mapping[str, Any]]],
    doc_of: Mapping[int, str | None],
) -> list[tuple[int, dict[str, Any]]]:
    """(task id, PATCH body) for every task whose overlap is not the design's."""
    updates = []
    for task_id, (overlap, meta) in sorted(current.items()):
        doc_id = doc_of.get(task_id)
        if doc_id is None:
            continue  # a task corpuskit did not push keeps what it has
        wanted = design.overlap_of(doc_id, pilot=bool(meta.get(PILOT)))
        if overlap != wanted:
            updates.append((task_id, {"overlap": wanted}))
    return updates


def overlap_counts(design: OverlapDesign, document_ids: Iterable[str]) -> dict[str, int]:
    """How many documents get k annotators and how many get one."""
    ids = list(document_ids)
    overlapped = sum(1 for i in ids if design.in_overlap(i))
    return {"overlapped": overlapped, "single": len(ids) - overlapped}
