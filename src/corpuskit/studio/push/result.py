"""What a push did: the plan and what was applied (`summary()` is the `--format json` shape)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from corpuskit.quality.design import OverlapDesign
from corpuskit.studio.push.plan import Plan

PLAN_SERVER = "server"  # every task of the project was read
PLAN_LOCAL = "local"  # from the local record, the tasks changed since and the changed documents' tasks


@dataclass
class PushResult:
    """The plan and what was applied; `summary()` is the documented `--format json` shape."""

    project_id: int | None
    project_title: str
    server: str
    project_created: bool
    config_updated: bool
    dry_run: bool
    documents: int
    invalid: int
    plan: Plan
    created: int = 0
    updated: int = 0
    marked: int = 0
    deleted: int = 0
    deduplicated: int = 0
    predictions: int = 0
    predictions_skipped: list[str] = field(default_factory=list)
    removed_considered: bool = True
    plan_source: str = PLAN_SERVER
    corpus_unchanged: bool = False  # the inputs were those of the last push: not validated again
    design: OverlapDesign = field(default_factory=OverlapDesign)
    design_repaired: list[str] = field(default_factory=list)  # team settings found changed on the server
    pilot: list[str] = field(default_factory=list)  # the documents of a pilot round (push --pilot)
    overlap_set: int = 0  # tasks whose overlap this push set
    left_out: list[str] = field(default_factory=list)  # documents the dedupe record leaves out

    def summary(self) -> dict[str, Any]:
        return {
            "project": {
                "id": self.project_id,
                "title": self.project_title,
                "server": self.server,
                "created": self.project_created,
                "config_updated": self.config_updated,
                "design_repaired": sorted(self.design_repaired),
            },
            "design": {
                **self.design.to_json(),
                **self._design_counts(),
            },
            "dry_run": self.dry_run,
            "documents": self.documents,
            "invalid_skipped": self.invalid,
            "plan": self.plan.counts(),
            "stale": sorted(doc for _, doc in self.plan.stale),
            "removed": sorted(doc for _, doc, _ in self.plan.removed),
            "duplicates": sorted(doc for doc, _ in self.plan.duplicates),
            "left_out": sorted(self.left_out),
            "left_out_in_project": sorted({doc for _, doc in self.plan.left_out}),
            "applied": {
                "created": self.created,
                "updated": self.updated,
                "marked": self.marked,
                "deleted": self.deleted,
                "deduplicated": self.deduplicated,
                "predictions": self.predictions,
                "overlap_set": self.overlap_set,
            },
            "predictions_skipped": sorted(self.predictions_skipped),
            "plan_source": self.plan_source,
            "corpus_unchanged": self.corpus_unchanged,
        }

    def _design_counts(self) -> dict[str, int]:
        """Documents of this push by the number of annotators they wait for."""
        ids = self.plan.document_ids() - set(self.pilot)
        overlapped = sum(1 for doc_id in ids if self.design.in_overlap(doc_id))
        return {"overlapped": overlapped, "single": len(ids) - overlapped, "pilot": len(self.pilot)}
