"""From annotation rows to ratings: who said what about which document, once per annotator.

Rules (docs/quality.md, "Missing data"):
- cancelled (skipped) annotations are excluded from every statistic and counted;
- an annotator is identified by `annotator.id`, else `annotator.email`, else the annotation itself
  (rows without identity count as separate anonymous annotators);
- if one annotator submitted several annotations of a document, the latest (`updated_at`, then
  `annotation_id`) is their answer; the others are counted as superseded;
- a stance target left empty (null) is missing for that annotator, not a value;
- topics are a set; an empty list is an answer ("no topic applies"), a missing/null list is missing.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from corpuskit.errors import DataError, UsageError
from corpuskit.jsonl import iter_jsonl
from corpuskit.snapshot import ANNOTATIONS_FILE, is_snapshot, iter_table, pseudonym

Row = Mapping[str, Any]


class TaxonomyLike(Protocol):
    """What the statistics need from `corpuskit.taxonomy.Taxonomy`."""

    @property
    def version(self) -> str: ...
    @property
    def target_ids(self) -> tuple[str, ...]: ...
    @property
    def stance_value_ids(self) -> tuple[str, ...]: ...
    @property
    def topic_ids(self) -> tuple[str, ...]: ...


@dataclass(frozen=True, slots=True)  # one per annotation of the corpus: kept small
class Annotation:
    """The parts of one annotation row that agreement and gold use."""

    document_id: str
    annotation_id: int | str | None
    annotator: str
    stance: Mapping[str, str | None]
    topics: frozenset[str] | None
    lead_time: float | None
    ground_truth: bool
    was_cancelled: bool
    updated_at: str
    pilot: bool = False


@dataclass
class Ratings:
    """Submitted answers indexed by document and annotator, plus the counts of what was left out."""

    documents: list[str]
    annotators: list[str]
    targets: list[str]
    stance_values: list[str]
    topics: list[str]
    stance: dict[str, dict[str, dict[str, str]]]  # target -> document -> annotator -> value
    topic_sets: dict[str, dict[str, frozenset[str]]]  # document -> annotator -> set of topics
    annotations: list[Annotation]  # every submitted answer that counts (one per document+annotator)
    ground_truth: dict[str, list[Annotation]] = field(default_factory=dict)  # submitted, even if superseded
    cancelled: int = 0
    superseded: int = 0
    rows: int = 0
    cancelled_by: dict[str, int] = field(default_factory=dict)
    taxonomy_version: str | None = None
    pilot_documents: frozenset[str] = frozenset()  # documents of the pilot round

    def lead_time_median(self, annotator: str) -> float | None:
        times = [
            a.lead_time for a in self.annotations if a.annotator == annotator and a.lead_time is not None
        ]
        return float(statistics.median(times)) if times else None

    def annotation_count(self, annotator: str) -> int:
        return sum(1 for a in self.annotations if a.annotator == annotator)

    def per_document(self) -> dict[str, int]:
        """Number of counted (submitted, latest) annotations of each document, 0 included."""
        counts = dict.fromkeys(self.documents, 0)
        for a in self.annotations:
            counts[a.document_id] += 1
        return counts


def annotator_key(row: Row, number: int = 0) -> str:
    """Stable annotator identity, the pseudonym the release uses (`annotator-<id>`, else a hash of the
    e-mail; never the e-mail itself), else anonymous and unique to the row (`annotation:<id>`, or
    `row:<n>` when the annotation has no id either)."""
    who = row.get("annotator") or {}
    if isinstance(who, Mapping) and (who.get("id") is not None or who.get("email")):
        if who.get("id") is not None and not isinstance(who.get("id"), int):
            return f"annotator-{who['id']}"
        return pseudonym(who)[0]
    if row.get("annotation_id") is not None:
        return f"annotation:{row['annotation_id']}"
    return f"row:{number}"


def to_annotation(row: Row, where: str = "<rows>", number: int = 0) -> Annotation:
    """Check the few fields agreement needs and keep them; the message names where a row is wrong."""
    doc = row.get("document_id")
    if not isinstance(doc, str) or not doc:
        raise DataError(f"{where}: document_id: missing or not a string")
    stance = row.get("stance") or {}
    if not isinstance(stance, Mapping):
        raise DataError(f"{where}: stance: expected an object of target -> value")
    topics = row.get("topics")
    if topics is not None and not isinstance(topics, list):
        raise DataError(f"{where}: topics: expected a list")
    lead = row.get("lead_time")
    return Annotation(
        document_id=doc,
        annotation_id=row.get("annotation_id"),
        annotator=annotator_key(row, number),
        stance={str(k): (None if v is None else str(v)) for k, v in stance.items()},
        topics=None if topics is None else frozenset(str(t) for t in topics),
        lead_time=float(lead) if isinstance(lead, int | float) else None,
        ground_truth=bool(row.get("ground_truth")),
        was_cancelled=bool(row.get("was_cancelled")),
        updated_at=str(row.get("updated_at") or row.get("created_at") or ""),
        pilot=row.get("pilot") is True,
    )


def read_rows(path: Path) -> list[dict[str, Any]]:
    """Read a JSONL file of rows; a broken line is a DataError naming file and line."""
    try:
        return list(iter_jsonl(path))
    except FileNotFoundError as exc:
        raise UsageError(f"{path}: no such file") from exc


def annotations_path(snapshot: Path) -> Path:
    """`annotations.jsonl` of a snapshot folder (or the file itself when given)."""
    return snapshot if snapshot.is_file() else snapshot / ANNOTATIONS_FILE


class AnnotationRows:
    """The annotation rows of a snapshot folder (or of a bare JSONL file), read afresh at each
    iteration and never held whole: agreement, gold and the gates keep only what `build_ratings`
    keeps of each row."""

    def __init__(self, snapshot: Path) -> None:
        self.snapshot = snapshot

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self.snapshot.is_dir() and is_snapshot(self.snapshot):
            yield from iter_table(self.snapshot, "annotations")
            return
        path = annotations_path(self.snapshot)
        try:
            yield from iter_jsonl(path)
        except FileNotFoundError as exc:
            raise UsageError(f"{path}: no such file") from exc


def _latest_first(a: Annotation) -> tuple[str, str]:
    return (a.updated_at, str(a.annotation_id).zfill(20))


def build_ratings(
    rows: Iterable[Row], taxonomy: TaxonomyLike | None = None, source: str = "<rows>"
) -> Ratings:
    """Index submitted answers by document and annotator (see the module docstring for the rules)."""
    total = 0
    cancelled = 0
    cancelled_by: dict[str, int] = defaultdict(int)
    versions: set[str] = set()
    ground_truth: dict[str, list[Annotation]] = {}
    seen_documents: set[str] = set()
    seen_targets: set[str] = set()
    pilot: set[str] = set()
    by_key: dict[tuple[str, str], list[Annotation]] = defaultdict(list)
    for number, row in enumerate(rows, start=1):
        total += 1
        if row.get("taxonomy_version"):
            versions.add(str(row["taxonomy_version"]))
        ann = to_annotation(row, f"{source}:{number}", number)
        seen_documents.add(ann.document_id)
        seen_targets.update(ann.stance)
        if ann.pilot:
            pilot.add(ann.document_id)
        if ann.was_cancelled:
            cancelled += 1
            cancelled_by[ann.annotator] += 1
            continue
        by_key[(ann.document_id, ann.annotator)].append(ann)
        if ann.ground_truth:
            ground_truth.setdefault(ann.document_id, []).append(ann)
    kept: list[Annotation] = []
    superseded = 0
    for group in by_key.values():
        group.sort(key=_latest_first)
        kept.append(group[-1])
        superseded += len(group) - 1
    kept.sort(key=lambda a: (a.document_id, a.annotator))

    targets = list(taxonomy.target_ids) if taxonomy else sorted(seen_targets)
    observed_values = {v for a in kept for v in a.stance.values() if v is not None}
    stance_values = list(taxonomy.stance_value_ids) if taxonomy else sorted(observed_values)
    stance_values += sorted(observed_values - set(stance_values))  # unknown values stay visible
    observed_topics = {t for a in kept if a.topics for t in a.topics}
    topics = list(taxonomy.topic_ids) if taxonomy else sorted(observed_topics)
    topics += sorted(observed_topics - set(topics))

    stance: dict[str, dict[str, dict[str, str]]] = {t: {} for t in targets}
    topic_sets: dict[str, dict[str, frozenset[str]]] = {}
    for a in kept:
        for target, value in a.stance.items():
            if value is not None and target in stance:
                stance[target].setdefault(a.document_id, {})[a.annotator] = value
        if a.topics is not None:
            topic_sets.setdefault(a.document_id, {})[a.annotator] = a.topics
    documents = sorted(seen_documents)
    annotators = sorted({a.annotator for a in kept} | set(cancelled_by))
    return Ratings(
        documents=documents,
        annotators=annotators,
        targets=targets,
        stance_values=stance_values,
        topics=topics,
        stance=stance,
        topic_sets=topic_sets,
        annotations=kept,
        cancelled=cancelled,
        superseded=superseded,
        rows=total,
        cancelled_by=dict(cancelled_by),
        ground_truth=ground_truth,
        pilot_documents=frozenset(pilot),
        taxonomy_version=taxonomy.version if taxonomy else (versions.pop() if len(versions) == 1 else None),
    )
