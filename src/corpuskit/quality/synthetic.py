"""A seeded generator of annotation rows with known disagreement, for tests, demos and benchmarks.

Each document gets a true value per stance target and a true topic set; each annotator who sees it
copies the true value with probability `accuracy[annotator]`, otherwise picks one of the other values
uniformly; each topic is flipped with probability `topic_noise`. Rows follow docs/data-model.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TARGETS = ("rnk_military_cooperation", "ukraine_military_aid")
VALUES = ("favor", "against", "neutral", "unrelated")
TOPICS = ("military_cooperation", "arms_transfers", "sanctions_un_resolutions")


@dataclass(frozen=True)
class Synthetic:
    rows: list[dict[str, Any]]
    truth: dict[str, dict[str, Any]]  # document -> {"stance": {target: value}, "topics": [...]}


def generate_rows(
    n_items: int = 50,
    accuracy: Sequence[float] = (0.9, 0.8, 0.6),
    *,
    targets: Sequence[str] = TARGETS,
    values: Sequence[str] = VALUES,
    topics: Sequence[str] = TOPICS,
    topic_noise: float = 0.1,
    coverage: float = 1.0,
    cancel_rate: float = 0.0,
    seed: int = 0,
    taxonomy_version: str = "1.0.0",
) -> Synthetic:
    """Rows for `n_items` documents annotated by `len(accuracy)` annotators (ids 1..n)."""
    rng = np.random.default_rng(seed)
    rows: list[dict[str, Any]] = []
    truth: dict[str, dict[str, Any]] = {}
    annotation_id = 0
    for i in range(n_items):
        doc = f"doc_{i:04d}"
        true_stance = {t: values[int(rng.integers(len(values)))] for t in targets}
        true_topics = {t for t in topics if rng.random() < 0.4}
        truth[doc] = {"stance": true_stance, "topics": sorted(true_topics)}
        for who, acc in enumerate(accuracy, start=1):
            if rng.random() >= coverage:
                continue
            annotation_id += 1
            stance: dict[str, str | None] = {}
            for t in targets:
                if rng.random() < acc:
                    stance[t] = true_stance[t]
                else:
                    others = [v for v in values if v != true_stance[t]]
                    stance[t] = others[int(rng.integers(len(others)))]
            chosen = sorted(t for t in topics if (t in true_topics) != (rng.random() < topic_noise))
            cancelled = bool(rng.random() < cancel_rate)
            rows.append(
                {
                    "document_id": doc,
                    "content_sha256": "0" * 64,
                    "task_id": i + 1,
                    "annotation_id": annotation_id,
                    "annotator": {"id": who, "email": f"annotator{who}@example.org"},
                    "taxonomy_version": taxonomy_version,
                    "stance": {t: None for t in targets} if cancelled else stance,
                    "topics": [] if cancelled else chosen,
                    "spans": [],
                    "note": None,
                    "lead_time": float(10 + who * 5 + int(rng.integers(0, 10))),
                    "created_at": f"2024-11-02T10:{who:02d}:00Z",
                    "updated_at": f"2024-11-02T10:{who:02d}:00Z",
                    "was_cancelled": cancelled,
                    "ground_truth": False,
                    "original": None,
                    "result": [],
                }
            )
    rows.sort(key=lambda r: (r["document_id"], r["annotation_id"]))
    return Synthetic(rows, truth)
