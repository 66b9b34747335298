"""Seeded synthetic annotation data for tests and benchmarks (never shipped in the library).

Two generators share one vocabulary (the targets, stance values and topics of the repository's own
taxonomy, `schema/taxonomy.yaml`):

- `generate_rows` gives annotation rows with known disagreement: each document gets a true value per
  stance target and a true topic set; each annotator copies the true value with probability
  `accuracy[annotator]`, otherwise picks one of the other values uniformly; each topic is flipped with
  probability `topic_noise`. Rows follow docs/data-model.md.
- `document_rows`, `annotation_rows`, `gold_rows`, `task_keys` give release inputs of any size:
  news-sized documents (about 3.5 KB of text), streamed one at a time; their `content_sha256` is derived
  from the id (not the text) so the snapshot's task list is free to generate. Everything is a
  generator, so a million documents never sit in memory at once.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

TARGETS = ("rnk_military_cooperation", "ukraine_military_aid")
VALUES = ("favor", "against", "neutral", "unrelated")
TOPICS = ("military_cooperation", "arms_transfers", "troop_deployment", "sanctions_un_resolutions")

_WORDS = [
    *[
        "Seoul",
        "Pyongyang",
        "Moscow",
        "Kyiv",
        "troops",
        "missiles",
        "sanctions",
        "summit",
        "cooperation",
        "deployment",
        "artillery",
    ],
    *[
        "munitions",
        "envoy",
        "treaty",
        "council",
        "intelligence",
        "border",
        "drills",
        "alliance",
        "reported",
        "officials",
        "said",
    ],
]


@dataclass(frozen=True)
class SyntheticTaxonomy:
    version: str = "1.0.0"
    target_ids: tuple[str, ...] = TARGETS
    stance_value_ids: tuple[str, ...] = VALUES
    topic_ids: tuple[str, ...] = TOPICS


def synthetic_sha256(doc_id: str) -> str:
    """A stand-in for the content hash, derived from the id so the task list costs nothing to generate."""
    return hashlib.sha256(doc_id.encode()).hexdigest()


def document_id(i: int) -> str:
    return f"doc-{i:08d}"


def _sentence(rng: random.Random, words: int = 18) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def document_rows(n: int, seed: int = 0, paragraphs: int = 18) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed)
    for i in range(n):
        doc: dict[str, Any] = {
            "id": document_id(i),
            "title": _sentence(rng, 9)[:-1],
            "summary": _sentence(rng, 30),
            "section": "Asia",
            "source": rng.choice(("AFP", "AP", "Reuters")),
            "published_at": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}T{i % 24:02d}:00",
            "modified_at": None,
            "language": "en",
            "paragraphs": [
                {"heading": None if p < 6 else "Reactions", "text": _sentence(rng, 30)}
                for p in range(paragraphs)
            ],
            "credits": ["with AP inputs"],
            "related": [{"label": "ALSO READ", "title": _sentence(rng, 8)}],
            "raw_path": f"raw/{document_id(i)}.txt",
        }
        doc["content_sha256"] = synthetic_sha256(doc["id"])
        yield doc


def annotation_rows(n_documents: int, per_document: int = 3, seed: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed + 1)
    annotation_id = 0
    for i in range(n_documents):
        truth = rng.choice(VALUES)
        for k in range(per_document):
            annotation_id += 1
            value = truth if rng.random() < 0.8 else rng.choice(VALUES)
            yield {
                "document_id": document_id(i),
                "content_sha256": synthetic_sha256(document_id(i)),
                "task_id": i + 1,
                "annotation_id": annotation_id,
                "annotator": {"id": 10 + k, "email": f"annotator{k}@corpus.org"},
                "taxonomy_version": "1.0.0",
                "stance": {TARGETS[0]: value, TARGETS[1]: rng.choice(VALUES)},
                "topics": sorted(rng.sample(TOPICS, 2)),
                "spans": [{"start": 0, "end": 20, "text": "x" * 20, "target": TARGETS[0], "speaker": None}],
                "note": None,
                "lead_time": 12.5,
                "created_at": "2024-11-02T10:00:00Z",
                "updated_at": "2024-11-02T10:00:00Z",
                "was_cancelled": False,
                "ground_truth": False,
                "original": None,
                "result": [{"from_name": "stance", "value": {"choices": [value]}}],
            }


def gold_rows(n_documents: int, per_document: int = 3, seed: int = 0) -> Iterator[dict[str, Any]]:
    rng = random.Random(seed + 2)
    for i in range(n_documents):
        label = rng.choice(VALUES)
        decision = {
            "label": label,
            "decided_by": "majority",
            "n_annotators": per_document,
            "votes": {label: per_document - 1, "neutral" if label != "neutral" else "favor": 1},
            "agreement": 0.333,
            "flags": [],
        }
        yield {
            "document_id": document_id(i),
            "stance": {t: decision for t in TARGETS},
            "topics": {
                t: {
                    "label": t in TOPICS[:2],
                    "decided_by": "majority",
                    "n_annotators": per_document,
                    "votes": {"present": 2, "absent": 1},
                    "agreement": 0.333,
                    "flags": [],
                }
                for t in TOPICS
            },
        }


def task_keys(n_documents: int) -> Iterator[tuple[str, str]]:
    """(document_id, content_sha256) of every document, in id order, as a snapshot would list them."""
    for i in range(n_documents):
        yield document_id(i), synthetic_sha256(document_id(i))


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
