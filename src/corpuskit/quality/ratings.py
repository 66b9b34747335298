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
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from corpuskit.errors import DataError, UsageError
from corpuskit.jsonl import iter_jsonl
from corpuskit.quality.stats import StreamedMedian
from corpuskit.snapshot import ANNOTATIONS_FILE, is_snapshot, iter_groups, iter_table, pseudonym

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


@dataclass(slots=True)
class DocumentAnswers:
    """One document's answers under the rules above: what every statistic takes of a document."""

    document_id: str
    kept: list[Annotation]  # the counted answer of each annotator (their latest), sorted by annotator
    ground_truth: list[Annotation]  # submitted ground-truth answers, superseded ones too, in row order
    rows: int
    cancelled_by: dict[str, int]
    superseded: int
    pilot: bool
    versions: set[str]  # taxonomy versions named by the rows
    targets: set[str]  # stance targets named by the rows, cancelled ones too

    def stance(self, target: str) -> dict[str, str]:
        """Annotator -> value for one stance target (a value left empty is missing, not an answer)."""
        return {a.annotator: v for a in self.kept if (v := a.stance.get(target)) is not None}

    def topic_sets(self) -> dict[str, frozenset[str]]:
        """Annotator -> set of topics (an annotator who left the list out has not answered)."""
        return {a.annotator: a.topics for a in self.kept if a.topics is not None}


def document_answers(
    document_id: str, numbered: Iterable[tuple[int, Row]], source: str = "<rows>"
) -> DocumentAnswers:
    """Apply the rules to the rows of one document (`(row number, row)` pairs, in row order)."""
    cancelled_by: dict[str, int] = defaultdict(int)
    versions: set[str] = set()
    targets: set[str] = set()
    ground_truth: list[Annotation] = []
    by_annotator: dict[str, list[Annotation]] = defaultdict(list)
    pilot = False
    rows = 0
    for number, row in numbered:
        rows += 1
        if row.get("taxonomy_version"):
            versions.add(str(row["taxonomy_version"]))
        ann = to_annotation(row, f"{source}:{number}", number)
        targets.update(ann.stance)
        pilot = pilot or ann.pilot
        if ann.was_cancelled:
            cancelled_by[ann.annotator] += 1
            continue
        by_annotator[ann.annotator].append(ann)
        if ann.ground_truth:
            ground_truth.append(ann)
    kept: list[Annotation] = []
    superseded = 0
    for group in by_annotator.values():
        group.sort(key=_latest_first)
        kept.append(group[-1])
        superseded += len(group) - 1
    kept.sort(key=lambda a: a.annotator)
    return DocumentAnswers(
        document_id, kept, ground_truth, rows, dict(cancelled_by), superseded, pilot, versions, targets
    )


@dataclass(frozen=True)
class Vocabulary:
    """The columns of every statistic: stance targets, stance values and topics, in report order."""

    targets: list[str]
    stance_values: list[str]
    topics: list[str]
    taxonomy_version: str | None
    # Each annotator's lead times as the first pass counted them, so that the second keeps only
    # those near the median (none: the second keeps them all).
    lead_times: Mapping[str, StreamedMedian] = field(default_factory=dict, compare=False, repr=False)


@dataclass
class VocabularyScan:
    """What the answers name, collected one document at a time (memory: the distinct names only)."""

    targets: set[str] = field(default_factory=set)
    values: set[str] = field(default_factory=set)
    topics: set[str] = field(default_factory=set)
    versions: set[str] = field(default_factory=set)
    lead_times: dict[str, StreamedMedian] = field(default_factory=dict)

    def add(self, answers: DocumentAnswers) -> None:
        self.versions |= answers.versions
        self.targets |= answers.targets
        for a in answers.kept:
            if a.lead_time is not None:
                median = self.lead_times.get(a.annotator)
                if median is None:
                    median = self.lead_times[a.annotator] = StreamedMedian()
                median.count(a.lead_time)
            self.values.update(v for v in a.stance.values() if v is not None)
            if a.topics:
                self.topics.update(a.topics)

    def vocabulary(self, taxonomy: TaxonomyLike | None) -> Vocabulary:
        """The taxonomy's names in its order, then any other name seen, sorted (they stay visible)."""
        targets = list(taxonomy.target_ids) if taxonomy else sorted(self.targets)
        stance_values = list(taxonomy.stance_value_ids) if taxonomy else sorted(self.values)
        stance_values += sorted(self.values - set(stance_values))
        topics = list(taxonomy.topic_ids) if taxonomy else sorted(self.topics)
        topics += sorted(self.topics - set(topics))
        if taxonomy:
            version: str | None = taxonomy.version
        else:
            version = next(iter(self.versions)) if len(self.versions) == 1 else None
        return Vocabulary(targets, stance_values, topics, version, self.lead_times)


def scan_vocabulary(
    groups: Iterable[tuple[str, Sequence[tuple[int, Row]]]], taxonomy: TaxonomyLike | None, source: str
) -> Vocabulary:
    """The vocabulary of a whole snapshot, from one streaming pass over its documents."""
    scan = VocabularyScan()
    for document_id, numbered in groups:
        scan.add(document_answers(document_id, numbered, source))
    return scan.vocabulary(taxonomy)


