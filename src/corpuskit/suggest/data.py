"""Training rows for the suggestion model: the text of each task and its gold labels.

Gold is computed from the snapshot's annotations exactly as `corpuskit gold` computes it (the
snapshot's adjudications included, `min_annotators` from the settings); predictions in the snapshot
are never read here, so a model can never learn from its own (or another model's) output. The text a
model reads is `task_text` of the task data, the same for training and for prediction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from corpuskit.errors import DataError, UsageError
from corpuskit.quality.gold import compute_gold
from corpuskit.quality.ratings import build_ratings
from corpuskit.settings import Settings
from corpuskit.snapshot import TASKS_FILE, is_snapshot, iter_table
from corpuskit.taxonomy.model import Taxonomy


def task_text(data: Mapping[str, Any]) -> str:
    """What the model reads of a task: its headline, a blank line, its body (push puts both in the
    task data as `title` and `text`)."""
    title = data.get("title")
    body = data.get("text")
    parts = [p for p in (title, body) if isinstance(p, str) and p.strip()]
    return "\n\n".join(parts)


@dataclass(frozen=True)
class TrainingRow:
    """One labelled document: its text and the gold labels it has (None where gold is unresolved)."""

    document_id: str
    text: str
    stance: Mapping[str, str | None]
    topics: tuple[str, ...] | None  # None: nobody answered the topics question (or no gold for it)

    def key(self) -> dict[str, Any]:
        """What identifies this row in the model version: the text's hash, not the text."""
        return {
            "document_id": self.document_id,
            "text_sha256": hashlib.sha256(self.text.encode("utf-8")).hexdigest(),
            "stance": dict(sorted(self.stance.items())),
            "topics": None if self.topics is None else list(self.topics),
        }


@dataclass(frozen=True)
class TrainingData:
    rows: tuple[TrainingRow, ...]
    targets: tuple[str, ...]
    stance_values: tuple[str, ...]
    topics: tuple[str, ...]
    without_text: int = 0  # gold documents whose task (and so text) is not in the snapshot

    def stance_labels(self, target: str) -> tuple[list[int], list[str]]:
        """Row indices and gold values of the documents with a gold label for `target`."""
        index = [i for i, r in enumerate(self.rows) if r.stance.get(target) is not None]
        return index, [str(self.rows[i].stance[target]) for i in index]

    def topic_labels(self) -> tuple[list[int], list[tuple[str, ...]]]:
        """Row indices and gold topic sets of the documents whose topics were answered."""
        index = [i for i, r in enumerate(self.rows) if r.topics is not None]
        return index, [self.rows[i].topics or () for i in index]


def task_texts(snapshot: Path) -> dict[str, str]:
    """Document id -> text of the snapshot's tasks (the highest task id wins for a document pushed
    twice: the newest task holds the current text)."""
    if not is_snapshot(snapshot) or not (snapshot / TASKS_FILE).is_file():
        raise UsageError(f"{snapshot}: not a snapshot folder with {TASKS_FILE} (run `corpuskit pull` first)")
    texts: dict[str, tuple[int, str]] = {}
    for row in iter_table(snapshot, "tasks"):
        doc = row.get("document_id")
        data = row.get("data")
        if not isinstance(doc, str) or not isinstance(data, Mapping):
            continue
        number = row.get("task_id")
        task_id = number if isinstance(number, int) else -1
        if doc not in texts or task_id >= texts[doc][0]:
            texts[doc] = (task_id, task_text(data))
    return {doc: text for doc, (_, text) in texts.items()}


def training_data(snapshot: Path, *, settings: Settings, taxonomy: Taxonomy) -> TrainingData:
    """The labelled documents of a snapshot, sorted by document id."""
    from corpuskit.quality.context import resolve_inputs

    texts = task_texts(snapshot)
    inputs = resolve_inputs(snapshot, taxonomy=taxonomy, settings=settings)
    ratings = build_ratings(inputs.rows, taxonomy, source=inputs.source)
    result = compute_gold(ratings, inputs.adjudications, settings.min_annotators)
    rows: list[TrainingRow] = []
    without_text = 0
    for gold_row in sorted(result.rows, key=lambda r: r.document_id):
        stance = {
            t: (d.label if isinstance(d.label, str) else None)
            for t, d in gold_row.stance.items()
            if t in taxonomy.target_ids
        }
        answered = any(d.label is not None for d in gold_row.topics.values())
        topics = tuple(t for t in taxonomy.topic_ids if t in gold_row.topic_labels) if answered else None
        if all(v is None for v in stance.values()) and topics is None:
            continue
        text = texts.get(gold_row.document_id)
        if not text:
            without_text += 1
            continue
        rows.append(TrainingRow(gold_row.document_id, text, stance, topics))
    if not rows:
        raise DataError(
            f"{snapshot}: no document has a gold label and a text yet: a model needs labelled documents "
            "(annotate, `corpuskit pull`, then train)"
        )
    return TrainingData(
        tuple(rows), taxonomy.target_ids, taxonomy.stance_value_ids, taxonomy.topic_ids, without_text
    )
