"""The annotation design: how many independent annotators each document waits for.

Documents in the overlap share get `annotators_per_document` (k) annotators, the rest one; a pilot
document is labelled by every member. Which documents are in the share depends only on their id
and the seed, so the choice is stable across pushes and the same wherever it is recomputed (push
sets it in Label Studio; the quality gate and the dataset card read it back).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from corpuskit.settings import Settings

# A pilot task is labelled by every member: its overlap is never reached, and Label Studio's queue
# gives each member a task once.
PILOT_OVERLAP = 1000
# The task meta key (and snapshot/release field) that marks a pilot document.
PILOT = "corpuskit_pilot"


def unit(*parts: str) -> float:
    """A number in [0, 1) that depends only on its inputs."""
    digest = hashlib.sha256("\x1f".join(parts).encode("utf-8")).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


@dataclass(frozen=True)
class OverlapDesign:
    """k annotators for the documents in the overlap share, one for the rest; the queue's order."""

    annotators_per_document: int = 2
    overlap_share: float = 1.0
    seed: str = "corpuskit"
    sampling: str = "sequential"

    @classmethod
    def from_settings(cls, settings: Settings) -> OverlapDesign:
        return cls(
            annotators_per_document=settings.annotators_per_document,
            overlap_share=float(settings.overlap_share),
            seed=str(settings.overlap_seed),
            sampling=settings.queue_sampling,
        )

    @property
    def k(self) -> int:
        return self.annotators_per_document

    def in_overlap(self, document_id: str) -> bool:
        """Whether this document gets k annotators (seeded by its id alone: stable across pushes)."""
        if self.overlap_share >= 1.0:
            return True
        if self.overlap_share <= 0.0:
            return False
        return unit(self.seed, "overlap", document_id) < self.overlap_share

    def overlap_of(self, document_id: str, *, pilot: bool = False) -> int:
        """The number of annotators this document's task waits for."""
        if pilot:
            return PILOT_OVERLAP
        return self.k if self.in_overlap(document_id) else 1

    def to_json(self) -> dict[str, Any]:
        return {
            "annotators_per_document": self.k,
            "overlap_share": self.overlap_share,
            "seed": self.seed,
            "sampling": self.sampling,
            "blind": True,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> OverlapDesign:
        return cls(
            annotators_per_document=int(data.get("annotators_per_document", 2)),
            overlap_share=float(data.get("overlap_share", 1.0)),
            seed=str(data.get("seed", "corpuskit")),
            sampling=str(data.get("sampling", "sequential")),
        )