@dataclass
class Ratings:
    """Submitted answers of a set of rows held in memory, document by document, plus the counts of
    what was left out. Snapshots are streamed instead (`AnnotationRows.groups`)."""

    documents: list[str]
    annotators: list[str]
    targets: list[str]
    stance_values: list[str]
    topics: list[str]
    annotations: list[Annotation]  # every submitted answer that counts (one per document+annotator)
    by_document: list[DocumentAnswers] = field(default_factory=list)  # in document order
    ground_truth: dict[str, list[Annotation]] = field(default_factory=dict)  # submitted, even if superseded
    cancelled: int = 0
    superseded: int = 0
    rows: int = 0
    cancelled_by: dict[str, int] = field(default_factory=dict)
    taxonomy_version: str | None = None
    pilot_documents: frozenset[str] = frozenset()  # documents of the pilot round

    @property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary(self.targets, self.stance_values, self.topics, self.taxonomy_version)

    def lead_time_median(self, annotator: str) -> float | None:
        times = [
            a.lead_time for a in self.annotations if a.annotator == annotator and a.lead_time is not None
        ]
        return float(statistics.median(times)) if times else None

    def annotation_count(self, annotator: str) -> int:
        return sum(1 for a in self.annotations if a.annotator == annotator)

    def per_document(self) -> dict[str, int]:
        """Number of counted (submitted, latest) annotations of each document, 0 included."""
        return {answers.document_id: len(answers.kept) for answers in self.by_document}


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
    iteration and never held whole: agreement, gold and the gates take one document at a time."""

    def __init__(self, snapshot: Path) -> None:
        self.snapshot = snapshot

    def _streams(self) -> bool:
        return self.snapshot.is_dir() and is_snapshot(self.snapshot)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        if self._streams():
            yield from iter_table(self.snapshot, "annotations")
            return
        path = annotations_path(self.snapshot)
        try:
            yield from iter_jsonl(path)
        except FileNotFoundError as exc:
            raise UsageError(f"{path}: no such file") from exc

    def groups(self) -> Iterator[tuple[str, Sequence[tuple[int, Row]]]]:
        """One document's rows at a time. A snapshot's table is in document order (the format
        guarantees it, `iter_groups` checks it); a bare JSONL file carries no such promise, so its
        rows are grouped in memory."""
        if self._streams():
            return iter_groups(self.snapshot, "annotations")
        return group_rows(self)


def group_rows(
    rows: Iterable[Row], source: str = "<rows>"
) -> Iterator[tuple[str, Sequence[tuple[int, Row]]]]:
    """Rows held in memory (or a file without the snapshot's order) grouped by document, in
    document order; row numbers count from 1 in the order given."""
    by_document: dict[str, list[tuple[int, Row]]] = defaultdict(list)
    for number, row in enumerate(rows, start=1):
        doc = row.get("document_id")
        if not isinstance(doc, str) or not doc:
            raise DataError(f"{source}:{number}: document_id: missing or not a string")
        by_document[doc].append((number, row))
    for doc in sorted(by_document):
        yield doc, by_document[doc]


def iter_groups_of(
    rows: Iterable[Row], source: str = "<rows>"
) -> Iterator[tuple[str, Sequence[tuple[int, Row]]]]:
    """`AnnotationRows.groups()` for a snapshot's rows, else the rows grouped in memory."""
    if isinstance(rows, AnnotationRows):
        return rows.groups()
    return group_rows(rows, source)


def _latest_first(a: Annotation) -> tuple[str, str]:
    return (a.updated_at, str(a.annotation_id).zfill(20))


def build_ratings(
    rows: Iterable[Row], taxonomy: TaxonomyLike | None = None, source: str = "<rows>"
) -> Ratings:
    """Index submitted answers by document and annotator, in memory (see the module docstring for
    the rules; a snapshot's agreement and gold stream instead, without building this)."""
    by_document = [document_answers(doc, numbered, source) for doc, numbered in iter_groups_of(rows, source)]
    scan = VocabularyScan()
    for answers in by_document:
        scan.add(answers)
    vocabulary = scan.vocabulary(taxonomy)
    kept = [a for answers in by_document for a in answers.kept]
    cancelled_by: dict[str, int] = defaultdict(int)
    for answers in by_document:
        for who, n in answers.cancelled_by.items():
            cancelled_by[who] += n
    return Ratings(
        documents=[answers.document_id for answers in by_document],
        annotators=sorted({a.annotator for a in kept} | set(cancelled_by)),
        targets=vocabulary.targets,
        stance_values=vocabulary.stance_values,
        topics=vocabulary.topics,
        annotations=kept,
        by_document=by_document,
        cancelled=sum(cancelled_by.values()),
        superseded=sum(answers.superseded for answers in by_document),
        rows=sum(answers.rows for answers in by_document),
        cancelled_by=dict(cancelled_by),
        ground_truth={a.document_id: a.ground_truth for a in by_document if a.ground_truth},
        pilot_documents=frozenset(a.document_id for a in by_document if a.pilot),
        taxonomy_version=vocabulary.taxonomy_version,
    )
